/**
 * A gateway's connections to the shards, on behalf of one client connection each:
 *
 *  - TradeLink  to a shard's leader (/trade): the shard's trade URLs in turn, the first that
 *               answers HELLO with HELLO_OK (standbys refuse with NOT_LEADER) is used. Commands
 *               get a cid of the link's own, so answers find their command whatever cids the
 *               client chose; a lost link fails what was in flight (the gateway then closes the
 *               client's connection: their outcome is unknown, as on any lost connection).
 *  - FeedLink   to one of a shard's replicas (/feed): reports of one account from a cursor, the
 *               books of some instruments; on a lost or silent replica it moves to the next URL
 *               after a backoff, resumes the reports after the last one it handed on (dropping
 *               what it already had) and takes fresh book snapshots.
 *
 * Both use the `ws` client, as the SDK does, and decode the nodes' frames with the trusting
 * decoder (the nodes are ours; the client's frames were checked before they got here).
 */
import { WebSocket } from "ws";
import { decode, encode } from "../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WireReason, type Ack, type ErrorMsg, type InstrumentsMsg, type Reject, type Report } from "../protocol/messages.js";
import type { InstrumentRef } from "../protocol/reference.js";

export interface LinkLimits {
  /** One trade URL gets this long to answer HELLO before the next is tried, ms. */
  readonly shardLoginMsMax: number;
  /** A feed link waits this long before its first reconnection, doubling up to shardRetryMsMax, ms. */
  readonly shardRetryMsMin: number;
  readonly shardRetryMsMax: number;
  /**
   * A shard's node heard from in nothing (no frame, no pong to our pings) this long is dropped,
   * ms: a replica for the next one; a leader's link as lost (a link can stop delivering with no
   * FIN or RST, and TCP would not say so for minutes).
   */
  readonly shardSilenceMsMax: number;
}

/** Why a link could not be made: a wire reason code and a plain message. */
export class LinkError extends Error {
  constructor(readonly code: WireReason, message: string) {
    super(message);
  }
}

/** Pings per silence deadline: a live replica answers several times before it. */
const PINGS_PER_SILENCE = 4;

/** A logged-in socket to the first of `urls` that answers `hello` with HELLO_OK; a LinkError otherwise (the last refusal's code, or SHARD_UNAVAILABLE). */
async function loginAny(urls: readonly string[], hello: () => object, timeoutMs: number): Promise<WebSocket> {
  let last = new LinkError(WireReason.SHARD_UNAVAILABLE, "no trade URL");
  for (const url of urls) {
    try {
      return await loginOne(url, hello(), timeoutMs);
    } catch (err) {
      last = err instanceof LinkError ? err : new LinkError(WireReason.SHARD_UNAVAILABLE, `${url}: ${(err as Error).message}`);
      // A refused login (bad key, say) is refused by every node alike: no use trying the others.
      if (last.code !== WireReason.NOT_LEADER && last.code !== WireReason.SHARD_UNAVAILABLE) throw last;
    }
  }
  throw last.code === WireReason.NOT_LEADER ? new LinkError(WireReason.SHARD_UNAVAILABLE, `no leader: ${last.message}`) : last;
}

function loginOne(url: string, hello: object, timeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    ws.binaryType = "nodebuffer";
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new LinkError(WireReason.SHARD_UNAVAILABLE, `${url}: no HELLO_OK within ${timeoutMs} ms`)), timeoutMs);
    const closedEarly = (): void => fail(new LinkError(WireReason.SHARD_UNAVAILABLE, `${url}: closed before HELLO_OK`));
    // Not once(): terminating a socket still connecting emits one more 'error', which must not go unheard.
    ws.on("error", (err) => fail(new LinkError(WireReason.SHARD_UNAVAILABLE, `${url}: ${err.message}`)));
    ws.once("close", closedEarly);
    ws.once("open", () => ws.send(encode(hello)));
    ws.once("message", (data: Buffer) => {
      const m = decode(data) as { t?: number; code?: number; msg?: string } | undefined;
      if (m?.t === MsgType.HELLO_OK && !settled) {
        settled = true;
        clearTimeout(timer);
        ws.off("close", closedEarly);
        return resolve(ws);
      }
      fail(new LinkError((m?.t === MsgType.REJECT ? m.code : WireReason.SHARD_UNAVAILABLE) as WireReason, `${url}: ${m?.t === MsgType.REJECT ? m.msg : "unexpected reply to HELLO"}`));
    });
  });
}

/**
 * Pings `ws` every quarter of `silenceMs` and terminates it once nothing (a frame or a pong) has
 * come for `silenceMs`; returns the timer, for the caller to clear, and a function to call on
 * each frame heard.
 */
function watchSilence(ws: WebSocket, silenceMs: number): { timer: NodeJS.Timeout; heard: () => void } {
  let heardAtMs = performance.now();
  const heard = (): void => { heardAtMs = performance.now(); };
  ws.on("pong", heard);
  const timer = setInterval(() => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (performance.now() - heardAtMs <= silenceMs) return ws.ping();
    ws.terminate();
  }, Math.max(1, Math.floor(silenceMs / PINGS_PER_SILENCE)));
  return { timer, heard };
}

type Answer = (m: Ack | Reject) => void;

export class TradeLink {
  /** Resolves once logged in; rejects with a LinkError. */
  readonly ready: Promise<void>;
  private ws: WebSocket | null = null;
  private nextCid = 1;
  private readonly waiting = new Map<number, Answer>();
  private closed = false;
  private silence: NodeJS.Timeout | null = null;
  /** No longer used for new commands (its shard left the map or changed URLs); closed once idle. */
  retired = false;

  constructor(readonly shardId: string, readonly urls: string, trade: readonly string[], hello: () => object, limits: LinkLimits, private readonly onLost: (link: TradeLink, inFlight: number) => void) {
    this.ready = loginAny(trade, hello, limits.shardLoginMsMax).then((ws) => {
      if (this.closed) {
        ws.close();
        throw new LinkError(WireReason.SHARD_UNAVAILABLE, "the client left");
      }
      this.ws = ws;
      const watch = watchSilence(ws, limits.shardSilenceMsMax);
      this.silence = watch.timer;
      ws.on("message", (data: Buffer) => {
        watch.heard();
        this.onFrame(data);
      });
      ws.on("error", () => undefined);
      ws.on("close", () => this.lost());
    });
    this.ready.catch(() => { this.closed = true; });
  }

  get inFlight(): number {
    return this.waiting.size;
  }
  get open(): boolean {
    return !this.closed;
  }

  /** Sends `body` (a client command without `cid`) once logged in; `answer` gets its ACK or REJECT, with the client's cid restored by the caller. */
  send(body: object, answer: Answer): void {
    const ws = this.ws;
    if (ws === null || this.closed || ws.readyState !== WebSocket.OPEN) {
      answer({ v: PROTOCOL_VERSION, t: MsgType.REJECT, cid: 0, code: WireReason.SHARD_UNAVAILABLE, msg: "the link to its leader has closed; retry" });
      return;
    }
    const cid = this.nextCid++;
    this.waiting.set(cid, answer);
    ws.send(encode({ ...body, cid }));
  }

  private onFrame(data: Buffer): void {
    const m = decode(data) as Ack | Reject | undefined;
    if (m === undefined || (m.t !== MsgType.ACK && m.t !== MsgType.REJECT)) return;
    const answer = this.waiting.get(m.cid);
    if (answer === undefined) return;
    this.waiting.delete(m.cid);
    answer(m);
    if (this.retired && this.waiting.size === 0) this.close();
  }

  private lost(): void {
    if (this.silence !== null) clearInterval(this.silence);
    if (this.closed) return;
    this.closed = true;
    const n = this.waiting.size;
    this.waiting.clear();
    this.onLost(this, n);
  }

  retire(): void {
    this.retired = true;
    if (this.waiting.size === 0) this.close();
  }

  close(): void {
    this.closed = true;
    if (this.silence !== null) clearInterval(this.silence);
    this.waiting.clear();
    this.ws?.close();
  }
}

/** What a FeedLink hands to its client connection. */
export interface FeedSink {
  /** A new report of the account (not one handed on before). */
  report(r: Report): void;
  /** A BOOK_SNAPSHOT, BOOK_UPDATE or TRADE frame of a subscribed instrument, as the replica sent it. */
  market(frame: Buffer): void;
  instruments(list: readonly InstrumentRef[]): void;
  /** An ERROR from the replica (an old `from`, a refused login). */
  error(e: ErrorMsg): void;
}

export class FeedLink {
  private ws: WebSocket | null = null;
  private urlIndex = 0;
  private retryMs: number;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private heard: () => void = () => undefined;
  private closed = false;
  /** The account whose reports are followed (0: none), and the newest report handed on. */
  private account = 0;
  private last = { seq: 0, n: -1, done: true };
  private readonly books = new Set<number>();
  private wantInstruments = false;
  reconnects = 0;

  constructor(readonly shardId: string, private readonly urls: readonly string[], private readonly hello: (account: number) => object, private readonly limits: LinkLimits, private readonly sink: FeedSink) {
    this.retryMs = limits.shardRetryMsMin;
    this.connect();
  }

  /** Follows `account`'s reports from seq `from` (0: all the replica keeps), dropping any cursor held. */
  reports(account: number, from: number): void {
    this.account = account;
    this.last = from > 0 ? { seq: from - 1, n: Number.MAX_SAFE_INTEGER, done: true } : { seq: 0, n: -1, done: true };
    // The link may be open already (for a book) without a login: log in as the account first.
    this.sendIfOpen(this.hello(account));
    this.sendIfOpen(this.subReports());
  }

  get followsReports(): boolean {
    return this.account !== 0;
  }

  book(inst: number): void {
    this.books.add(inst);
    this.sendIfOpen({ v: PROTOCOL_VERSION, t: MsgType.SUB_BOOK, inst });
  }

  /** Stops handing on `inst`'s market data (its instrument moved to another shard; the replica has no unsubscribe, so the frames are dropped here). */
  dropBook(inst: number): void {
    this.books.delete(inst);
  }

  instrumentsRequest(): void {
    this.wantInstruments = true;
    this.sendIfOpen({ v: PROTOCOL_VERSION, t: MsgType.INSTRUMENTS });
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.ws?.close();
    this.ws = null;
  }

  private subReports(): object {
    return { v: PROTOCOL_VERSION, t: MsgType.SUB_REPORTS, acct: this.account, from: this.last.seq === 0 ? 0 : this.last.done ? this.last.seq + 1 : this.last.seq };
  }

  private sendIfOpen(m: object): void {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) this.ws.send(encode(m));
  }

  private connect(): void {
    if (this.closed) return;
    const url = this.urls[this.urlIndex % this.urls.length]!;
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: this.limits.shardSilenceMsMax });
    ws.binaryType = "nodebuffer";
    ws.on("error", () => undefined);
    ws.once("open", () => {
      if (this.closed) return ws.close();
      this.ws = ws;
      this.retryMs = this.limits.shardRetryMsMin;
      if (this.account !== 0) {
        ws.send(encode(this.hello(this.account)));
        ws.send(encode(this.subReports()));
      }
      for (const inst of this.books) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUB_BOOK, inst }));
      if (this.wantInstruments) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.INSTRUMENTS }));
      if (this.heartbeat !== null) clearInterval(this.heartbeat);
      const watch = watchSilence(ws, this.limits.shardSilenceMsMax);
      this.heartbeat = watch.timer;
      this.heard = watch.heard;
    });
    ws.on("message", (data: Buffer) => {
      this.heard();
      this.onFrame(data);
    });
    ws.once("close", () => this.onClose(ws));
  }

  private onClose(ws: WebSocket): void {
    if (this.ws === ws) this.ws = null;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.closed) return;
    this.urlIndex++;
    this.reconnects++;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.limits.shardRetryMsMax, this.retryMs * 2);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private onFrame(data: Buffer): void {
    const m = decode(data) as Report | InstrumentsMsg | ErrorMsg | { t: number; inst: number } | undefined;
    if (m === undefined) return;
    switch (m.t) {
      case MsgType.REPORT: {
        const r = m as Report;
        if (r.seq < this.last.seq || (r.seq === this.last.seq && r.n <= this.last.n)) return;
        this.last = { seq: r.seq, n: r.n, done: r.last === true };
        this.sink.report(r);
        return;
      }
      case MsgType.BOOK_SNAPSHOT:
      case MsgType.BOOK_UPDATE:
      case MsgType.TRADE:
        if (this.books.has((m as { inst: number }).inst)) this.sink.market(data);
        return;
      case MsgType.INSTRUMENTS:
        this.wantInstruments = false;
        this.sink.instruments((m as InstrumentsMsg).insts);
        return;
      case MsgType.ERROR:
        this.sink.error(m as ErrorMsg);
        return;
      default:
        return;
    }
  }
}
