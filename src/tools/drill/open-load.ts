/**
 * Open-loop order flow for the nemesis drill, recording every operation for history.ts:
 *
 *   pace      each account sends at its own fixed rate whatever happens to earlier requests
 *             (no window: a stalled sequencer does not slow the offered load, as real traders
 *             do not wait), up to PENDING_MAX unanswered per connection
 *   deadline  a request unanswered for `opTimeoutMs` is marked timed out and its connection is
 *             taken for dead and dropped (terminate, no handshake); every other request then
 *             pending on it ends "unknown"; the client reconnects to whichever node leads.
 *             A connection that hears nothing for the SDK's silence deadline is dropped too.
 *   feeds     one feed client per account reads its execution reports from the replicas
 *             (SDK failover across them), each report kept with its arrival time
 * While no connection is up, due operations are not sent and only counted (`unsent`).
 */
import { FeedClient } from "../../client/feed.js";
import { LockstepError, TRADE_SILENCE_MS_MAX, TradingClient } from "../../client/trading.js";
import type { Ack } from "../../protocol/messages.js";
import { Rng } from "../../util/rng.js";
import type { Op, ReportSeen } from "./history.js";

export interface OpenLoadOptions {
  readonly tradeUrls: readonly string[];
  readonly feedUrls: readonly string[];
  readonly accounts: readonly number[];
  readonly ratePerS: number;
  readonly instrument: number;
  readonly mid: number;
  readonly opTimeoutMs: number;
  readonly seed: number;
  /** The instrument's largest quantity: the tag of new orders counts up to it. */
  readonly qtyMax: number;
}

/** Unanswered requests per connection before further due ones are counted unsent. */
const PENDING_MAX = 20_000;
const CONNECT_TIMEOUT_MS = 1_000;
const RECONNECT_MS_MIN = 20;
const RECONNECT_MS_MAX = 500;
/** How often each account's pacer wakes, and how often deadlines are checked. */
const PACE_MS = 5;
const DEADLINE_CHECK_MS = 50;
/** Share of operations that cancel one of the account's resting orders (when it has one). */
const CANCEL_SHARE = 0.4;

class Account {
  client: TradingClient | null = null;
  node = -1;
  connecting = false;
  /** Sent on the current connection and not answered yet, oldest first. */
  pending: Op[] = [];
  readonly live: number[] = [];
  newCount = 0;
  sent = 0;
  reconnectMs = RECONNECT_MS_MIN;

  constructor(readonly acct: number, readonly rng: Rng) {}
}

export class OpenLoad {
  readonly ops: Op[] = [];
  readonly reports = new Map<number, ReportSeen[]>();
  /** Arrival time of every ack, in arrival order (so sorted). */
  readonly ackTimesMs: number[] = [];
  unsent = 0;
  connects = 0;
  private readonly accounts: Account[];
  private readonly feeds: FeedClient[] = [];
  private timers: NodeJS.Timeout[] = [];
  private startedMs = 0;
  private stopping = false;
  private opTimeoutMs_: number;

  constructor(private readonly o: OpenLoadOptions) {
    this.accounts = o.accounts.map((a, i) => new Account(a, new Rng(o.seed * 7919 + i)));
    this.opTimeoutMs_ = o.opTimeoutMs;
  }

  /** The request deadline. */
  get opTimeoutMs(): number {
    return this.opTimeoutMs_;
  }
  /**
   * A scenario may lengthen it, to keep connections to a paused node: the connections' silence
   * deadline follows (the SDK's own, TRADE_SILENCE_MS_MAX, at the options' deadline or less).
   */
  set opTimeoutMs(ms: number) {
    this.opTimeoutMs_ = ms;
    for (const a of this.accounts) if (a.client !== null) a.client.silenceMsMax = this.silenceMsMax();
  }

  private silenceMsMax(): number {
    return this.opTimeoutMs_ > this.o.opTimeoutMs ? this.opTimeoutMs_ : TRADE_SILENCE_MS_MAX;
  }

  async start(): Promise<void> {
    for (const [i, acct] of this.o.accounts.entries()) {
      const seen: ReportSeen[] = [];
      this.reports.set(acct, seen);
      const urls = this.o.feedUrls.map((_, k) => this.o.feedUrls[(i + k) % this.o.feedUrls.length]!);
      const feed = new FeedClient({ urls, account: acct, onReport: (r) => { const { v: _v, t: _t, ...rest } = r; seen.push({ ...rest, atMs: performance.now() }); } });
      await feed.connect();
      this.feeds.push(feed);
    }
    this.startedMs = performance.now();
    const perAccount = this.o.ratePerS / this.accounts.length;
    for (const a of this.accounts) {
      this.connect(a);
      this.timers.push(setInterval(() => this.pace(a, perAccount), PACE_MS));
    }
    this.timers.push(setInterval(() => { for (const a of this.accounts) this.checkDeadline(a); }, DEADLINE_CHECK_MS));
  }

  /** Index of the first ack that arrived after `ms`, or -1. */
  firstAckAfter(ms: number): number {
    let lo = 0, hi = this.ackTimesMs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ackTimesMs[mid]! <= ms) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.ackTimesMs.length ? lo : -1;
  }

  private connect(a: Account): void {
    if (a.connecting || this.stopping) return;
    a.connecting = true;
    const attempt = async (): Promise<void> => {
      for (const [i, url] of this.o.tradeUrls.entries()) {
        try {
          const c = await TradingClient.connect(url, a.acct, CONNECT_TIMEOUT_MS, undefined, undefined, { silenceMsMax: this.silenceMsMax() });
          if (this.stopping) return void c.terminate();
          this.attach(a, c, i);
          return;
        } catch {
          /* a standby (NOT_LEADER), a node down, or a link that swallows the login: the next */
        }
      }
      throw new Error("no sequencer node took the login");
    };
    attempt().then(() => { a.connecting = false; }, () => {
      a.connecting = false;
      setTimeout(() => this.connect(a), a.reconnectMs);
      a.reconnectMs = Math.min(RECONNECT_MS_MAX, a.reconnectMs * 2);
    });
  }

  private attach(a: Account, c: TradingClient, node: number): void {
    a.client = c;
    a.node = node;
    a.pending = [];
    a.reconnectMs = RECONNECT_MS_MIN;
    this.connects++;
    void c.closed.then(() => {
      if (a.client !== c) return;
      a.client = null;
      this.connect(a);
    });
  }

  private pace(a: Account, ratePerS: number): void {
    if (this.stopping) return;
    const due = Math.floor(((performance.now() - this.startedMs) * ratePerS) / 1000);
    for (; a.sent < due; a.sent++) {
      if (a.client === null || a.pending.length >= PENDING_MAX) this.unsent++;
      else this.send(a, a.client);
    }
  }

  private send(a: Account, client: TradingClient): void {
    const r = a.rng;
    const cancel = r.next() < CANCEL_SHARE && a.live.length > 0;
    let op: Op;
    let sent: Promise<Ack>;
    if (cancel) {
      const oid = a.live.splice(r.int(0, a.live.length - 1), 1)[0]!;
      op = { acct: a.acct, kind: "cancel", side: 0, px: 0, qty: 0, oid, node: a.node, invokeMs: performance.now(), endMs: 0, outcome: "pending", seq: 0, code: 0 };
      sent = client.cancel(oid);
    } else {
      if (a.newCount >= this.o.qtyMax) return void this.unsent++;
      const side = (r.next() < 0.5 ? 0 : 1) as 0 | 1;
      const offset = r.next() < 0.2 ? -1 : 1 + Math.floor(r.next() * 10);
      const px = this.o.mid + (side === 0 ? -offset : offset);
      // The quantity is the tag that makes this command unique in the log (see history.ts).
      const qty = ++a.newCount;
      op = { acct: a.acct, kind: "new", side, px, qty, oid: 0, node: a.node, invokeMs: performance.now(), endMs: 0, outcome: "pending", seq: 0, code: 0 };
      sent = client.submit({ instrument: this.o.instrument, side: side === 0 ? "buy" : "sell", price: px, quantity: qty });
    }
    this.ops.push(op);
    a.pending.push(op);
    sent.then((ack) => {
      if (op.outcome !== "pending") return;
      op.outcome = "ack";
      op.seq = ack.seq;
      op.endMs = performance.now();
      this.ackTimesMs.push(op.endMs);
      if (op.kind === "new") a.live.push(ack.oid);
    }, (err: unknown) => {
      if (op.outcome !== "pending") return;
      op.endMs = performance.now();
      if (err instanceof LockstepError && err.code !== 0) {
        op.outcome = "reject";
        op.code = err.code;
      } else op.outcome = "unknown";
    }).finally(() => this.settled(a));
  }

  /** Drops answered requests from the head of the pending list. */
  private settled(a: Account): void {
    while (a.pending.length > 0 && a.pending[0]!.outcome !== "pending") a.pending.shift();
  }

  /** The oldest request unanswered past the deadline times out, and its connection is dropped as dead. */
  private checkDeadline(a: Account): void {
    this.settled(a);
    const oldest = a.pending[0];
    const c = a.client;
    if (oldest === undefined || c === null || performance.now() - oldest.invokeMs <= this.opTimeoutMs) return;
    oldest.outcome = "timeout";
    oldest.endMs = performance.now();
    c.terminate();
  }

  /** Stops sending; waits up to `opTimeoutMs` for answers, then drops every connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const deadline = performance.now() + this.opTimeoutMs;
    while (this.ops.some((p) => p.outcome === "pending") && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const a of this.accounts) {
      a.client?.terminate();
      a.client = null;
    }
    await new Promise((r) => setTimeout(r, 50));
    for (const op of this.ops) if (op.outcome === "pending") op.outcome = "unknown";
  }

  /** Waits until each account's feed has a report at or past its seq in `lastSeqOf`, or `timeoutMs`. */
  async feedsCaughtUp(lastSeqOf: (acct: number) => number, timeoutMs: number): Promise<void> {
    await Promise.all(this.feeds.map((f, i) => f.caughtUp(lastSeqOf(this.o.accounts[i]!), timeoutMs)));
  }

  closeFeeds(): void {
    for (const f of this.feeds) f.close();
  }
}
