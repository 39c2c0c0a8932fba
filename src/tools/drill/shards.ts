/**
 * `lockstep drill shards` (docs/scaling.md, "lockstep drill shards"): scaling out under load.
 * Shards s1 and s2, each a whole group (a leader and a standby in one shared etcd, two
 * replicas, every node supervised), trade instruments 1 … INSTRUMENTS placed by the rule; a
 * load routed by the shard map in etcd (ShardedTradingClient, watching it) sends orders to every
 * instrument. The run:
 *
 *   1. quiet      the load alone, for a third of --duration: each shard's ack times, the baseline
 *   2. scale out  shard s3 starts (holding nothing), is added to the map (withShardAdded), and the
 *                 rebalance moves live every instrument the rule now gives it (rebalance.ts)
 *   3. kill       kill -9 of s1's leader; its standby takes over; the node is started again
 *   4. tail       the load for the last third of --duration, then it stops and every node settles
 *   5. check      from the clients' acks and every node's journal on disk: every acked order is in
 *                 its shard's log at the seq its ACK named (lost), no order is in the logs twice
 *                 (duplicates), the two sequencer nodes of each shard hold the same records
 *                 (forks), each shard's replicas end with one hash (diverged), and each move's
 *                 book hash before equals the hash after
 *
 * Order→ack and order→fill times, per shard, per phase: an order's phase is the one it was sent
 * in, and the kill phase is the KILL_WINDOW_MS after the kill. Order→fill is from the send to the
 * order's first FILL report as taker, which each stream's account follows on every shard's
 * replicas (FeedClient). Every wait is bounded; every process is stopped at the end.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FeedClient } from "../../client/feed.js";
import { LockstepError, TradingClient } from "../../client/trading.js";
import { ReportKind } from "../../protocol/messages.js";
import { ShardedTradingClient } from "../../client/sharded.js";
import { startEtcd, type EtcdProcess } from "../../cluster/etcd.js";
import { decodeRecord } from "../../protocol/record.js";
import { firstShardMap, withShardAdded, type ShardSpec } from "../../shard/map.js";
import { placement } from "../../shard/rendezvous.js";
import { rebalance, RebalanceError, type RebalanceResult } from "../../shard/rebalance.js";
import { ShardMapStore } from "../../shard/store.js";
import { DrillCluster } from "./cluster.js";
import { within } from "./failover.js";
import { readNodeLog, type NodeLog } from "./history.js";
import { setTimeout as sleep } from "node:timers/promises";
import { Rng } from "../../util/rng.js";

export interface ShardsDrillOptions {
  readonly baseConfig: string;
  readonly durationS: number;
  /** Orders per second over all instruments. */
  readonly ratePerS: number;
  readonly log: (line: string) => void;
}

/** Instruments the drill trades, 1 … INSTRUMENTS. */
const INSTRUMENTS = 8;
const OPERATOR = 9_000;
/** Each instrument's stream trades as its own account: ACCOUNT_BASE + instrument. */
const ACCOUNT_BASE = 100;
/** Orders of one stream sent and not yet answered, at most. */
const IN_FLIGHT_MAX = 4;
/** One order's answer, ms: past it the order's outcome is unknown (it may still be in the log). */
const ORDER_MS_MAX = 10_000;
/** The kill phase: orders sent this long after the kill. */
const KILL_WINDOW_MS = 5_000;
/** s1's standby leading after the kill, and every node settled at the end, at most (ms). */
const FAILOVER_MS_MAX = 20_000;
const SETTLE_MS_MAX = 60_000;

const instrument = (id: number): object => ({ id, symbol: `SH-${id}`, tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 });
const ALL = Array.from({ length: INSTRUMENTS }, (_, i) => i + 1);

type Phase = "quiet" | "scale_out" | "kill" | "tail";
interface Op { readonly inst: number; readonly acct: number; readonly qty: number; readonly phase: Phase; readonly sentMs: number; ms: number; outcome: "ack" | "reject" | "unknown"; shard: string; seq: number; oid: number }

export interface PhaseLatency { orders: number; p50_ms: number; p99_ms: number; max_ms: number }
export interface ShardsDrillResult {
  duration_s: number; rate_per_s: number; instruments: number;
  orders: { sent: number; acked: number; rejected: number; unknown: number };
  /** Per shard, per phase: order→ack of the orders sent in it and acked. */
  ack_latency: Record<string, Partial<Record<Phase, PhaseLatency>>>;
  /** Per shard, per phase: order→fill (send → the first FILL report of the order as taker, from its shard's replicas) of the orders that filled at once. */
  fill_latency: Record<string, Partial<Record<Phase, PhaseLatency>>>;
  /** Each shard's order→ack and order→fill p99 in the kill phase over its quiet p99 (s3 has no quiet phase). */
  kill_p99_over_quiet: Record<string, { ack: number | null; fill: number | null }>;
  /** Each shard's kill-phase p99 against the band its own quiet phase allows by chance (noiseBand); null where a phase has no orders. */
  kill_noise_band: Record<string, { ack: NoiseBand | null; fill: NoiseBand | null }>;
  /** Whether every shard but the killed one (s1) that had a quiet phase kept its order→fill p99 within its band during the kill; null if none could be judged. */
  others_within_noise: boolean | null;
  rebalance: { moved: number; ms_total: number; hashes_equal: boolean; moves: { instrument: number; from: string; to: string; orders: number; ms: number }[]; error?: string };
  kill: { shard: string; killed: string; new_leader: string; failover_ms: number };
  map_version: number;
  checks: { lost: number; duplicates: number; forks: number; diverged: number; unknown_in_log: number; unknown_absent: number };
  shards: { id: string; seq: number; replicas: { id: string; seq: number; hash: string }[]; journals_identical: boolean }[];
  examples: Record<string, unknown[]>;
}

/** Until the group's leader takes a login (a group that has just started may lead before it serves), at most `timeoutMs`. */
async function untilTrading(g: DrillCluster, timeoutMs: number): Promise<void> {
  let last = "";
  await within(() => `a login to the new group (last refusal: ${last})`, timeoutMs, async () => {
    try {
      await (await TradingClient.connectAny(g.tradeUrls, OPERATOR, 2_000)).close();
      return true;
    } catch (err) {
      last = (err as Error).message;
      return undefined;
    }
  });
}

/** Until both sequencer nodes run and hold the leader's last seq (the restarted one caught up as standby); returns that seq. At most `timeoutMs`. */
async function untilInSync(g: DrillCluster, timeoutMs: number): Promise<number> {
  let seen = "";
  return within(() => `the sequencer nodes holding one seq with one of them leading (last seen: ${seen})`, timeoutMs, async () => {
    const up = g.seqIds.every((_, i) => g.processOf("sequencer", i) !== null);
    const seqs = up ? await Promise.all(g.seqIds.map((_, i) => g.seqNodeStats(i).then((x) => ({ seq: x.seq, leads: x.ha_role === "leader" }), () => null))) : [];
    seen = JSON.stringify(seqs);
    const leader = seqs.find((x): x is { seq: number; leads: boolean } => x?.leads === true);
    return leader !== undefined && seqs.every((x) => x !== null && x.seq === leader.seq) ? leader.seq : undefined;
  });
}

/** Per shard and phase, the latency of each order `ms` gives one for (undefined: none, e.g. not acked or never filled). */
function byPhase(ops: readonly Op[], shards: readonly string[], ms: (op: Op) => number | undefined): Record<string, Partial<Record<Phase, PhaseLatency>>> {
  const out: Record<string, Partial<Record<Phase, PhaseLatency>>> = {};
  for (const id of shards) {
    out[id] = {};
    for (const p of ["quiet", "scale_out", "kill", "tail"] as const) {
      const xs = phaseSeries(ops, id, p, ms);
      if (xs.length > 0) out[id]![p] = latency(xs);
    }
  }
  return out;
}

/** The latencies `ms` gives the acked orders of shard `id` sent in phase `p`, in the order they were sent (as `ops` holds them). */
function phaseSeries(ops: readonly Op[], id: string, p: Phase, ms: (op: Op) => number | undefined): number[] {
  return ops.flatMap((x) => {
    const v = x.outcome === "ack" && x.shard === id && x.phase === p ? ms(x) : undefined;
    return v === undefined ? [] : [v];
  });
}

/** Resampled windows per noise band. */
const NOISE_RESAMPLES = 2_000;
/** Blocks per resampled window: each block is a run of consecutive quiet orders, so bursts stay bursts. */
const NOISE_BLOCKS_PER_WINDOW = 10;
/** The band's quantiles of the resampled p99s: 95 % of windows of quiet load fall inside. */
const NOISE_QUANTILES = [0.025, 0.975] as const;

/** The p99s a window of `n` orders shows by chance under quiet load, and one window's p99 against them. */
export interface NoiseBand { orders_per_window: number; p99_low_ms: number; p99_high_ms: number; p99_ms: number; within: boolean }

/** The p-quantile of sorted `s` as PhaseLatency reports it. */
const quantile = (s: readonly number[], q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
const tenth = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * How far the p99 of `window` (one phase's latencies) is from what the quiet phase's own
 * variation allows: a moving-block bootstrap of `quiet` (latencies in the order the orders were
 * sent). Each resample is a pseudo-window of window.length orders made of NOISE_BLOCKS_PER_WINDOW
 * runs of consecutive quiet orders, starting at random; its p99 is one draw. The band is the
 * middle 95 % of NOISE_RESAMPLES draws, and `within` says the window's p99 is at most its top
 * (both to a tenth of a ms, as reported).
 * Runs of orders rather than single orders are drawn because latency comes in bursts (a GC
 * pause, a busy core delays several orders at once): drawing orders one by one would make the
 * quiet run look steadier than it was and the band too narrow. The seed fixes the draws, so a
 * result file's band can be recomputed from its inputs. Null without quiet orders or a window.
 */
export function noiseBand(quiet: readonly number[], window: readonly number[], seed = 1): NoiseBand | null {
  const n = window.length;
  if (quiet.length === 0 || n === 0) return null;
  const block = Math.min(quiet.length, Math.max(1, Math.ceil(n / NOISE_BLOCKS_PER_WINDOW)));
  const rng = new Rng(seed);
  const draws: number[] = [];
  const pseudo = new Array<number>(n);
  for (let k = 0; k < NOISE_RESAMPLES; k++) {
    for (let filled = 0; filled < n;) {
      const start = rng.int(0, quiet.length - block);
      for (let i = 0; i < block && filled < n; i++) pseudo[filled++] = quiet[start + i]!;
    }
    pseudo.sort((a, b) => a - b);
    draws.push(quantile(pseudo, 0.99));
  }
  draws.sort((a, b) => a - b);
  const p99 = tenth(quantile([...window].sort((a, b) => a - b), 0.99));
  const high = tenth(quantile(draws, NOISE_QUANTILES[1]));
  return { orders_per_window: n, p99_low_ms: tenth(quantile(draws, NOISE_QUANTILES[0])), p99_high_ms: high, p99_ms: p99, within: p99 <= high };
}

function latency(ms: number[]): PhaseLatency {
  const s = [...ms].sort((a, b) => a - b);
  return { orders: s.length, p50_ms: tenth(quantile(s, 0.5)), p99_ms: tenth(quantile(s, 0.99)), max_ms: tenth(s.at(-1) ?? 0) };
}

export async function runShardsDrill(o: ShardsDrillOptions): Promise<ShardsDrillResult> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-drill-shards-"));
  let etcd: EtcdProcess | undefined;
  const groups = new Map<string, DrillCluster>();
  let store: ShardMapStore | undefined;
  const clients: ShardedTradingClient[] = [];
  const feeds: FeedClient[] = [];
  /** `shard:oid` → when the order's first FILL as taker arrived (performance.now()). */
  const filledAt = new Map<string, number>();
  /** Every stream's account follows its reports on a shard's replicas (the order path's far end). */
  const follow = async (shard: string, feedUrls: readonly string[]): Promise<void> => {
    for (const inst of ALL) {
      const f = new FeedClient({
        urls: feedUrls, account: ACCOUNT_BASE + inst,
        onReport: (r) => { if (r.k === ReportKind.FILL && r.liq === 1 && !filledAt.has(`${shard}:${r.oid}`)) filledAt.set(`${shard}:${r.oid}`, performance.now()); },
      });
      feeds.push(f);
      await f.connect();
    }
  };
  let stopping = false;
  const streams: Promise<void>[] = [];
  try {
    etcd = await startEtcd(dir, join(dir, "logs"));
    store = new ShardMapStore([etcd.url]);
    const first = placement(ALL, [{ id: "s1", weight: 1 }, { id: "s2", weight: 1 }]);
    const group = async (id: string, holds: (i: number) => boolean): Promise<DrillCluster> => {
      mkdirSync(join(dir, id), { recursive: true });
      const g = new DrillCluster({
        baseConfig: o.baseConfig, dir: join(dir, id), replicas: 2, sequencer: { operatorAccount: OPERATOR },
        config: { instruments: ALL.map(instrument), instrumentsAway: ALL.filter((i) => !holds(i)) },
        ha: { etcd: etcd!.url, sequencers: 2, cluster: id }, supervise: { restartMs: 200 },
      });
      groups.set(id, g);
      await g.start();
      return g;
    };
    const spec = (id: string, g: DrillCluster): ShardSpec => ({ id, weight: 1, endpoints: { trade: g.tradeUrls, feed: g.ids.map((_, i) => g.feedUrl(i)) } });
    const [g1, g2] = await Promise.all([group("s1", (i) => first.get(i) === "s1"), group("s2", (i) => first.get(i) === "s2")]);
    await store.write(firstShardMap([spec("s1", g1), spec("s2", g2)], {}, ALL));
    await Promise.all([follow("s1", spec("s1", g1).endpoints.feed), follow("s2", spec("s2", g2).endpoints.feed)]);
    o.log(`s1 holds ${ALL.filter((i) => first.get(i) === "s1").join(",")}; s2 holds ${ALL.filter((i) => first.get(i) === "s2").join(",")}`);

    // ---- the load: one stream per instrument, its own account, routed by the map in etcd
    const ops: Op[] = [];
    let phase: Phase = "quiet";
    let killAtMs = Infinity;
    const gapMs = (1000 * INSTRUMENTS * IN_FLIGHT_MAX) / o.ratePerS;
    for (const inst of ALL) {
      const acct = ACCOUNT_BASE + inst;
      const c = await ShardedTradingClient.fromEtcd([etcd.url], { account: acct });
      clients.push(c);
      let qty = 0;
      for (let w = 0; w < IN_FLIGHT_MAX; w++) {
        streams.push((async () => {
          while (!stopping) {
            const t = performance.now();
            // Every order of an account has its own quantity: its tag in the logs.
            const op: Op = { inst, acct, qty: ++qty, phase: t >= killAtMs && t < killAtMs + KILL_WINDOW_MS ? "kill" : phase, sentMs: t, ms: 0, outcome: "unknown", shard: "", seq: 0, oid: 0 };
            ops.push(op);
            let timer: NodeJS.Timeout | undefined;
            try {
              const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error("no answer")), ORDER_MS_MAX); });
              const ack = await Promise.race([c.submit({ instrument: inst, side: op.qty % 2 === 0 ? "buy" : "sell", price: 10_000 + (op.qty % 5) - 2, quantity: op.qty }), late]);
              op.outcome = "ack";
              op.shard = ack.shard;
              op.seq = ack.seq;
              op.oid = ack.oid;
            } catch (err) {
              // A refusal the sequencer sent is an answer (nothing was sequenced); a lost connection or a timeout is not.
              if (err instanceof LockstepError && err.code !== 0) op.outcome = "reject";
            } finally {
              clearTimeout(timer);
            }
            op.ms = performance.now() - t;
            await sleep(Math.max(0, gapMs - op.ms));
          }
        })());
      }
    }

    // ---- 1. quiet
    const thirdMs = (o.durationS * 1000) / 3;
    o.log(`load: ${o.ratePerS} orders/s over ${INSTRUMENTS} instruments; quiet for ${Math.round(thirdMs)} ms`);
    await sleep(thirdMs);

    // ---- 2. scale out
    phase = "scale_out";
    const g3 = await group("s3", () => false);
    await untilTrading(g3, FAILOVER_MS_MAX);
    await follow("s3", spec("s3", g3).endpoints.feed);
    const { map } = await store.readOrFail();
    await store.write(withShardAdded(map, spec("s3", g3)));
    o.log("s3 started and added to the map; rebalancing");
    let rb: RebalanceResult | undefined;
    let rbError: string | undefined;
    try {
      rb = await rebalance(store, { account: OPERATOR }, (line) => o.log(`  ${line}`));
    } catch (err) {
      if (!(err instanceof RebalanceError)) throw err;
      rb = err.done;
      rbError = err.message;
      o.log(`rebalance stopped: ${err.message}`);
    }

    // ---- 3. kill s1's leader
    const killed = await g1.leader();
    killAtMs = performance.now();
    phase = "tail";
    await g1.killSequencerNode(killed);
    const standby = 1 - killed;
    await g1.untilLeader(standby, FAILOVER_MS_MAX);
    const failoverMs = performance.now() - killAtMs;
    o.log(`killed ${g1.seqIds[killed]} (s1's leader); ${g1.seqIds[standby]} leads after ${Math.round(failoverMs)} ms`);
    // An operator (or its supervisor) starts the killed node again: it follows the new leader as a standby.
    await g1.startSequencerNode(killed);

    // ---- 4. tail
    await sleep(Math.max(thirdMs, KILL_WINDOW_MS));
    stopping = true;
    await Promise.all(streams);
    await Promise.all(clients.map((c) => c.close()));
    clients.length = 0;
    // The last fills' reports (an order's FILL can come after its ACK).
    await sleep(500);
    for (const f of feeds) f.close();
    feeds.length = 0;

    // ---- 5. check
    const shardIds = ["s1", "s2", "s3"];
    const logs = new Map<string, NodeLog[]>();
    const shards: ShardsDrillResult["shards"] = [];
    let diverged = 0;
    let forks = 0;
    const examples: Record<string, unknown[]> = { lost: [], duplicates: [], forks: [] };
    for (const id of shardIds) {
      const g = groups.get(id)!;
      // Every node up again (the supervisor restarted the killed one) and every replica at the leader's last seq.
      const seq = await untilInSync(g, SETTLE_MS_MAX);
      const stats = await g.settle(SETTLE_MS_MAX);
      await g.stop();
      const nodeLogs = g.seqIds.map((s, i) => readNodeLog(s, g.seqJournalDir(i)));
      logs.set(id, nodeLogs);
      const [a, b] = nodeLogs as [NodeLog, NodeLog];
      const common = Math.min(a.lastSeq, b.lastSeq);
      let differ = 0;
      for (let s = 1; s <= common; s++) if (!a.records.get(s)!.bytes.equals(b.records.get(s)!.bytes)) differ++;
      if (differ > 0) { forks += differ; examples.forks!.push({ shard: id, differ }); }
      const replicas = stats.map((r, i) => ({ id: g.ids[i]!, seq: r.seq, hash: r.hash }));
      if (new Set(replicas.map((r) => r.hash)).size !== 1 || replicas.some((r) => r.seq !== seq)) diverged++;
      shards.push({ id, seq, replicas, journals_identical: differ === 0 && a.lastSeq === b.lastSeq });
    }
    // The final log of a shard: the longer of its two nodes' (they are identical where both have records).
    const finalLog = (id: string): NodeLog => logs.get(id)!.reduce((x, y) => (y.lastSeq > x.lastSeq ? y : x));
    const tagged = new Map<string, { shard: string; seq: number }[]>();
    for (const id of shardIds) {
      for (const [seq, r] of finalLog(id).records) {
        const c = decodeRecord(r.bytes).cmd;
        if (c.type !== "limit" || c.account < ACCOUNT_BASE) continue;
        const tag = `${c.account}/${c.qty}`;
        const found = tagged.get(tag);
        if (found === undefined) tagged.set(tag, [{ shard: id, seq }]);
        else found.push({ shard: id, seq });
      }
    }
    let lost = 0, duplicates = 0, unknownIn = 0, unknownAbsent = 0;
    for (const op of ops) {
      const found = tagged.get(`${op.acct}/${op.qty}`) ?? [];
      if (found.length > 1) { duplicates++; if (examples.duplicates!.length < 5) examples.duplicates!.push({ op, found }); }
      if (op.outcome === "ack" && !found.some((f) => f.shard === op.shard && f.seq === op.seq)) { lost++; if (examples.lost!.length < 5) examples.lost!.push({ op, found }); }
      if (op.outcome === "unknown") { if (found.length > 0) unknownIn++; else unknownAbsent++; }
    }

    const ackMs = (x: Op): number => x.ms;
    const fillMs = (x: Op): number | undefined => {
      const at = filledAt.get(`${x.shard}:${x.oid}`);
      return at === undefined ? undefined : at - x.sentMs;
    };
    const ackLatency = byPhase(ops, shardIds, ackMs);
    const fillLatency = byPhase(ops, shardIds, fillMs);
    const over = (q: number | undefined, k: number | undefined): number | null => (q === undefined || k === undefined || q === 0 ? null : Math.round((k / q) * 100) / 100);
    const killOverQuiet: ShardsDrillResult["kill_p99_over_quiet"] = {};
    for (const id of shardIds) {
      killOverQuiet[id] = { ack: over(ackLatency[id]!.quiet?.p99_ms, ackLatency[id]!.kill?.p99_ms), fill: over(fillLatency[id]!.quiet?.p99_ms, fillLatency[id]!.kill?.p99_ms) };
    }
    const noise: ShardsDrillResult["kill_noise_band"] = {};
    const band = (id: string, ms: (op: Op) => number | undefined): NoiseBand | null => noiseBand(phaseSeries(ops, id, "quiet", ms), phaseSeries(ops, id, "kill", ms));
    for (const id of shardIds) noise[id] = { ack: band(id, ackMs), fill: band(id, fillMs) };
    const judged = shardIds.filter((id) => id !== "s1" && noise[id]!.fill !== null);
    const moves = rb.moved.map((m) => ({ instrument: m.instrument, from: m.from, to: m.to, orders: m.orders, ms: m.ms.total }));
    return {
      duration_s: o.durationS, rate_per_s: o.ratePerS, instruments: INSTRUMENTS,
      orders: { sent: ops.length, acked: ops.filter((x) => x.outcome === "ack").length, rejected: ops.filter((x) => x.outcome === "reject").length, unknown: ops.filter((x) => x.outcome === "unknown").length },
      ack_latency: ackLatency, fill_latency: fillLatency, kill_p99_over_quiet: killOverQuiet,
      kill_noise_band: noise, others_within_noise: judged.length === 0 ? null : judged.every((id) => noise[id]!.fill!.within),
      rebalance: { moved: rb.moved.length, ms_total: rb.ms_total, hashes_equal: rb.moved.every((m) => m.hashes_equal), moves, ...(rbError === undefined ? {} : { error: rbError }) },
      kill: { shard: "s1", killed: g1.seqIds[killed]!, new_leader: g1.seqIds[standby]!, failover_ms: Math.round(failoverMs) },
      map_version: rb.map_version,
      checks: { lost, duplicates, forks, diverged, unknown_in_log: unknownIn, unknown_absent: unknownAbsent },
      shards, examples,
    };
  } finally {
    stopping = true;
    await Promise.allSettled(streams);
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const f of feeds) f.close();
    store?.close();
    await Promise.allSettled([...groups.values()].map((g) => g.stop()));
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
