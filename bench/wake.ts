/**
 * What one wake-up of an idle Node process costs on this machine, in CPU: the floor under every
 * per-batch cost of bench e2e at low rates, where each order wakes several processes once each.
 *
 *   timer   a process whose only work is an empty setInterval callback every N ms
 *   socket  a process woken by a 16-byte frame on a loopback TCP connection every N ms, which
 *           it answers with 16 bytes (the sender, another process, is not counted)
 *
 * Each case runs in a fresh child process for `--seconds` (default 5) and reads its own
 * process.cpuUsage(): CPU µs per wake-up, user and system. Written to wake-latest.json in
 * bench/results/ (or --results DIR).
 *
 *   node dist/bench/wake.js [--seconds S] [--results DIR] [--json]
 */
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const INTERVALS_MS = [1, 5, 25] as const;
const FRAME_BYTES = 16;

interface Wake { kind: "timer" | "socket"; interval_ms: number; wakes: number; cpu_us_per_wake: number; user_us_per_wake: number; system_us_per_wake: number }

/** In the child: wakes for `seconds`, then reports its own CPU per wake-up to the parent. */
function child(kind: string, intervalMs: number, seconds: number, port: number): void {
  let n = 0;
  const start = process.cpuUsage();
  const done = (): void => {
    const c = process.cpuUsage(start);
    process.send!({ wakes: n, user: c.user, system: c.system }, () => process.exit(0));
  };
  if (kind === "timer") {
    const t = setInterval(() => { n++; }, intervalMs);
    setTimeout(() => { clearInterval(t); done(); }, seconds * 1000);
    return;
  }
  const reply = Buffer.alloc(FRAME_BYTES);
  const s = net.connect(port, "127.0.0.1", () => s.setNoDelay(true));
  // Counted per frame: two frames read in one wake-up count as two, so a figure can only err low.
  s.on("data", (d) => { n += Math.max(1, Math.floor(d.length / FRAME_BYTES)); s.write(reply); });
  setTimeout(() => { s.destroy(); done(); }, seconds * 1000);
}

function measure(kind: "timer" | "socket", intervalMs: number, seconds: number): Promise<Wake> {
  return new Promise((resolve, reject) => {
    let server: net.Server | null = null;
    let ticker: NodeJS.Timeout | null = null;
    const run = (port: number): void => {
      const c = fork(process.argv[1]!, ["--child", kind, String(intervalMs), String(seconds), String(port)], { stdio: "inherit" });
      let answered = false;
      const stop = (): void => {
        if (ticker !== null) clearInterval(ticker);
        server?.close();
      };
      // A child that dies before it reports ends the run with an error instead of a wait for ever.
      c.once("exit", (code) => {
        if (answered) return;
        stop();
        reject(new Error(`the ${kind} measurement's process exited (code ${String(code)}) without its figures`));
      });
      c.once("message", (m: { wakes: number; user: number; system: number }) => {
        answered = true;
        stop();
        const per = (us: number): number => Math.round((us / Math.max(1, m.wakes)) * 10) / 10;
        resolve({ kind, interval_ms: intervalMs, wakes: m.wakes, cpu_us_per_wake: per(m.user + m.system), user_us_per_wake: per(m.user), system_us_per_wake: per(m.system) });
      });
      c.once("error", reject);
    };
    if (kind === "timer") return run(0);
    // The sender: this process, writing one frame every intervalMs to the child's connection.
    server = net.createServer((sock) => {
      sock.setNoDelay(true);
      sock.on("data", () => undefined);
      sock.on("error", () => undefined);
      const frame = Buffer.alloc(FRAME_BYTES);
      ticker = setInterval(() => { if (!sock.destroyed) sock.write(frame); }, intervalMs);
    });
    server.listen(0, "127.0.0.1", () => run((server!.address() as net.AddressInfo).port));
  });
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { seconds: { type: "string" }, results: { type: "string" }, json: { type: "boolean" }, child: { type: "boolean" } }, allowPositionals: true, strict: false });
  const seconds = Number(v.seconds ?? 5);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) throw new Error("--seconds must be a number in (0, 600]");
  const results: Wake[] = [];
  for (const kind of ["timer", "socket"] as const) {
    for (const ms of INTERVALS_MS) results.push(await measure(kind, ms, seconds));
  }
  const out = { date: new Date().toISOString(), command: `node dist/bench/wake.js${v.seconds === undefined ? "" : ` --seconds ${seconds}`}`, machine: `${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores, Node ${process.version}`, seconds, results };
  const dir = typeof v.results === "string" ? v.results : join(import.meta.dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "wake-latest.json"), `${JSON.stringify(out, null, 2)}\n`);
  if (v.json === true) process.stdout.write(`${JSON.stringify(out)}\n`);
  else for (const r of results) console.log(`${r.kind.padEnd(6)} every ${String(r.interval_ms).padStart(2)} ms: ${r.wakes} wakes, ${r.cpu_us_per_wake} µs CPU per wake (user ${r.user_us_per_wake}, system ${r.system_us_per_wake})`);
}

const at = process.argv.indexOf("--child");
if (at >= 0) {
  const [kind, ms, s, port] = process.argv.slice(at + 1);
  child(kind!, Number(ms), Number(s), Number(port));
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`wake: ${(err as Error).message}\n`);
    process.exitCode = 2;
  });
}
