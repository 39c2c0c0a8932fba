/**
 * Feed client SDK: execution reports for one account and the L2 book of one instrument, from
 * a replica's /feed endpoint, with failover across replicas. A report is identified by
 * (seq, acct, n), the same on every replica, and the last report a command produced for the
 * account says `last: true`. After moving to another replica the client asks for reports from
 * the first seq it may not have complete (its last seq, or the one after when that seq's last
 * report has arrived) and drops what it already holds, so none is lost or repeated. The local
 * book is rebuilt from a snapshot and every update's checksum is verified; a mismatch is
 * reported and the book is re-fetched.
 *
 * Through a gateway (docs/scaling.md#the-gateway) the reports of every shard come merged on one
 * connection, each with `sh`, its shard's number, and a `seq` of that shard's: the client keeps
 * the newest report held per shard and resumes each shard from its own, so a move to another
 * gateway loses and repeats nothing either.
 *
 * A replica that goes silent (a link that delivers nothing, without FIN or RST) is noticed by
 * the client, not by TCP: it pings every quarter of `silenceMsMax` and, when it has heard
 * nothing (no frame, no pong) for `silenceMsMax`, drops the connection and moves on as if it
 * had closed. The opening handshake has the same deadline.
 */
import { WebSocket, type ClientOptions } from "ws";
import { watchSilence } from "./silence.js";
import { bookChecksum } from "../protocol/checksum.js";
import { decode, encode } from "../protocol/codec.js";
import { executionReportOf, type ExecutionReport } from "./codec.js";
import { proofFor, type Credentials } from "./trading.js";
import { MsgType, PROTOCOL_VERSION, type BookSnapshot, type BookUpdate, type ErrorMsg, type InstrumentsMsg, type Report, type TradeMsg } from "../protocol/messages.js";
import type { InstrumentRef } from "../protocol/reference.js";

export interface FeedOptions {
  readonly urls: readonly string[];
  readonly account?: number;
  readonly instrument?: number;
  /** Each new report as it is on the wire. */
  readonly onReport?: (r: Report) => void;
  /** Each new report in the SDK's words (status names, cumulative quantity, average price …). */
  readonly onExecution?: (r: ExecutionReport) => void;
  readonly onBook?: (book: LocalBook) => void;
  readonly onTrade?: (t: TradeMsg) => void;
  /** When given, the client asks for every instrument's reference data (INSTRUMENTS) on each connect and hands it here. */
  readonly onInstruments?: (instruments: InstrumentRef[]) => void;
  /** Called when the local book's checksum disagrees with the replica's (it is then re-fetched). */
  readonly onChecksumMismatch?: (seq: number) => void;
  readonly onFailover?: (url: string) => void;
  /** Needed to read an account's reports from replicas that require authentication. */
  readonly credentials?: Credentials;
  /** Options for the WebSocket (e.g. `{ ca }` for wss:// through a TLS proxy). */
  readonly socket?: ClientOptions;
  /** A replica heard from in nothing (no frame, no pong) for this long is left for the next one. */
  readonly silenceMsMax?: number;
  /**
   * Reports of commands up to and including this seq are not wanted (the caller already knows
   * the account as of it, e.g. from REST's open orders): the first SUB_REPORTS asks `from` the
   * next seq. Default 0: every report the replica keeps.
   */
  readonly reportsAfterSeq?: number;
}

/** The newest report held of one shard. */
interface Cursor { readonly seq: number; readonly n: number; readonly done: boolean }
/** The key of reports that carry no `sh`: straight from a replica. */
const DIRECT = -1;

/** Default `silenceMsMax`: the same deadline the replication link uses. */
export const FEED_SILENCE_MS_MAX = 2_000;
/** Reconnection backoff after a lost replica: first try, then doubling up to the cap. */
const RECONNECT_MS_MIN = 20;
const RECONNECT_MS_MAX = 2_000;

/** A book kept from snapshot + updates. */
export class LocalBook {
  readonly bids = new Map<number, number>();
  readonly asks = new Map<number, number>();
  seq = 0;

  reset(s: BookSnapshot): void {
    this.bids.clear();
    this.asks.clear();
    for (const [p, q] of s.bids) this.bids.set(p, q);
    for (const [p, q] of s.asks) this.asks.set(p, q);
    this.seq = s.seq;
  }

  apply(u: BookUpdate): void {
    for (const [side, p, q] of u.ch) {
      const m = side === 0 ? this.bids : this.asks;
      if (q === 0) m.delete(p);
      else m.set(p, q);
    }
    this.seq = u.seq;
  }

  top(levels = Number.MAX_SAFE_INTEGER): { bids: [number, number][]; asks: [number, number][] } {
    const bids = [...this.bids].sort((a, b) => b[0] - a[0]).slice(0, levels);
    const asks = [...this.asks].sort((a, b) => a[0] - b[0]).slice(0, levels);
    return { bids, asks };
  }

  checksum(): number {
    const t = this.top(10);
    return bookChecksum(t.bids, t.asks);
  }
}

export class FeedClient {
  readonly book = new LocalBook();
  private urlIndex = 0;
  private ws: WebSocket | null = null;
  /**
   * The newest report held per shard (DIRECT: reports without `sh`, from a replica): its seq and
   * n, and whether it was its command's last (`done`).
   */
  private readonly lasts = new Map<number, Cursor>();
  /** Where a shard not heard from yet starts: before every report, or after `reportsAfterSeq`. */
  private readonly first: Cursor;
  private closing = false;
  private bookReady = false;
  private readonly seqWaiters: { seq: number; shard: number; resolve: () => void }[] = [];
  private readonly silenceMsMax: number;
  reportsReceived = 0;
  duplicatesDropped = 0;
  /** Connections dropped because the replica went silent. */
  silences = 0;

  constructor(private readonly o: FeedOptions) {
    this.silenceMsMax = o.silenceMsMax ?? FEED_SILENCE_MS_MAX;
    const after = o.reportsAfterSeq ?? 0;
    if (!Number.isSafeInteger(after) || after < 0) throw new Error(`FeedClient: reportsAfterSeq must be a seq (an integer ≥ 0), not ${String(after)}`);
    // As if every report of `after` had arrived: resume from after + 1, drop anything older.
    this.first = after > 0 ? { seq: after, n: Number.MAX_SAFE_INTEGER, done: true } : { seq: 0, n: -1, done: true };
  }

  private last(shard: number): Cursor {
    return this.lasts.get(shard) ?? this.first;
  }

  /** Connects to the first reachable replica and subscribes. */
  async connect(): Promise<void> {
    for (let tries = 0; tries < this.o.urls.length * 3; tries++) {
      try {
        await this.open(this.o.urls[this.urlIndex]!);
        return;
      } catch {
        this.urlIndex = (this.urlIndex + 1) % this.o.urls.length;
      }
    }
    throw new Error(`no replica reachable among ${this.o.urls.join(", ")}`);
  }

  /** The newest report held (straight from replicas; through a gateway, see lastReportOf). */
  get lastReport(): { seq: number; n: number; done: boolean } {
    return { ...this.last(DIRECT) };
  }

  /** Through a gateway: the newest report held of shard number `shard`. */
  lastReportOf(shard: number): { seq: number; n: number; done: boolean } {
    return { ...this.last(shard) };
  }

  /** Where to resume from `last` on a (re)connect: after `seq` when all its reports are here, else at `seq` (0: all kept). */
  private resumeFrom(last: Cursor): number {
    if (last.seq === 0) return 0;
    return last.done ? last.seq + 1 : last.seq;
  }

  /**
   * SUB_REPORTS for a (re)connect. Through a gateway, once reports with `sh` have come: one per
   * shard heard from, each from its own seq, then one without `sh` for the shards not heard from.
   */
  private subscriptions(account: number): object[] {
    const shards = [...this.lasts.keys()].filter((k) => k !== DIRECT);
    const each = shards.map((sh) => ({ v: PROTOCOL_VERSION, t: MsgType.SUB_REPORTS, acct: account, from: this.resumeFrom(this.last(sh)), sh }));
    const rest = shards.length > 0 ? this.first : this.last(DIRECT);
    return [...each, { v: PROTOCOL_VERSION, t: MsgType.SUB_REPORTS, acct: account, from: this.resumeFrom(rest) }];
  }
  get url(): string {
    return this.o.urls[this.urlIndex]!;
  }

  private open(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: this.silenceMsMax, ...this.o.socket, perMessageDeflate: false });
      ws.binaryType = "nodebuffer";
      ws.once("error", reject);
      ws.once("open", () => {
        ws.off("error", reject);
        ws.on("error", () => undefined);
        this.ws = ws;
        this.bookReady = false;
        watchSilence(ws, () => this.silenceMsMax, () => { this.silences++; });
        if (this.o.account !== undefined) {
          if (this.o.credentials !== undefined) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO, acct: this.o.account, ...proofFor(this.o.credentials, this.o.account) }));
          for (const m of this.subscriptions(this.o.account)) ws.send(encode(m));
        }
        if (this.o.onInstruments !== undefined) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.INSTRUMENTS }));
        if (this.o.instrument !== undefined) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUB_BOOK, inst: this.o.instrument }));
        resolve();
      });
      ws.on("message", (data: Buffer) => this.onFrame(data));
      ws.on("close", () => this.onClose(ws));
    });
  }

  private onClose(ws: WebSocket): void {
    if (this.ws !== ws || this.closing) return;
    this.ws = null;
    this.urlIndex = (this.urlIndex + 1) % this.o.urls.length;
    this.o.onFailover?.(this.url);
    const retry = (delayMs: number): void => {
      setTimeout(() => {
        if (this.closing) return;
        this.open(this.url).catch(() => {
          this.urlIndex = (this.urlIndex + 1) % this.o.urls.length;
          retry(Math.min(RECONNECT_MS_MAX, delayMs * 2));
        });
      }, delayMs);
    };
    retry(RECONNECT_MS_MIN);
  }

  private onFrame(data: Buffer): void {
    const m = decode(data) as Report | BookSnapshot | BookUpdate | TradeMsg | InstrumentsMsg | ErrorMsg | undefined;
    if (m === undefined) return;
    switch (m.t) {
      case MsgType.REPORT: {
        const shard = m.sh ?? DIRECT;
        const last = this.last(shard);
        if (m.seq < last.seq || (m.seq === last.seq && m.n <= last.n)) {
          this.duplicatesDropped++;
          return;
        }
        this.lasts.set(shard, { seq: m.seq, n: m.n, done: m.last === true });
        this.reportsReceived++;
        this.o.onReport?.(m);
        if (this.o.onExecution !== undefined) this.o.onExecution(executionReportOf(m));
        for (let i = this.seqWaiters.length - 1; i >= 0; i--) {
          const w = this.seqWaiters[i]!;
          if (this.caughtUpTo(w.seq, w.shard)) this.seqWaiters.splice(i, 1)[0]!.resolve();
        }
        return;
      }
      case MsgType.BOOK_SNAPSHOT:
        this.book.reset(m);
        this.bookReady = true;
        this.o.onBook?.(this.book);
        return;
      case MsgType.BOOK_UPDATE:
        if (!this.bookReady || m.seq <= this.book.seq) return;
        this.book.apply(m);
        if (this.book.checksum() !== m.cs) {
          this.o.onChecksumMismatch?.(m.seq);
          this.bookReady = false;
          this.ws?.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUB_BOOK, inst: m.inst }));
          return;
        }
        this.o.onBook?.(this.book);
        return;
      case MsgType.TRADE:
        this.o.onTrade?.(m);
        return;
      case MsgType.INSTRUMENTS:
        this.o.onInstruments?.(m.insts);
        return;
      default:
        return;
    }
  }

  /** True once every report up to and including command `seq`'s (of shard `shard`) has arrived. */
  private caughtUpTo(seq: number, shard: number): boolean {
    const last = this.last(shard);
    return last.seq > seq || (last.seq === seq && last.done);
  }

  /**
   * Resolves once the last report of command `seq` (or a report of a later one) has arrived:
   * each command an account sends yields at least one report to it, the last marked `last`.
   * Resolves anyway after `timeoutMs`. Through a gateway, `shard` is the shard's number (the
   * ACK's `sh`), and `seq` that shard's.
   */
  caughtUp(seq: number, timeoutMs = 10_000, shard = DIRECT): Promise<void> {
    if (this.caughtUpTo(seq, shard)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.seqWaiters.push({ seq, shard, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  close(): void {
    this.closing = true;
    this.ws?.close();
  }
}
