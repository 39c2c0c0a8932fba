/** Runs the built `lockstep` command as a user would: a real child process, bounded in time. */
import { execFile, execFileSync, spawn } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";

export const BIN = join(import.meta.dirname, "..", "bin", "lockstep.js");
/** Long enough for the slowest command the tests run (a short cluster demo), short enough to fail a hung one. */
const RUN_MS_MAX = 60_000;

export async function lockstep(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { timeout: RUN_MS_MAX });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The JSON object a `--json` run prints as its last stdout line. */
export const lastJson = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;

/** No stack trace reached the user. */
export const noStack = (s: string): void => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+/);

/** `lockstep client ARGS` fed `script` on stdin: exit code and stdout. */
export function client(args: string[], script: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [BIN, "client", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
  child.stdin.end(script);
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, out })));
}

/** Resolves once something accepts TCP connections on the port (bounded). */
export async function listening(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, "127.0.0.1", () => { s.destroy(); r(true); });
      s.once("error", () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether a command is on the PATH (tests that need haproxy or openssl skip, saying so, without it). */
export function has(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
