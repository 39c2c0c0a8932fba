/**
 * How long a live move of one instrument takes (docs/scaling.md, "Moving an instrument"): two
 * groups as processes (a sequencer and two replicas each) and an etcd on loopback, instrument 1
 * on s1 with --orders resting orders (limits on many levels, stops, OCO pairs, client ids),
 * background traffic on instrument 2 (s1) and 3 (s2), then `Mover` moves instrument 1 to s2.
 * Prints the move's stages, both book hashes, and the background's acks and slowest ack while
 * the move ran (instruments on the other shard, and the other instrument on the source, are
 * not paused). Every loop is bounded; every process is stopped at the end.
 *
 *   npm run build && node dist/bench/move.js [--orders N] [--rate R] [--json]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { TradingClient } from "../src/client/trading.js";
import { stopNode } from "../src/cluster/launcher.js";
import { startEtcd } from "../src/cluster/etcd.js";
import { LatencyRecorder } from "../src/metrics/latency.js";
import { Mover } from "../src/shard/move.js";
import { ShardMapStore } from "../src/shard/store.js";
import { CpuMeter } from "../src/tools/loadgen/cpu.js";
import { startMoveGroup, type MoveGroup } from "../src/tools/move-groups.js";

const OPERATOR = 9000;
/** Seeding window: orders in flight at once. */
const SEED_IN_FLIGHT_MAX = 512;
/** Background traffic runs at most this long (it is stopped when the move ends). */
const BACKGROUND_MS_MAX = 120_000;
/** Background orders in flight per stream. */
const BACKGROUND_IN_FLIGHT_MAX = 16;

type Group = MoveGroup;

const { values: v } = parseArgs({ options: { orders: { type: "string", default: "10000" }, rate: { type: "string", default: "1000" }, json: { type: "boolean" } } });
const ordersWanted = Number(v.orders);
const ratePerS = Number(v.rate);
if (!Number.isSafeInteger(ordersWanted) || ordersWanted < 1 || ordersWanted > 200_000) throw new Error("--orders is an integer from 1 to 200000");
if (!Number.isSafeInteger(ratePerS) || ratePerS < 1 || ratePerS > 20_000) throw new Error("--rate is an integer from 1 to 20000 (orders/s per background stream)");

const dir = mkdtempSync(join(tmpdir(), "lockstep-bench-move-"));
/** Resting orders on instrument 1: limits over 1,000 levels a side, 1 % stops, 1 % OCO pairs (two orders each), 10 % with client ids. */
async function seed(c: TradingClient, n: number): Promise<void> {
  let sent = 0;
  const one = async (i: number): Promise<void> => {
    const coid = i % 10 === 0 ? { clientOrderId: `b${i}` } : {};
    if (i % 100 === 1) await c.submit({ instrument: 1, side: "sell", type: "stop", stopPrice: 5_000 - (i % 50), quantity: 1 + (i % 5), ...coid });
    else if (i % 100 === 2) await c.submit({ instrument: 1, side: "sell", type: "oco", price: 12_000 + (i % 300), stopPrice: 4_000 - (i % 50), quantity: 2, ...coid });
    else await c.submit({ instrument: 1, side: i % 2 === 0 ? "buy" : "sell", price: i % 2 === 0 ? 9_000 - (i % 1000) : 11_000 + (i % 1000), quantity: 1 + (i % 9), ...coid });
  };
  const workers = Array.from({ length: SEED_IN_FLIGHT_MAX }, async () => {
    while (sent < n) await one(sent++);
  });
  await Promise.all(workers);
}

/** Ack times, ms: how many, the median, the 99th percentile and the slowest (HDR, as every latency here; null with none). */
interface AckSummary { n: number; p50_ms: number | null; p99_ms: number | null; max_ms: number | null }
function summary(r: LatencyRecorder): AckSummary {
  const s = r.summary();
  const ms = (us: number): number => Math.round(us / 10) / 100;
  return s.count === 0 ? { n: 0, p50_ms: null, p99_ms: null, max_ms: null } : { n: s.count, p50_ms: ms(s.p50), p99_ms: ms(s.p99), max_ms: ms(s.max) };
}

/**
 * Orders at `rate`/s on one instrument until `stop`; the ack times while the move ran and the
 * slowest ack then, and the acks of orders sent in the quiet second before the move (`quiet`)
 * against those of orders sent during it: the move's effect on an instrument it does not touch.
 */
async function background(url: string, account: number, instrument: number, stop: () => boolean, window: () => [number, number], quiet: () => [number, number]): Promise<{ acked: number; ackedDuringMove: number; slowestAckDuringMoveMs: number; quiet_second_before: AckSummary; sent_during_move: AckSummary }> {
  const c = await TradingClient.connect(url, account);
  const out = { acked: 0, ackedDuringMove: 0, slowestAckDuringMoveMs: 0 };
  const inQuiet = new LatencyRecorder();
  const inMove = new LatencyRecorder();
  const end = performance.now() + BACKGROUND_MS_MAX;
  const gapMs = (1000 * BACKGROUND_IN_FLIGHT_MAX) / ratePerS;
  await Promise.all(Array.from({ length: BACKGROUND_IN_FLIGHT_MAX }, async (_, w) => {
    for (let i = w; !stop() && performance.now() < end; i += BACKGROUND_IN_FLIGHT_MAX) {
      const t = performance.now();
      await c.submit({ instrument, side: i % 2 === 0 ? "buy" : "sell", price: 10_000 + (i % 7) - 3, quantity: 1 });
      const done = performance.now();
      out.acked++;
      const [from, to] = window();
      if (done >= from && t <= to) {
        out.ackedDuringMove++;
        out.slowestAckDuringMoveMs = Math.max(out.slowestAckDuringMoveMs, done - t);
      }
      const [q0, q1] = quiet();
      if (t >= q0 && t < q1) inQuiet.record((done - t) * 1000);
      else if (t >= from && t <= to) inMove.record((done - t) * 1000);
      await new Promise((r) => setTimeout(r, Math.max(0, gapMs - (done - t))));
    }
  }));
  await c.close();
  return { ...out, quiet_second_before: summary(inQuiet), sent_during_move: summary(inMove) };
}

async function main(): Promise<void> {
  const etcd = await startEtcd(dir, join(dir, "logs"));
  const groups: Group[] = [];
  const store = new ShardMapStore([etcd.url]);
  // The background streams, stopped and awaited before the nodes are: a move that fails must not leave them failing on closed connections.
  let stop = false;
  let bg: ReturnType<typeof background>[] = [];
  try {
    const [s1, s2] = await Promise.all([startMoveGroup(dir, "s1", [3], OPERATOR, (g) => groups.push(g)), startMoveGroup(dir, "s2", [1, 2], OPERATOR, (g) => groups.push(g))]);
    const entry = (g: Group, instruments: number[]): object => ({ id: g.id, weight: 1, endpoints: { trade: [String(g.seq.ready.trade)], feed: g.replicas.map((r) => String(r.ready.feed)) }, instruments });
    await store.write({ version: 1, shards: [entry(s1, [1, 2]), entry(s2, [3])], pins: {} } as never);
    const seeder = await TradingClient.connect(String(s1.seq.ready.trade), 7);
    const ts = performance.now();
    await seed(seeder, ordersWanted);
    const seedMs = performance.now() - ts;
    await seeder.close();
    let moveWindow: [number, number] = [Infinity, -Infinity];
    let quietWindow: [number, number] = [Infinity, -Infinity];
    bg = [background(String(s1.seq.ready.trade), 21, 2, () => stop, () => moveWindow, () => quietWindow), background(String(s2.seq.ready.trade), 22, 3, () => stop, () => moveWindow, () => quietWindow)];
    // What each process spent during the move (the background's share included), and in the second before it with the
    // background alone: the difference is the move's cost.
    const procs = [
      ...groups.flatMap((g) => [g.seq, ...g.replicas]).map((n) => ({ name: n.name, pid: n.child.pid ?? -1 })),
      { name: "etcd", pid: etcd.child.pid ?? -1 }, { name: "bench (mover and background clients)", pid: null },
    ];
    const before = new CpuMeter(procs);
    before.start();
    quietWindow = [performance.now(), Infinity];
    await new Promise((r) => setTimeout(r, 1000));
    quietWindow = [quietWindow[0], performance.now()];
    before.end();
    const meter = new CpuMeter(procs);
    const t0 = performance.now();
    moveWindow = [t0, Infinity];
    meter.start();
    const result = await new Mover(store, { instrument: 1, to: "s2", operator: { account: OPERATOR } }).run();
    meter.end();
    moveWindow = [t0, performance.now()];
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    const [onSource, onTarget] = await Promise.all(bg);
    const out = {
      command: `node dist/bench/move.js --orders ${ordersWanted} --rate ${ratePerS}`, machine: `${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}`,
      seeded_orders: ordersWanted, seed_ms: Math.round(seedMs), move: result,
      // µs per 1,000 "orders" is ms: the CPU time of each process while the move ran.
      cpu_ms_during_move: meter.perOrder(1000),
      cpu_ms_in_the_second_before: before.perOrder(1000),
      background: { instrument_2_on_s1: onSource, instrument_3_on_s2: onTarget, rate_per_s_each: ratePerS },
    };
    process.stdout.write(v.json === true ? `${JSON.stringify(out)}\n` : `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    stop = true;
    await Promise.allSettled(bg);
    store.close();
    await Promise.all(groups.flatMap((g) => [g.seq, ...g.replicas]).map(stopNode));
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
