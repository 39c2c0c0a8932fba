/**
 * `lockstep bench e2e`: the floor (bare uWebSockets.js relays, same topology), the NATS JetStream
 * peer and then a Lockstep cluster, each a set of separate processes, driven by the same
 * open-loop generator at the same rate with the same order mix; Lockstep's percentiles are
 * reported as ratios to the floor's (and the peer's), measured minutes apart on the same
 * machine. Each system's processes have their CPU metered over the measured window (cpu.ts);
 * Lockstep's order→fill is also broken into hops (hops.ts). With --repeat N the three run N
 * times and the median of each figure is reported.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hopsOf, spawnNode, stopNode, type NodeProcess, type ReplicaStats } from "../../cluster/launcher.js";
import type { ReplicaHopSnapshots } from "../../replica/replica.js";
import { DrillCluster } from "../drill/cluster.js";
import { loadConfig } from "../../config/config.js";
import { firstShardMap } from "../../shard/map.js";
import type { LatencySummary } from "../../metrics/latency.js";
import { runLoad, wsTransport, type LoadOptions, type LoadResult, type Target, type Transport } from "./client.js";
import { CpuMeter, totalPerOrder, type MeteredProcess } from "./cpu.js";
import { hopsBetween, journalStamps, lockstepHops, wallClockOfNs, type Hops, type ReplicaHopStats } from "./hops.js";
import { findNatsServer, natsTransport, startNatsServer } from "./nats.js";
import { GcMeter, type GcFigures, type GcSource } from "./gc.js";
import { nameProfiles, profiled, withNodeArgs } from "./profile.js";

export interface E2eOptions {
  readonly baseConfig: string;
  readonly ratePerS: number;
  readonly durationS: number;
  /** Seconds of the same load before each system's measured window (client.ts, LoadOptions.warmupS). */
  readonly warmupS: number;
  readonly replicas: number;
  readonly clients: number;
  readonly instrument: number;
  readonly mid: number;
  readonly seed: number;
  readonly log: (line: string) => void;
  readonly progress?: (phase: string, sent: number, total: number) => void;
  /** With --profile: every node of the run writes a .cpuprofile into DIR/<system>/. */
  readonly profileDir?: string;
  /** With --gateway: Lockstep a second time, its clients through `lockstep gateway` (one shard). */
  readonly gateway?: boolean;
}

export interface Percentiles { p50: number; p90: number; p99: number; p999: number; p9999: number; max: number; count: number }

export interface SideResult {
  offered_per_s: number; achieved_per_s: number; sent: number; acked: number; fills: number; unfilled: number; unanswered: number;
  rejected: Record<string, number>;
  order_to_ack_us: Percentiles; order_to_ack_service_us: Percentiles;
  order_to_fill_us: Percentiles; order_to_fill_service_us: Percentiles;
  generator_lateness_us: Percentiles;
  /** Percentile curve of order→fill (response), for the plot: [percentile, µs]. */
  fill_curve: [number, number][];
  /** CPU µs per order sent, by process, over the measured window (cpu.ts), and their sum. */
  cpu_us_per_order: Record<string, number | null>;
  cpu_total_us_per_order: number | null;
  /** Wake-ups (voluntary context switches of every thread) per order sent, by process, over the same window (cpu.ts), and their sum. */
  wakeups_per_order: Record<string, number | null>;
  wakeups_total_per_order: number | null;
  /**
   * Mean wait for a core per run (timeslice) of every thread, µs, by process, over the same
   * window (cpu.ts runQueueOf), and over every run of every process: how long each became
   * ready before it ran, which every hop through it pays on a machine whose cores are shared.
   */
  runqueue_wait_us_per_run: Record<string, number | null>;
  runqueue_wait_all_us_per_run: number | null;
  /** Garbage collections over the same window, by Node process (gc.ts): not nats-server, which is Go. */
  gc: Record<string, GcFigures>;
  /** The warm-up before the window (none when warmup_s is 0): its orders and their latencies, in no other figure. */
  warmup: { warmup_s: number; sent: number; unanswered: number; rejected: Record<string, number>; order_to_ack_us: Percentiles; order_to_fill_us: Percentiles };
}

export interface LockstepExtras {
  /** Acked orders some replica never applied. */
  lost: number;
  replicas: { id: string; seq: number; hash: string; one_way_raw_us: Percentiles; one_way_compensated_us: Percentiles; skew_offset_us: number | null; skew_bound_us: number | null }[];
  hashes_agree: boolean;
  /** Sequencer's view of each replica's lag in seqs, sampled once a second. */
  lag_seq: { p50: number; p99: number; max: number };
  /** order→fill hop by hop (hops.ts), through r1, the replica the client reads. */
  hops: Hops;
}

/** `nats` is absent when nats-server is not installed (the run says so). */
/** `gateway`: the same Lockstep cluster with a `lockstep gateway` process between the clients and it (--gateway). */
export interface E2eRun { floor: SideResult; nats?: SideResult; lockstep: SideResult & LockstepExtras; gateway?: SideResult & LockstepExtras }

const CURVE_PERCENTILES = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100];
/** After the last send, how long to wait for the last answers (and again for the last fills). */
const DRAIN_MS = 10_000;
/** The generator: this process (cpu.ts reads it with process.cpuUsage()). */
const GENERATOR: MeteredProcess = { name: "generator", pid: null };
/** Every node of every system prints its collections (gc.ts reads them off stdout). */
const NODE_GC_ARGS = "--trace-gc";

function pct(s: LatencySummary): Percentiles {
  return { p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, p9999: s.p9999, max: s.max, count: s.count };
}

function side(r: LoadResult, cpu: CpuMeter, gc: GcMeter): SideResult {
  const h = r.fillResponse.histogram("cumulative");
  const curve = h.totalCount === 0 ? [] : CURVE_PERCENTILES.map((p) => [p, p === 100 ? h.maxValue : h.getValueAtPercentile(p)] as [number, number]);
  const perOrder = cpu.perOrder(r.sent);
  const wakeups = cpu.wakeupsPerOrder(r.sent);
  const queue = cpu.runQueueWaitPerRun();
  return {
    offered_per_s: r.offered_per_s, achieved_per_s: r.achieved_per_s, sent: r.sent, acked: r.acked, fills: r.fills, unfilled: r.unfilled, unanswered: r.unanswered, rejected: r.rejected,
    order_to_ack_us: pct(r.ackResponse.summary()), order_to_ack_service_us: pct(r.ackService.summary()),
    order_to_fill_us: pct(r.fillResponse.summary()), order_to_fill_service_us: pct(r.fillService.summary()),
    warmup: {
      warmup_s: r.offered_per_s > 0 ? r.measuredFrom / r.offered_per_s : 0, sent: r.warmup.sent, unanswered: r.warmup.unanswered, rejected: r.warmup.rejected,
      order_to_ack_us: pct(r.warmupAckResponse.summary()), order_to_fill_us: pct(r.warmupFillResponse.summary()),
    },
    generator_lateness_us: pct(r.lateness.summary()), fill_curve: curve, cpu_us_per_order: perOrder, cpu_total_us_per_order: totalPerOrder(perOrder),
    wakeups_per_order: wakeups, wakeups_total_per_order: totalPerOrder(wakeups, 100),
    runqueue_wait_us_per_run: queue.processes, runqueue_wait_all_us_per_run: queue.all,
    gc: gc.perOrders(r.sent),
  };
}

/**
 * Runs the load against `transport` with the CPU of `nodes` (and the generator's) metered over
 * the window, and the collections of the Node processes among them (`gcOf`) counted.
 */
function load(o: E2eOptions, phase: string, transport: Transport, nodes: readonly MeteredProcess[], gcOf: readonly NodeProcess[], beforeWindow?: () => Promise<void>): Promise<Metered> {
  const cpu = new CpuMeter([...nodes, GENERATOR]);
  const gc = new GcMeter([...gcOf.map((n): GcSource => ({ name: n.name, lines: n.stdout })), { name: GENERATOR.name, lines: null }]);
  const lo: LoadOptions = {
    ratePerS: o.ratePerS, durationS: o.durationS, warmupS: o.warmupS, clients: o.clients, instrument: o.instrument, mid: o.mid, seed: o.seed, drainMs: DRAIN_MS,
    window: { start: () => { cpu.start(); gc.start(); }, end: () => { cpu.end(); gc.end(); } },
    ...(beforeWindow === undefined ? {} : { beforeWindow }),
    ...(o.progress === undefined ? {} : { onProgress: (sent: number, total: number) => o.progress!(phase, sent, total) }),
  };
  return runLoad(transport, lo).then((r) => ({ r, cpu, gc }));
}

interface Metered { r: LoadResult; cpu: CpuMeter; gc: GcMeter }

const metered = (n: NodeProcess): MeteredProcess => ({ name: n.name, pid: n.child.pid! });

/** Stops the nodes, then names their profiles after them (written as they exit). */
async function stopAll(nodes: readonly NodeProcess[], profileDir: string | undefined): Promise<void> {
  await Promise.all(nodes.map(stopNode));
  if (profileDir !== undefined) nameProfiles(profileDir, nodes.map((n) => ({ name: n.name, pid: n.child.pid })));
}

/** The floor: one sequence relay and N replica relays as processes; the client reads replica relay 0. */
async function runFloor(o: E2eOptions, logDir: string, profileDir?: string): Promise<SideResult> {
  const nodes: NodeProcess[] = [];
  try {
    const seq = await spawnNode("relay-seq", ["relay", "seq", "--port", "0"], logDir);
    nodes.push(seq);
    for (let i = 0; i < o.replicas; i++) nodes.push(await spawnNode(`relay-r${i + 1}`, ["relay", "replica", "--port", "0", "--upstream", `ws://127.0.0.1:${String(seq.ready.port)}/replicate`], logDir));
    const target: Target = { tradeUrl: `ws://127.0.0.1:${String(seq.ready.port)}/trade`, feedUrl: `ws://127.0.0.1:${String(nodes[1]!.ready.port)}/feed` };
    const { r, cpu, gc } = await load(o, "floor", wsTransport(target), nodes.map(metered), nodes);
    return side(r, cpu, gc);
  } finally {
    await stopAll(nodes, profileDir);
  }
}

/** The NATS peer: a nats-server with JetStream and N consumer processes; the client reads the first one's reports. */
async function runNats(o: E2eOptions, dir: string, logDir: string, profileDir?: string): Promise<SideResult> {
  const server = await startNatsServer(dir, logDir);
  const nodes: NodeProcess[] = [];
  try {
    for (let i = 0; i < o.replicas; i++) nodes.push(await spawnNode(`nats-r${i + 1}`, ["relay", "nats-replica", "--nats", server.url, ...(i === 0 ? ["--reports"] : [])], logDir));
    const { r, cpu, gc } = await load(o, "nats", natsTransport(server.url), [{ name: "nats-server", pid: server.pid }, ...nodes.map(metered)], nodes);
    return side(r, cpu, gc);
  } finally {
    await stopAll(nodes, profileDir);
    await server.stop();
  }
}

/** Rate limits out of the way: the benchmark measures capacity, not the gateway's throttling. */
const BENCH_LIMITS = { connectionRatePerS: 10_000_000, connectionBurst: 10_000_000, accountRatePerS: 10_000_000, accountBurst: 10_000_000, connectionsMax: 10_000 };

/** Samples the sequencer's view of every replica's lag (seqs) once a second until stopped. */
function lagSampler(c: DrillCluster): { stop: () => void; result: () => LockstepExtras["lag_seq"] } {
  const samples: number[] = [];
  const timer = setInterval(() => {
    c.sequencerStats().then((s) => { for (const r of s.replicas) samples.push(r.lag); }, () => undefined);
  }, 1000);
  return {
    stop: () => clearInterval(timer),
    result: () => {
      samples.sort((a, b) => a - b);
      const at = (p: number): number => (samples.length === 0 ? 0 : samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))]!);
      return { p50: at(50), p99: at(99), max: samples.at(-1) ?? 0 };
    },
  };
}

/** `rs`: each replica's /stats after the run; `windowed`: what each recorded in the measured window (GET /hops before and after). */
interface LockstepMeasured extends Metered { lag: LockstepExtras["lag_seq"]; rs: ReplicaStats[]; windowed: ReplicaHopStats[] }

/**
 * Lockstep: a sequencer and N replicas; the client trades on the sequencer and reads r1. With
 * `logDir` (--gateway's run), the client speaks to a `lockstep gateway` process instead, its map
 * one shard, this cluster: the gateway is metered with the nodes, after them.
 */
async function runLockstep(o: E2eOptions, dir: string, profileDir?: string, logDir?: string): Promise<SideResult & LockstepExtras> {
  const c = new DrillCluster({ baseConfig: o.baseConfig, dir, replicas: o.replicas, sequencer: { limits: BENCH_LIMITS } });
  let gateway: NodeProcess | undefined;
  const nodes = (): NodeProcess[] => [c.sequencer, ...c.replicas, gateway].filter((n): n is NodeProcess => n !== undefined && n !== null);
  let wallUs: (ns: number) => number;
  let m: LockstepMeasured;
  try {
    await c.start();
    wallUs = wallClockOfNs();
    let target: Target = { tradeUrl: c.tradeUrl, feedUrl: c.feedUrl(0) };
    if (logDir !== undefined) {
      const mapFile = join(dir, "shard-map.json");
      const cfg = loadConfig(o.baseConfig);
      writeFileSync(mapFile, JSON.stringify(firstShardMap([{ id: "s1", weight: 1, endpoints: { trade: [c.tradeUrl], feed: [c.feedUrl(0)] } }], {}, cfg.instruments.map((i) => i.id))));
      gateway = await spawnNode("gateway", ["gateway", "--shard-map", mapFile, "--port", "0"], logDir);
      target = { tradeUrl: String(gateway.ready.trade), feedUrl: String(gateway.ready.feed) };
    }
    const lag = lagSampler(c);
    const replicas = (): NodeProcess[] => c.replicas.filter((r): r is NodeProcess => r !== null);
    // Where each replica's histograms stand once it has applied the maker's book and the warm-up's
    // orders: the window's figures are what comes after.
    let before: ReplicaHopSnapshots[] = [];
    const readBefore = async (): Promise<void> => {
      await c.settle(60_000);
      before = await Promise.all(replicas().map(hopsOf));
    };
    const run = await load(o, logDir === undefined ? "lockstep" : "gateway", wsTransport(target), nodes().map(metered), nodes(), readBefore).finally(lag.stop);
    // settle() returns each replica's whole /stats, read after it caught up.
    const rs = await c.settle(60_000);
    const after = await Promise.all(replicas().map(hopsOf));
    m = { ...run, lag: lag.result(), rs, windowed: after.map((a, i) => hopsBetween(before[i]!, a)) };
  } finally {
    await stopAll(nodes(), profileDir);
  }
  // The journal is read once the sequencer has stopped (opening it checks, and may trim, its tail).
  return lockstepResult(m, journalStamps(c.journalDir), wallUs);
}

function lockstepResult(m: LockstepMeasured, tsOf: ReadonlyMap<number, number>, wallUs: (ns: number) => number): SideResult & LockstepExtras {
  const applied = Math.min(...m.rs.map((x) => x.seq));
  let lost = 0;
  for (const s of m.r.ackedSeqs) if (s > applied) lost++;
  return {
    ...side(m.r, m.cpu, m.gc), lost, hashes_agree: new Set(m.rs.map((x) => x.hash)).size === 1,
    replicas: m.rs.map((s, i) => ({
      id: s.id, seq: s.seq, hash: s.hash, one_way_raw_us: pct(m.windowed[i]!.one_way_raw_us), one_way_compensated_us: pct(m.windowed[i]!.one_way_compensated_us),
      skew_offset_us: s.skew?.offset_us ?? null, skew_bound_us: s.skew?.bound_us ?? null,
    })),
    lag_seq: m.lag,
    hops: lockstepHops(m.r, tsOf, wallUs, m.windowed[0]!),
  };
}

/** Runs `fn` with a fresh temporary directory (and its logs/ below it), removed afterwards. */
async function inTempDir<T>(fn: (dir: string, logDir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-e2e-"));
  const logDir = join(dir, "logs");
  mkdirSync(logDir, { recursive: true });
  try {
    return await fn(dir, logDir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One system's run with its nodes' collections traced (and profiled into `dir`, if given). */
const traced = <T>(dir: string | undefined, fn: () => Promise<T>): Promise<T> => withNodeArgs(NODE_GC_ARGS, () => profiled(dir, fn));

export function runE2eOnce(o: E2eOptions): Promise<E2eRun> {
  const prof = (system: string): string | undefined => (o.profileDir === undefined ? undefined : join(o.profileDir, system));
  return inTempDir(async (dir, logDir) => {
    o.log(`  floor: bare uWebSockets.js relays, ${o.replicas} replica relays, ${o.ratePerS} orders/s for ${o.durationS} s${o.warmupS > 0 ? ` after a ${o.warmupS} s warm-up (each system)` : ""}`);
    const floor = await traced(prof("floor"), () => runFloor(o, logDir, prof("floor")));
    let nats: SideResult | undefined;
    const found = findNatsServer();
    if ("missing" in found) o.log(`  NATS peer skipped: ${found.missing}`);
    else {
      o.log(`  NATS peer: nats-server with JetStream, ${o.replicas} ordered consumers, same load`);
      nats = await traced(prof("nats"), () => runNats(o, dir, logDir, prof("nats")));
    }
    o.log(`  lockstep: sequencer + ${o.replicas} replicas, same load`);
    const lockstep = await traced(prof("lockstep"), () => runLockstep(o, dir, prof("lockstep")));
    let gateway: (SideResult & LockstepExtras) | undefined;
    if (o.gateway === true) {
      o.log(`  lockstep through a gateway: the same cluster, the clients on \`lockstep gateway\` (one shard), same load`);
      const gwDir = join(dir, "gateway");
      mkdirSync(gwDir, { recursive: true });
      gateway = await traced(prof("gateway"), () => runLockstep(o, gwDir, prof("gateway"), logDir));
    }
    return { floor, ...(nats === undefined ? {} : { nats }), lockstep, ...(gateway === undefined ? {} : { gateway }) };
  });
}

/** A NATS probe of the sustainable-rate search: this long at each rate (or the run's duration, if shorter). */
const NATS_PROBE_DURATION_S = 5;
/** Bisection steps between 0 and the rate it did not keep up at: the answer is within rate / 2^steps. */
const NATS_PROBE_STEPS = 4;
/** Kept up: achieved at least this share of offered. */
export const KEEPS_UP_SHARE = 0.95;

export interface NatsProbe { rate: number; achieved_per_s: number; kept_up: boolean }

/**
 * Bisection below a rate that failed: probes the midpoint of what is known to pass (lo, from 0)
 * and to fail (hi), `steps` times; resolves with the highest rate that passed (0 if none did).
 */
export async function bisectRate(failedRate: number, steps: number, passes: (rate: number) => Promise<boolean>): Promise<number> {
  let lo = 0;
  let hi = failedRate;
  for (let step = 0; step < steps; step++) {
    const rate = Math.round((lo + hi) / 2);
    if (rate <= lo || rate >= hi) break;
    if (await passes(rate)) lo = rate;
    else hi = rate;
  }
  return lo;
}

/**
 * The highest rate at which the NATS peer keeps up (achieved ≥ 95 % of offered), by bisection
 * below `failedRate` with short runs of the peer alone.
 */
export async function natsSustainedRate(o: E2eOptions, failedRate: number): Promise<{ sustained_per_s: number; probes: NatsProbe[] }> {
  const probes: NatsProbe[] = [];
  const sustained = await bisectRate(failedRate, NATS_PROBE_STEPS, async (rate) => {
    const po = { ...o, ratePerS: rate, durationS: Math.min(o.durationS, NATS_PROBE_DURATION_S), profileDir: undefined };
    const r = await inTempDir((dir, logDir) => runNats(po, dir, logDir));
    const keptUp = r.achieved_per_s >= KEEPS_UP_SHARE * rate;
    probes.push({ rate, achieved_per_s: r.achieved_per_s, kept_up: keptUp });
    o.log(`  NATS peer at ${rate} orders/s: achieved ${r.achieved_per_s}/s${keptUp ? ", keeps up" : ", does not keep up"}`);
    return keptUp;
  });
  return { sustained_per_s: sustained, probes };
}
