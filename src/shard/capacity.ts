/**
 * What N shards carry, by simulation (docs/scaling.md, "Capacity past one machine"): a venue's
 * instruments with a skewed popularity, placed over N shards by the real rule (rendezvous.ts),
 * each node one core whose CPU cost per order was measured (`lockstep bench e2e`), and the
 * gateways sharing the orders that come through them. For each N it finds the highest total
 * order rate no node runs past `utilizationMax` of its core at, which node that is, and how far
 * from N times one shard the placement's imbalance and the hottest instrument leave it.
 *
 * A model, not a measurement: every node's cost per order is the one measured at one rate on
 * one machine (costs fall as batches grow, so at higher rates they are pessimistic), the network
 * and etcd cost nothing (neither is on the order path's CPU), and every shard's nodes have cores
 * of their own. Popularity is Zipf: the instrument of rank r gets weight 1 / r^skew, the ranks
 * shuffled over the ids by a seeded generator, and each trial draws another shuffle.
 */
import { Rng } from "../util/rng.js";
import { placement, type Pins } from "./rendezvous.js";

/** CPU µs per order of each kind of node, as `lockstep bench e2e` measures them. */
export interface NodeCosts {
  readonly sequencer: number;
  /** The replica that serves the clients' reports and market data. */
  readonly servingReplica: number;
  /** A replica that serves nobody (a hot standby for reads, or a recovery source). */
  readonly replica: number;
  readonly gateway: number;
}

export interface Workload {
  /** Instrument ids 1 … instruments. */
  readonly instruments: number;
  /** Zipf exponent of popularity: 0 gives every instrument the same share. */
  readonly skew: number;
  /** Of all orders, the share that comes through gateways (0 … 1); the rest from SDK clients that route themselves. */
  readonly gatewayShare: number;
  /** Gateway processes (a core each); haproxy spreads the gateway traffic evenly over them. */
  readonly gateways: number;
  /** The share of a node's core it may use: past ~70 % queueing makes a node's tail grow fast. */
  readonly utilizationMax: number;
  /** Instruments held to a shard, as the map's `pins`. */
  readonly pins?: Pins;
}

/** One trial of N shards. */
export interface Trial {
  readonly maxRatePerS: number;
  /** "s3's sequencer", "gateways", … */
  readonly limitedBy: string;
  /** The busiest shard's share of all orders (1/N when perfectly even). */
  readonly busiestShare: number;
  /** The most popular instrument's share of all orders. */
  readonly hottestShare: number;
}

export interface CapacityRow {
  readonly shards: number;
  readonly trials: number;
  /** Median and lowest over the trials, orders/s. */
  readonly max_rate_per_s: { median: number; min: number };
  /** What limited the trial of median rate. */
  readonly limited_by: string;
  /** Median max rate over N times one shard's: what placement and popularity cost. */
  readonly efficiency: number;
  readonly busiest_share: { median: number; max: number };
  readonly hottest_share_median: number;
}

export const SHARD_COUNT_MAX = 64;
export const TRIALS_MAX = 1_000;

/** Each instrument's share of all orders: Zipf over ranks, the ranks shuffled over the ids by `rng`. */
export function popularity(instruments: number, skew: number, rng: Rng): Float64Array {
  const ranks = Array.from({ length: instruments }, (_, i) => i + 1);
  for (let i = ranks.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [ranks[i], ranks[j]] = [ranks[j]!, ranks[i]!];
  }
  const share = new Float64Array(instruments + 1);
  let total = 0;
  for (let id = 1; id <= instruments; id++) total += share[id] = 1 / ranks[id - 1]! ** skew;
  for (let id = 1; id <= instruments; id++) share[id]! /= total;
  return share;
}

/** Where the rule puts instruments 1 … w.instruments over `shardIds` (with w's pins): the same for every trial of one N. */
export function placed(w: Workload, shardIds: readonly string[]): ReadonlyMap<number, string> {
  return placement(Array.from({ length: w.instruments }, (_, i) => i + 1), shardIds.map((id) => ({ id })), w.pins);
}

/** One trial: the rate at which the first node reaches utilizationMax, given each instrument's share and the placement. */
export function trial(costs: NodeCosts, w: Workload, shardIds: readonly string[], share: Float64Array, where = placed(w, shardIds)): Trial {
  const perShard = new Map<string, number>(shardIds.map((id) => [id, 0]));
  let hottest = 0;
  for (const [id, shard] of where) {
    perShard.set(shard, perShard.get(shard)! + share[id]!);
    hottest = Math.max(hottest, share[id]!);
  }
  const coreUs = 1e6 * w.utilizationMax;
  // A shard's nodes each see every order of the shard; its dearest node is its limit.
  const [worstNode, worstCost] = ([["sequencer", costs.sequencer], ["serving replica", costs.servingReplica], ["replica", costs.replica]] as const)
    .reduce((a, b) => (b[1] > a[1] ? b : a));
  let maxRate = Infinity;
  let limitedBy = "";
  let busiest = 0;
  for (const [id, s] of perShard) {
    busiest = Math.max(busiest, s);
    if (s === 0) continue;
    const rate = coreUs / worstCost / s;
    if (rate < maxRate) { maxRate = rate; limitedBy = `${id}'s ${worstNode}`; }
  }
  if (w.gatewayShare > 0) {
    const rate = (w.gateways * coreUs) / (costs.gateway * w.gatewayShare);
    if (rate < maxRate) { maxRate = rate; limitedBy = "gateways"; }
  }
  return { maxRatePerS: maxRate, limitedBy, busiestShare: busiest, hottestShare: hottest };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

/** For each shard count, `trials` popularity draws (seeded from `seed`): the rates N shards carry. */
export function capacity(costs: NodeCosts, w: Workload, shardCounts: readonly number[], trials: number, seed: number): CapacityRow[] {
  const single = (1e6 * w.utilizationMax) / Math.max(costs.sequencer, costs.servingReplica, costs.replica);
  return shardCounts.map((n) => {
    const shardIds = Array.from({ length: n }, (_, k) => `s${k + 1}`);
    const rng = new Rng(seed);
    const where = placed(w, shardIds);
    const runs = Array.from({ length: trials }, () => trial(costs, w, shardIds, popularity(w.instruments, w.skew, rng), where));
    const rates = runs.map((r) => r.maxRatePerS);
    const mid = median(rates);
    return {
      shards: n, trials,
      max_rate_per_s: { median: Math.round(mid), min: Math.round(Math.min(...rates)) },
      limited_by: runs.find((r) => r.maxRatePerS === mid)!.limitedBy,
      efficiency: Math.round((mid / (n * single)) * 1000) / 1000,
      busiest_share: { median: round4(median(runs.map((r) => r.busiestShare))), max: round4(Math.max(...runs.map((r) => r.busiestShare))) },
      hottest_share_median: round4(median(runs.map((r) => r.hottestShare))),
    };
  });
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;
