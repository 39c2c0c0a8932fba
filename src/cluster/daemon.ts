/**
 * A helper program (etcd, nats-server) started for a drill or a benchmark: spawned with its
 * stderr in logDir/NAME.log, asked `ready()` every 50 ms until it answers (such programs print
 * no ready line that is stable across versions), and stopped with SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";

export interface Daemon {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** The program if `command --version` runs, else why not (with the Debian package to install). */
export function findProgram(command: string, debianPackage: string): { path: string } | { missing: string } {
  const r = spawnSync(command, ["--version"], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) return { missing: `${command} is not installed (Debian: apt-get install ${debianPackage})` };
  return { path: command };
}

export async function startDaemon(name: string, command: string, args: readonly string[], logDir: string, ready: () => Promise<boolean>, timeoutMs = 15_000): Promise<Daemon> {
  mkdirSync(logDir, { recursive: true });
  const log = join(logDir, `${name}.log`);
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr!.pipe(createWriteStream(log));
  const stop = (): Promise<void> => new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once("exit", () => done());
    child.kill("SIGTERM");
  });
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} (see ${log})`);
    if (await ready().catch(() => false)) return { child, stop };
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`${name} not ready within ${timeoutMs} ms (see ${log})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
