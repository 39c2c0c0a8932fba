/**
 * `lockstep bench e2e`: the floor (bare uWebSockets.js relays, same topology) and then a
 * Lockstep cluster, each a set of separate processes, driven by the same open-loop generator at
 * the same rate with the same order mix; Lockstep's percentiles are reported as ratios to the
 * floor's, measured minutes apart on the same machine. With --repeat N the pair runs N times and
 * the median of each figure is reported.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnNode, stopNode, type NodeProcess, type ReplicaStats } from "../../cluster/launcher.js";
import { DrillCluster } from "../drill/cluster.js";
import type { LatencySummary } from "../../metrics/latency.js";
import { findNatsServer, natsTransport, startNatsServer } from "./nats.js";
import { runLoad, wsTransport, type LoadOptions, type LoadResult, type Target } from "./client.js";

export interface E2eOptions {
  readonly baseConfig: string;
  readonly ratePerS: number;
  readonly durationS: number;
  readonly replicas: number;
  readonly clients: number;
  readonly instrument: number;
  readonly mid: number;
  readonly seed: number;
  readonly log: (line: string) => void;
  readonly progress?: (phase: string, sent: number, total: number) => void;
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
}

export interface LockstepExtras {
  /** Acked orders some replica never applied. */
  lost: number;
  replicas: { id: string; seq: number; hash: string; one_way_raw_us: Percentiles; one_way_compensated_us: Percentiles; skew_offset_us: number | null; skew_bound_us: number | null }[];
  hashes_agree: boolean;
  /** Sequencer's view of each replica's lag in seqs, sampled once a second. */
  lag_seq: { p50: number; p99: number; max: number };
}

/** `nats` is absent when nats-server is not installed (the run says so). */
export interface E2eRun { floor: SideResult; nats?: SideResult; lockstep: SideResult & LockstepExtras }

const CURVE_PERCENTILES = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100];

function pct(s: LatencySummary): Percentiles {
  return { p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, p9999: s.p9999, max: s.max, count: s.count };
}

function side(r: LoadResult): SideResult {
  const h = r.fillResponse.histogram("cumulative");
  const curve = h.totalCount === 0 ? [] : CURVE_PERCENTILES.map((p) => [p, p === 100 ? h.maxValue : h.getValueAtPercentile(p)] as [number, number]);
  return {
    offered_per_s: r.offered_per_s, achieved_per_s: r.achieved_per_s, sent: r.sent, acked: r.acked, fills: r.fills, unfilled: r.unfilled, unanswered: r.unanswered, rejected: r.rejected,
    order_to_ack_us: pct(r.ackResponse.summary()), order_to_ack_service_us: pct(r.ackService.summary()),
    order_to_fill_us: pct(r.fillResponse.summary()), order_to_fill_service_us: pct(r.fillService.summary()),
    generator_lateness_us: pct(r.lateness.summary()), fill_curve: curve,
  };
}

function loadOptions(o: E2eOptions, phase: string): LoadOptions {
  return {
    ratePerS: o.ratePerS, durationS: o.durationS, clients: o.clients, instrument: o.instrument, mid: o.mid, seed: o.seed, drainMs: 10_000,
    ...(o.progress === undefined ? {} : { onProgress: (sent: number, total: number) => o.progress!(phase, sent, total) }),
  };
}

/** The floor: one sequence relay and N replica relays as processes; the client reads replica relay 0. */
async function runFloor(o: E2eOptions, logDir: string): Promise<SideResult> {
  const nodes: NodeProcess[] = [];
  try {
    const seq = await spawnNode("relay-seq", ["relay", "seq", "--port", "0"], logDir);
    nodes.push(seq);
    for (let i = 0; i < o.replicas; i++) nodes.push(await spawnNode(`relay-r${i + 1}`, ["relay", "replica", "--port", "0", "--upstream", `ws://127.0.0.1:${String(seq.ready.port)}/replicate`], logDir));
    const target: Target = { tradeUrl: `ws://127.0.0.1:${String(seq.ready.port)}/trade`, feedUrl: `ws://127.0.0.1:${String(nodes[1]!.ready.port)}/feed` };
    return side(await runLoad(wsTransport(target), loadOptions(o, "floor")));
  } finally {
    await Promise.all(nodes.map(stopNode));
  }
}

/** The NATS peer: a nats-server with JetStream and N consumer processes; the client reads the first one's reports. */
async function runNats(o: E2eOptions, dir: string, logDir: string): Promise<SideResult> {
  const server = await startNatsServer(dir, logDir);
  const nodes: NodeProcess[] = [];
  try {
    for (let i = 0; i < o.replicas; i++) nodes.push(await spawnNode(`nats-r${i + 1}`, ["relay", "nats-replica", "--nats", server.url, ...(i === 0 ? ["--reports"] : [])], logDir));
    return side(await runLoad(natsTransport(server.url), loadOptions(o, "nats")));
  } finally {
    await Promise.all(nodes.map(stopNode));
    await server.stop();
  }
}

/** Rate limits out of the way: the benchmark measures capacity, not the gateway's throttling. */
const BENCH_LIMITS = { connectionRatePerS: 10_000_000, connectionBurst: 10_000_000, accountRatePerS: 10_000_000, accountBurst: 10_000_000, connectionsMax: 10_000 };

async function runLockstep(o: E2eOptions, dir: string): Promise<SideResult & LockstepExtras> {
  const c = new DrillCluster({ baseConfig: o.baseConfig, dir, replicas: o.replicas, sequencer: { limits: BENCH_LIMITS } });
  try {
    await c.start();
    const lagSamples: number[] = [];
    const sampler = setInterval(() => {
      c.sequencerStats().then((s) => { for (const r of s.replicas) lagSamples.push(r.lag); }, () => undefined);
    }, 1000);
    let r: LoadResult;
    try {
      r = await runLoad(wsTransport({ tradeUrl: c.tradeUrl, feedUrl: c.feedUrl(0) }), loadOptions(o, "lockstep"));
    } finally {
      clearInterval(sampler);
    }
    const rs = await c.settle(60_000);
    const applied = Math.min(...rs.map((x) => x.seq));
    let lost = 0;
    for (const s of r.ackedSeqs) if (s > applied) lost++;
    // settle() returns each replica's whole /stats, read after it caught up: the full latency summaries are in it.
    const full = rs as (ReplicaStats & { latency: Record<string, LatencySummary> })[];
    lagSamples.sort((a, b) => a - b);
    const at = (p: number): number => (lagSamples.length === 0 ? 0 : lagSamples[Math.min(lagSamples.length - 1, Math.floor((p / 100) * lagSamples.length))]!);
    return {
      ...side(r), lost, hashes_agree: new Set(rs.map((x) => x.hash)).size === 1,
      replicas: full.map((s) => ({
        id: s.id, seq: s.seq, hash: s.hash, one_way_raw_us: pct(s.latency.one_way_raw_us!), one_way_compensated_us: pct(s.latency.one_way_compensated_us!),
        skew_offset_us: s.skew?.offset_us ?? null, skew_bound_us: s.skew?.bound_us ?? null,
      })),
      lag_seq: { p50: at(50), p99: at(99), max: lagSamples.at(-1) ?? 0 },
    };
  } finally {
    await c.stop();
  }
}

export async function runE2eOnce(o: E2eOptions): Promise<E2eRun> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-e2e-"));
  const logDir = join(dir, "logs");
  mkdirSync(logDir, { recursive: true });
  try {
    o.log(`  floor: bare uWebSockets.js relays, ${o.replicas} replica relays, ${o.ratePerS} orders/s for ${o.durationS} s`);
    const floor = await runFloor(o, logDir);
    let nats: SideResult | undefined;
    const found = findNatsServer();
    if ("missing" in found) o.log(`  NATS peer skipped: ${found.missing}`);
    else {
      o.log(`  NATS peer: nats-server with JetStream, ${o.replicas} ordered consumers, same load`);
      nats = await runNats(o, dir, logDir);
    }
    o.log(`  lockstep: sequencer + ${o.replicas} replicas, same load`);
    const lockstep = await runLockstep(o, dir);
    return { floor, ...(nats === undefined ? {} : { nats }), lockstep };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
