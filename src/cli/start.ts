/**
 * `lockstep start`: until the replicated cluster lands, an in-process engine demo. Feeds a
 * pre-generated realistic command stream to the engine at a paced rate and prints a live
 * one-line status each second. Bounded by --duration, or stopped with Ctrl-C.
 */
import { Engine, NullListener, type Side } from "../engine/index.js";
import { applyOne, BENCH_INSTRUMENT, generateStream } from "../../bench/stream.js";
import { parse, UserError } from "./args.js";

const DEMO_RATE_PER_S = 100_000;
const DEMO_DEPTH = 10_000;
const TICK_MS = 100;

class DemoListener extends NullListener {
  trades = 0;
  volume = 0;
  override trade(_i: number, _t: number, _m: number, _ma: number, _ti: number, _ta: number, _s: Side, _p: number, qty: number): void {
    this.trades++;
    this.volume += qty;
  }
}

export async function runStart(args: string[]): Promise<number> {
  const { values: v } = parse(args, { duration: { type: "string" }, json: { type: "boolean" } });
  const duration = v.duration === undefined ? Infinity : Number(v.duration);
  if (!(duration > 0)) throw new UserError(`--duration must be a positive number of seconds, not "${String(v.duration)}"`, 2);
  const json = v.json === true;
  const out = json ? process.stderr : process.stdout;
  const say = (line: string): boolean => out.write(line);
  // On a terminal the status line rewrites itself; elsewhere (logs, pipes) each status is a line.
  const [lead, tail] = out.isTTY ? ["\r", "   "] : ["", "\n"];
  say(`lockstep engine demo: ${DEMO_RATE_PER_S.toLocaleString("en-US")} commands/s over a ${DEMO_DEPTH.toLocaleString("en-US")}-order book${duration === Infinity ? " (Ctrl-C stops)" : ` for ${duration}s`}\n`);
  const steady = Math.min(5_000_000, Math.ceil(Math.min(duration, 50) * DEMO_RATE_PER_S));
  const stream = generateStream(DEMO_DEPTH, steady, 2026);
  const listener = new DemoListener();
  const engine = new Engine([BENCH_INSTRUMENT], listener);
  let next = 0;
  while (next < stream.prefill) applyOne(engine, stream, next++);
  const started = performance.now();
  let applied = 0;
  await new Promise<void>((resolve) => {
    let lastStatus = started;
    const stop = (): void => {
      clearInterval(timer);
      process.off("SIGINT", stop);
      resolve();
    };
    const timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor(((now - started) / 1000) * DEMO_RATE_PER_S) - applied;
      for (let i = 0; i < due; i++) {
        if (next >= stream.length) next = stream.prefill; // wrap: ids repeat, the engine rejects the stale ones
        applyOne(engine, stream, next++);
      }
      applied += due;
      if (now - lastStatus >= 1000 || now - started >= duration * 1000) {
        lastStatus = now;
        const d = engine.depth(1, 1);
        say(`${lead}t=${((now - started) / 1000).toFixed(0)}s commands=${applied.toLocaleString("en-US")} trades=${listener.trades.toLocaleString("en-US")} resting=${engine.liveOrders.toLocaleString("en-US")} bid=${d.bids[0]?.[0] ?? "-"} ask=${d.asks[0]?.[0] ?? "-"} hash=${engine.stateHash()}${tail}`);
      }
      if (now - started >= duration * 1000) stop();
    }, TICK_MS);
    process.on("SIGINT", stop);
  });
  if (out.isTTY) say("\n");
  const summary = { commands: applied, trades: listener.trades, resting: engine.liveOrders, hash: engine.stateHash() };
  if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else say(`stopped: ${JSON.stringify(summary)}\n`);
  return 0;
}
