/**
 * What the dashboard shows, gathered once for every browser: each node's /stats polled at a
 * fixed rate (one request per node per poll, however many pages are open), the book and the
 * trade tape from one replica's feed (FeedClient: snapshot + checksummed updates, failover),
 * folded into one snapshot that the server publishes at most 10 times a second.
 */
import type { ReplicaStats } from "../replica/replica.js";
import type { SequencerStats } from "../sequencer/sequencer.js";
import { FeedClient } from "../client/feed.js";
import { checkpointsDisagree, getJson } from "../cluster/launcher.js";
import type { LatencySummary } from "../metrics/latency.js";
import type { TradeMsg } from "../protocol/messages.js";

export interface DashboardNode {
  readonly id: string;
  readonly role: "sequencer" | "replica";
  /** http://host:port/stats */
  readonly stats: string;
  /** ws://host:port/feed (replicas) */
  readonly feed?: string;
}

export interface ReplicaView {
  id: string;
  up: boolean;
  /** green: up, caught up, agreeing; red: down, forked, disagreeing, or far behind. */
  status: "green" | "red";
  why: string;
  seq: number;
  lagSeq: number;
  /** Sequencer → replica one-way time, skew-compensated, p50 of the last second (ms). */
  lagMs: number;
  offsetUs: number | null;
  boundUs: number | null;
  oneWayRawP50: number;
  oneWayCompP50: number;
  oneWayRawP99: number;
  oneWayCompP99: number;
  /** Cumulative percentile curves [p50, p90, p99, p99.9, p99.99, max] per hop, µs. */
  hops: Record<string, number[]>;
}

export interface Snapshot {
  at: number;
  seq: number;
  epoch: number;
  ordersPerS: number;
  acks: number;
  agree: boolean;
  rejects: Record<string, number>;
  book: { bids: [number, number][]; asks: [number, number][]; seq: number };
  trades: { seq: number; px: number; qty: number; side: number }[];
  replicas: ReplicaView[];
  controls: boolean;
  /** With several shards (lockstep start --shards): this page's shard, and every shard's line. */
  shard?: string;
  shards?: ShardRow[];
}

/** One shard's line on every shard's dashboard: its health at a glance, and where its own page is. */
export interface ShardRow {
  id: string;
  /** Its own dashboard page. */
  url: string;
  instruments: number[];
  seq: number;
  epoch: number;
  ordersPerS: number;
  acks: number;
  /** Replicas up, of all its replicas. */
  replicasUp: number;
  replicas: number;
  agree: boolean;
  /** green: every replica green and agreeing; red otherwise (why says which first). */
  status: "green" | "red";
  why: string;
}

/** A shard's line from its dashboard's snapshot. */
export function shardRow(id: string, url: string, instruments: readonly number[], s: Snapshot): ShardRow {
  const red = s.replicas.find((r) => r.status === "red");
  const why = !s.agree ? "replicas disagree" : red !== undefined ? `${red.id}: ${red.why}` : "";
  return {
    id, url, instruments: [...instruments], seq: s.seq, epoch: s.epoch, ordersPerS: s.ordersPerS, acks: s.acks,
    replicasUp: s.replicas.filter((r) => r.up).length, replicas: s.replicas.length, agree: s.agree, status: why === "" ? "green" : "red", why,
  };
}

/** A replica this far behind the sequencer shows red (it is catching up, not serving current data). */
const BEHIND_SEQ_MAX = 5_000;
const TRADES_KEPT = 40;
/**
 * A node that has not answered /stats within this is shown down. Under the demo's 5,000 orders/s
 * on 2 cores the replicas answered HTTP in 0.2–1.7 s (curl against `lockstep start`, this build
 * and the one before it alike): with 1 s, a busy live replica was shown down, and the browser
 * test waited for it in vain.
 */
const STATS_TIMEOUT_MS = 3000;
/** How much longer than STATS_TIMEOUT_MS a poll waits for a request that has not given up by itself. */
const POLL_GRACE_MS = 250;
const FEED_RETRY_MS = 2000;
const LEVELS = 20;

export class Collector {
  private seqStats: SequencerStats | null = null;
  private readonly replicaStats = new Map<string, ReplicaStats | null>();
  private readonly trades: Snapshot["trades"] = [];
  private feed: FeedClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastRate = { at: 0, commands: 0, perS: 0 };
  private polling = false;
  private stopped = false;
  private feedRetry: NodeJS.Timeout | null = null;

  private readonly nodes: DashboardNode[];

  constructor(nodes: readonly DashboardNode[], private readonly instrument: number, private readonly pollMs: number, private readonly controls: boolean) {
    this.nodes = [...nodes];
  }

  /** A node came back at another address (a restarted replica that could not have its old port). */
  replaceNode(n: DashboardNode): void {
    const i = this.nodes.findIndex((x) => x.id === n.id);
    if (i >= 0) this.nodes[i] = n;
  }

  async start(): Promise<void> {
    const feeds = this.nodes.filter((n) => n.role === "replica" && n.feed !== undefined).map((n) => n.feed!);
    if (feeds.length > 0) {
      this.feed = new FeedClient({ urls: feeds, instrument: this.instrument, onTrade: (t) => this.onTrade(t) });
      await this.connectFeed();
    }
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.pollMs);
  }

  /** The FeedClient fails over once connected; until a replica answers at all, try again every 2 s. */
  private async connectFeed(): Promise<void> {
    const feed = this.feed;
    if (feed === null || this.stopped) return;
    await feed.connect().catch(() => { this.feedRetry = setTimeout(() => void this.connectFeed(), FEED_RETRY_MS); });
  }

  private onTrade(t: TradeMsg): void {
    this.trades.unshift({ seq: t.seq, px: t.px, qty: t.qty, side: t.side });
    if (this.trades.length > TRADES_KEPT) this.trades.length = TRADES_KEPT;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await Promise.all(this.nodes.map(async (n) => {
        // One try with a short timeout: a node that does not answer now shows as down now. The
        // timer of our own bounds the poll even if a request outlived its abort signal: one stuck
        // request must not stop every later poll (and leave a node shown down for good).
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), STATS_TIMEOUT_MS + POLL_GRACE_MS); });
        const s = await Promise.race([getJson<SequencerStats | ReplicaStats>(n.stats, 1, STATS_TIMEOUT_MS).catch(() => null), deadline]);
        clearTimeout(timer);
        if (n.role === "sequencer") {
          if (s !== null) this.onSequencer(s as SequencerStats);
        } else this.replicaStats.set(n.id, s as ReplicaStats | null);
      }));
    } finally {
      this.polling = false;
    }
  }

  private onSequencer(s: SequencerStats): void {
    const now = performance.now();
    if (this.lastRate.at > 0) this.lastRate.perS = Math.round(((s.commands - this.lastRate.commands) * 1000) / (now - this.lastRate.at));
    this.lastRate.at = now;
    this.lastRate.commands = s.commands;
    this.seqStats = s;
  }

  snapshot(): Snapshot {
    const s = this.seqStats;
    const lagOf = new Map((s?.replicas ?? []).map((r) => [r.id, r.lag]));
    const disagree = checkpointsDisagree([...this.replicaStats.values()].filter((r): r is ReplicaStats => r !== null));
    const replicas = this.nodes.filter((n) => n.role === "replica").map((n): ReplicaView => {
      const r = this.replicaStats.get(n.id) ?? null;
      const lagSeq = r === null ? 0 : Math.max(lagOf.get(n.id) ?? 0, (s?.seq ?? 0) - r.seq);
      const why = r === null ? "down" : r.forked !== null ? "forked" : disagree ? "hashes disagree" : lagSeq > BEHIND_SEQ_MAX ? "catching up" : "";
      const last = r?.latency_last_second;
      const cum = r?.latency;
      const curve = (h: LatencySummary | undefined): number[] => (h === undefined ? [] : [h.p50, h.p90, h.p99, h.p999, h.p9999, h.max]);
      return {
        id: n.id, up: r !== null, status: why === "" ? "green" : "red", why, seq: r?.seq ?? 0, lagSeq,
        lagMs: Math.round((last?.one_way_compensated_us?.p50 ?? 0) / 100) / 10,
        offsetUs: r?.skew?.offset_us ?? null, boundUs: r?.skew?.bound_us ?? null,
        oneWayRawP50: last?.one_way_raw_us?.p50 ?? 0, oneWayCompP50: last?.one_way_compensated_us?.p50 ?? 0,
        oneWayRawP99: last?.one_way_raw_us?.p99 ?? 0, oneWayCompP99: last?.one_way_compensated_us?.p99 ?? 0,
        hops: { "seq→replica raw": curve(cum?.one_way_raw_us), "seq→replica compensated": curve(cum?.one_way_compensated_us), "apply": curve(cum?.apply_us) },
      };
    });
    const engineRejects = [...this.replicaStats.values()].find((r) => r !== null)?.engine_rejects ?? {};
    const top = this.feed?.book.top(LEVELS) ?? { bids: [], asks: [] };
    return {
      at: Date.now(), seq: s?.seq ?? 0, epoch: s?.epoch ?? 0, ordersPerS: this.lastRate.perS, acks: s?.acks ?? 0,
      agree: !disagree && (s?.divergences ?? 0) === 0 && replicas.every((r) => r.why !== "forked"),
      rejects: { ...(s?.rejects ?? {}), ...engineRejects },
      book: { bids: top.bids, asks: top.asks, seq: this.feed?.book.seq ?? 0 },
      trades: this.trades, replicas, controls: this.controls,
    };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.feedRetry !== null) clearTimeout(this.feedRetry);
    this.feed?.close();
  }
}
