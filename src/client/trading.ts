/**
 * Trading client SDK: one WebSocket to the sequencer's /trade endpoint. Every submit, cancel or
 * modify returns a promise that resolves with the ACK (the command's seq, and for a new order
 * its order id) or rejects with a LockstepError carrying the reason code. An ACK means the
 * command is in the log with the configured durability; what the engine did with it arrives
 * as execution reports from a replica (see FeedClient).
 *
 * Give each order a `clientOrderId` and a lost connection costs nothing: connect again and
 * resend the same request. The engine never creates a second order for one client order id;
 * the resend gets a REJECTED report (DUPLICATE_CLIENT_ORDER_ID) naming the original order and
 * where it stands. Cancel and modify take the order id or `{ clientOrderId }`.
 *
 * A sequencer that goes silent (a link that delivers nothing, without FIN or RST) is noticed
 * here, not by TCP: the client pings every quarter of `silenceMsMax` (default 2 s) and drops
 * the connection when it has heard nothing, not even a pong, for that long. Then `closed`
 * resolves and pending requests fail as on any lost connection.
 */
import { WebSocket, type ClientOptions } from "ws";
import { watchSilence } from "./silence.js";
import { LatencyRecorder } from "../metrics/latency.js";
import { prove } from "../protocol/auth.js";
import { decode, encode } from "../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WIRE_REASON_NAME, type Ack, type HelloOk, type Reject, type WireReason } from "../protocol/messages.js";
import { newOrderProblem } from "../protocol/validate.js";
import { newOrderFields, orderRefFields, type OrderRef, type OrderRequest } from "./codec.js";

export type { OrderRef, OrderRequest };

export class LockstepError extends Error {
  constructor(readonly code: number, message: string, options?: { cause?: unknown }) {
    super(`${WIRE_REASON_NAME[code as WireReason] ?? `code ${code}`}: ${message}`, options);
    this.name = "LockstepError";
  }
}

export interface Credentials {
  readonly keyId: string;
  readonly secret: string;
}

/** Login fields for HELLO; none without credentials. Timestamped on this machine's clock. */
export function proofFor(c: Credentials | undefined, account: number): object {
  return c === undefined ? {} : prove(c.keyId, c.secret, account, Math.round((performance.timeOrigin + performance.now()) * 1000));
}

interface Pending { resolve: (a: Ack) => void; reject: (e: Error) => void; sentMs: number }

/** Default `silenceMsMax` of the trade link: the deadline the replication link and feeds use. */
export const TRADE_SILENCE_MS_MAX = 2_000;

export interface TradeLinkOptions {
  /**
   * A sequencer that sends nothing (no frame, no pong) for this long is taken for gone and the
   * connection dropped (`closed` resolves; pending requests fail, their outcome unknown): a link
   * that delivers nothing, without FIN or RST, is noticed here rather than by TCP. Default
   * TRADE_SILENCE_MS_MAX.
   */
  readonly silenceMsMax?: number;
}

export class TradingClient {
  private nextCid = 1;
  private readonly pending = new Map<number, Pending>();
  epoch = 0;
  /** Highest seq acknowledged to this client, or the sequencer's last seq when it logged in (HELLO_OK), whichever is higher. */
  lastSeq = 0;
  /**
   * Highest seq acknowledged per shard, through a gateway (key: the ACK's `sh`; -1 for ACKs
   * without it, from a sequencer): each shard's seqs are its own (FeedClient.caughtUp takes both).
   */
  readonly lastSeqs = new Map<number, number>();
  /** Round trip from sending a command to its ACK, µs. */
  readonly ackLatencyUs = new LatencyRecorder();
  /** Resolves once the connection has closed, for whatever reason (pending requests have failed by then). */
  readonly closed: Promise<void>;
  /** The silence deadline (TradeLinkOptions); may be changed on a live connection. */
  silenceMsMax: number;
  /** Connections dropped because the sequencer went silent (0 or 1). */
  silences = 0;

  private constructor(private readonly ws: WebSocket, readonly account: number, link: TradeLinkOptions) {
    this.silenceMsMax = link.silenceMsMax ?? TRADE_SILENCE_MS_MAX;
    ws.on("message", (data: Buffer) => this.onFrame(data));
    watchSilence(ws, () => this.silenceMsMax, () => { this.silences++; });
    this.closed = new Promise((resolve) => ws.on("close", () => {
      this.failAll(new LockstepError(0, "connection closed before the ACK; check execution reports to learn whether it was sequenced"));
      resolve();
    }));
  }

  /**
   * `credentials`: the API key and secret, when the sequencer requires authentication.
   * `socket`: options for the WebSocket (e.g. `{ ca }` to trust a TLS proxy's certificate for wss:// URLs).
   * `link`: the silence deadline of the connection once logged in.
   */
  static connect(url: string, account: number, timeoutMs = 10_000, credentials?: Credentials, socket?: ClientOptions, link: TradeLinkOptions = {}): Promise<TradingClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { ...socket, perMessageDeflate: false });
      ws.binaryType = "nodebuffer";
      const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no HELLO_OK from ${url} within ${timeoutMs} ms`)); }, timeoutMs);
      ws.once("error", (err) => { clearTimeout(timer); reject(err); });
      ws.once("open", () => ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO, acct: account, ...proofFor(credentials, account) })));
      ws.once("message", (data: Buffer) => {
        clearTimeout(timer);
        const m = decode(data) as HelloOk | Reject | undefined;
        if (m?.t !== MsgType.HELLO_OK) {
          ws.terminate();
          return reject(new LockstepError(m?.t === MsgType.REJECT ? m.code : 0, m?.t === MsgType.REJECT ? m.msg : "unexpected reply to HELLO"));
        }
        const c = new TradingClient(ws, account, link);
        c.epoch = m.ep;
        c.lastSeq = m.seq;
        resolve(c);
      });
    });
  }

  /**
   * With standby sequencers: tries each node's /trade URL in turn and returns the first login
   * that succeeds (standbys refuse with NOT_LEADER). Throws the last refusal if none leads.
   */
  static async connectAny(urls: readonly string[], account: number, timeoutMs = 10_000, credentials?: Credentials, socket?: ClientOptions, link: TradeLinkOptions = {}): Promise<TradingClient> {
    let last: unknown = new Error("no sequencer URL given");
    for (const url of urls) {
      try {
        return await TradingClient.connect(url, account, timeoutMs, credentials, socket, link);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /**
   * Sends a new order. A request that lacks a field its type needs, or has one it does not take,
   * is refused here with the code the sequencer would give (MISSING_FIELD, FIELD_NOT_APPLICABLE).
   */
  submit(o: OrderRequest): Promise<Ack> {
    const fields = newOrderFields(o);
    const problem = newOrderProblem(fields);
    if (problem !== null) return Promise.reject(new LockstepError(problem.code, problem.text));
    return this.request({ t: MsgType.NEW, ...fields });
  }
  /** Cancels an order (and its OCO peer) by order id or `{ clientOrderId }`. */
  cancel(order: OrderRef): Promise<Ack> {
    return this.request({ t: MsgType.CANCEL, ...orderRefFields(order) });
  }
  /** Sets a resting limit order's price and open quantity; see docs/engine.md for time priority. */
  modify(order: OrderRef, price: number, quantity: number): Promise<Ack> {
    return this.request({ t: MsgType.MODIFY, ...orderRefFields(order), px: price, qty: quantity });
  }
  /** The kill switch: cancels every live order of this client's account. */
  cancelAll(): Promise<Ack> {
    return this.request({ t: MsgType.KILL });
  }
  /**
   * One step of moving an instrument between shards (MOVE_HALT … MOVE_CLAIM, docs/scaling.md),
   * for the operator account only; src/shard/move.ts drives the steps. `body` is the message
   * without `v` and `cid`.
   */
  moveStep(body: { readonly t: number } & Record<string, unknown>): Promise<Ack> {
    return this.request(body);
  }
  /** Sends raw bytes (tests of bad input); a REJECT with cid 0 rejects the oldest pending request. */
  sendRaw(bytes: Uint8Array): Promise<Ack> {
    return new Promise((resolve, reject) => {
      this.pending.set(0, { resolve, reject, sentMs: performance.now() });
      this.ws.send(bytes);
    });
  }

  private request(body: object): Promise<Ack> {
    const cid = this.nextCid++;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) return reject(new LockstepError(0, "not connected"));
      this.pending.set(cid, { resolve, reject, sentMs: performance.now() });
      this.ws.send(encode({ v: PROTOCOL_VERSION, cid, ...body }));
    });
  }

  private onFrame(data: Buffer): void {
    const m = decode(data) as Ack | Reject | undefined;
    if (m === undefined || (m.t !== MsgType.ACK && m.t !== MsgType.REJECT)) return;
    const p = this.pending.get(m.cid);
    if (p === undefined) return;
    this.pending.delete(m.cid);
    if (m.t === MsgType.ACK) {
      this.ackLatencyUs.record((performance.now() - p.sentMs) * 1000);
      if (m.seq > this.lastSeq) this.lastSeq = m.seq;
      const shard = m.sh ?? -1;
      if (m.seq > (this.lastSeqs.get(shard) ?? 0)) this.lastSeqs.set(shard, m.seq);
      p.resolve(m);
    }
    else p.reject(new LockstepError(m.code, m.msg));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  get inFlight(): number {
    return this.pending.size;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once("close", () => resolve());
      this.ws.close();
    });
  }

  /**
   * Drops the connection at once, without a close handshake: for a connection believed dead (no
   * answer within the caller's deadline), where a handshake would wait on the very link that is
   * gone. Pending requests fail as on any lost connection: their outcome is unknown.
   */
  terminate(): void {
    this.ws.terminate();
  }
}
