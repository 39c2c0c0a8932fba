/**
 * `lockstep bench engine`: Lockstep's engine beside nodejs-order-book, same process, same
 * pre-generated command streams (generation untimed), at resting depths 1k, 10k and 100k.
 * Throughput runs alternate the two engines and report the median of the repetitions;
 * per-command latency is a separate pass timed command by command into HDR histograms, with
 * the cost of the timer itself measured beside it (the floor). Heap bytes per resting order
 * are measured at 1M resting orders for both; LOBSTER replay speed when the data is present.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as hdr from "hdr-histogram-js";
import { Engine, NullListener, Side, Stp, Tif } from "../src/engine/index.js";
import { LobsterReplay, parseMessages } from "../src/replay/lobster.js";
import { applyPeer, newPeerBook } from "./peer.js";
import { applyOne, BENCH_INSTRUMENT, generateStream, type Stream } from "./stream.js";

export interface EngineBenchOptions {
  readonly quick: boolean;
  readonly resultsDir: string;
  readonly lobsterFile: string;
  readonly log: (line: string) => void;
}

export interface Scenario {
  name: string;
  depth: number;
  commands: number;
  lockstep_ops_per_s: number;
  peer_ops_per_s: number;
  ratio: number;
  p50_ns: number;
  p99_ns: number;
  p999_ns: number;
  p9999_ns: number;
  max_ns: number;
  peer_p50_ns: number;
  peer_p99_ns: number;
  peer_p999_ns: number;
  timer_floor_p50_ns: number;
  final_depth: number;
}

export interface EngineBenchResult {
  date: string;
  command: string;
  machine: string;
  node: string;
  peer: string;
  repetitions: number;
  scenarios: Scenario[];
  bytes_per_resting_order: number;
  peer_bytes_per_resting_order: number;
  lobster_replay_ops_per_s: number | null;
}

/** A consumer that touches every event, so the engine's event calls cannot be optimized away. */
class CountingListener extends NullListener {
  trades = 0;
  qty = 0;
  levels = 0;
  override trade(_i: number, _t: number, _m: number, _ma: number, _ti: number, _ta: number, _s: Side, _p: number, qty: number): void {
    this.trades++;
    this.qty += qty;
  }
  override level(): void {
    this.levels++;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeLockstep(s: Stream): { opsPerS: number; depth: number } {
  const e = new Engine([BENCH_INSTRUMENT], new CountingListener());
  for (let i = 0; i < s.prefill; i++) applyOne(e, s, i);
  const t0 = process.hrtime.bigint();
  for (let i = s.prefill; i < s.length; i++) applyOne(e, s, i);
  const ns = Number(process.hrtime.bigint() - t0);
  return { opsPerS: ((s.length - s.prefill) * 1e9) / ns, depth: e.liveOrders };
}

function timePeer(s: Stream): number {
  const b = newPeerBook();
  for (let i = 0; i < s.prefill; i++) applyPeer(b, s, i);
  const t0 = process.hrtime.bigint();
  for (let i = s.prefill; i < s.length; i++) applyPeer(b, s, i);
  return ((s.length - s.prefill) * 1e9) / Number(process.hrtime.bigint() - t0);
}

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

/** Times each steady command; `apply` is null for the floor (the timer calls alone). */
function latency(s: Stream, apply: ((i: number) => void) | null): hdr.Histogram {
  const h = newHistogram();
  for (let i = s.prefill; i < s.length; i++) {
    const t0 = performance.now();
    if (apply !== null) apply(i);
    h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
  }
  return h;
}

export function scenario(depth: number, steady: number, reps: number, log: (l: string) => void): Scenario {
  const s = generateStream(depth, steady, 1000 + depth);
  const ours: number[] = [];
  const theirs: number[] = [];
  let finalDepth = 0;
  for (let r = 0; r < reps; r++) {
    const o = timeLockstep(s);
    ours.push(o.opsPerS);
    finalDepth = o.depth;
    theirs.push(timePeer(s));
  }
  const e = new Engine([BENCH_INSTRUMENT], new CountingListener());
  for (let i = 0; i < s.prefill; i++) applyOne(e, s, i);
  const h = latency(s, (i) => applyOne(e, s, i));
  const pb = newPeerBook();
  for (let i = 0; i < s.prefill; i++) applyPeer(pb, s, i);
  const ph = latency(s, (i) => applyPeer(pb, s, i));
  const floor = latency(s, null);
  const sc: Scenario = {
    name: `steady-${depth >= 1000 ? `${depth / 1000}k` : depth}`, depth, commands: steady,
    lockstep_ops_per_s: Math.round(median(ours)), peer_ops_per_s: Math.round(median(theirs)), ratio: 0,
    p50_ns: h.getValueAtPercentile(50), p99_ns: h.getValueAtPercentile(99), p999_ns: h.getValueAtPercentile(99.9),
    p9999_ns: h.getValueAtPercentile(99.99), max_ns: h.maxValue,
    peer_p50_ns: ph.getValueAtPercentile(50), peer_p99_ns: ph.getValueAtPercentile(99), peer_p999_ns: ph.getValueAtPercentile(99.9),
    timer_floor_p50_ns: floor.getValueAtPercentile(50), final_depth: finalDepth,
  };
  sc.ratio = Math.round((sc.lockstep_ops_per_s / sc.peer_ops_per_s) * 10) / 10;
  log(`  ${sc.name}: lockstep ${fmt(sc.lockstep_ops_per_s)} ops/s, peer ${fmt(sc.peer_ops_per_s)} ops/s, ratio ${sc.ratio}x; p50 ${sc.p50_ns} ns, p99.9 ${sc.p999_ns} ns (timer floor p50 ${sc.timer_floor_p50_ns} ns)`);
  return sc;
}

function gcFunction(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** Heap growth per resting order after placing `n` non-crossing orders (bids below, asks above). */
function bytesPerOrder(n: number, place: (i: number, side: Side, price: number, qty: number) => void, make: () => void): number {
  const gc = gcFunction();
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  make();
  for (let i = 0; i < n; i++) {
    const side = (i & 1) as Side;
    const offset = 1 + (i % 5000);
    place(i + 1, side, side === Side.BUY ? 500_000 - offset : 500_000 + offset, 1 + (i % 100));
  }
  gc();
  gc();
  return Math.round((process.memoryUsage().heapUsed - before) / n);
}

function memory(n: number): { ours: number; peer: number } {
  let e: Engine | null = null;
  const ours = bytesPerOrder(n, (id, side, price, qty) => e!.placeLimit(1, id, 1, side, price, qty, Tif.GTC, false, Stp.NONE), () => {
    e = new Engine([BENCH_INSTRUMENT], new NullListener());
  });
  if (e!.liveOrders !== n) throw new Error(`memory bench expected ${n} resting orders, found ${e!.liveOrders}`);
  e = null;
  const ids: string[] = [];
  for (let i = 0; i <= n; i++) ids.push(`o${i}`);
  let pb: ReturnType<typeof newPeerBook> | null = null;
  const peer = bytesPerOrder(n, (id, side, price, qty) => pb!.limit({ id: ids[id]!, side: side === Side.BUY ? "buy" : "sell", price, size: qty } as never), () => {
    pb = newPeerBook();
  });
  pb = null;
  return { ours, peer };
}

function lobsterOpsPerS(file: string, reps: number): number | null {
  if (!existsSync(file)) return null;
  const messages = parseMessages(readFileSync(file, "utf8"), () => undefined);
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    let events = 0;
    for (let k = 0; k < 50; k++) {
      const replay = new LobsterReplay();
      for (const m of messages) replay.apply(m);
      events += messages.length;
    }
    rates.push((events * 1e9) / Number(process.hrtime.bigint() - t0));
  }
  return Math.round(median(rates));
}

const fmt = (n: number): string => n.toLocaleString("en-US");

export function runEngineBench(opts: EngineBenchOptions, command: string): EngineBenchResult {
  const reps = opts.quick ? 3 : 5;
  const steady = opts.quick ? 200_000 : 1_000_000;
  const peerVersion = (createRequire(import.meta.url)("nodejs-order-book/package.json") as { version: string }).version;
  const machine = `${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`;
  opts.log(`$ ${command}`);
  opts.log(`machine: ${machine}; node ${process.version}; peer nodejs-order-book ${peerVersion}`);
  opts.log(`steady commands per scenario: ${fmt(steady)}, ${reps} alternating repetitions, median reported`);
  const scenarios = [1_000, 10_000, 100_000].map((d) => scenario(d, steady, reps, opts.log));
  const mem = memory(1_000_000);
  opts.log(`  heap per resting order at 1M: lockstep ${mem.ours} B, peer ${mem.peer} B`);
  const lobster = lobsterOpsPerS(opts.lobsterFile, reps);
  opts.log(lobster === null ? `  LOBSTER replay: skipped, ${opts.lobsterFile} not found` : `  LOBSTER replay: ${fmt(lobster)} events/s`);
  const result: EngineBenchResult = {
    date: new Date().toISOString(), command, machine, node: process.version, peer: `nodejs-order-book ${peerVersion}`, repetitions: reps,
    scenarios, bytes_per_resting_order: mem.ours, peer_bytes_per_resting_order: mem.peer, lobster_replay_ops_per_s: lobster,
  };
  writeResults(opts.resultsDir, result);
  return result;
}

export function markdownTable(r: EngineBenchResult): string {
  const rows = r.scenarios.map((s) =>
    `| ${s.name} | ${fmt(s.lockstep_ops_per_s)} | ${fmt(s.peer_ops_per_s)} | ${s.ratio}× | ${s.p50_ns} | ${s.p99_ns} | ${s.p999_ns} | ${s.p9999_ns} | ${fmt(s.max_ns)} | ${s.peer_p999_ns} | ${s.timer_floor_p50_ns} |`);
  return [
    `Measured ${r.date} with \`${r.command}\` on ${r.machine}, Node ${r.node}, against ${r.peer} (median of ${r.repetitions} alternating runs).`,
    "",
    "| scenario | Lockstep ops/s | peer ops/s | ratio | p50 ns | p99 ns | p99.9 ns | p99.99 ns | max ns | peer p99.9 ns | timer floor p50 ns |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    `Heap per resting order at 1M resting: Lockstep ${r.bytes_per_resting_order} B, peer ${r.peer_bytes_per_resting_order} B. ` +
      `LOBSTER replay: ${r.lobster_replay_ops_per_s === null ? "not run (data absent)" : `${fmt(r.lobster_replay_ops_per_s)} events/s`}.`,
  ].join("\n");
}

function writeResults(dir: string, r: EngineBenchResult): void {
  mkdirSync(dir, { recursive: true });
  const stamp = r.date.slice(0, 19).replace(/[:T]/g, "-");
  for (const name of [`engine-${stamp}`, "engine-latest"]) {
    writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(r, null, 2)}\n`);
    writeFileSync(join(dir, `${name}.md`), `# Engine benchmark\n\n${markdownTable(r)}\n`);
  }
}
