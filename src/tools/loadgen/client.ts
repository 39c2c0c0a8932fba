/**
 * The end-to-end benchmark's client: open-loop orders over C trading connections (one account
 * each), execution reports over C feed connections to one replica, every send at its due time
 * from the Pacer. Per order it records, from the due time (response) and from the actual send
 * (service): order→ack, and for orders that take liquidity, order→fill (the taker's first FILL
 * report). It speaks only the wire protocol, so the same code measures Lockstep and the floor.
 *
 * The order mix runs against a book pre-populated by a maker account: 45 % IOC orders that
 * cross up to three ticks (takers), 45 % resting limits one to three ticks from the mid
 * (replenishing what the takers take), 10 % cancels of this client's resting orders.
 */
import { WebSocket } from "ws";
import { LatencyRecorder } from "../../metrics/latency.js";
import { decode, encode } from "../../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, ReportKind, WIRE_REASON_NAME, type WireReason } from "../../protocol/messages.js";
import { Rng } from "../../util/rng.js";
import { nowNs, Pacer } from "./pacer.js";

export interface Target {
  readonly tradeUrl: string;
  readonly feedUrl: string;
}

/** What the client needs from a path to the system under test (WebSockets here; NATS in nats.ts). */
export interface Transport {
  /** Opens client c's order and report paths; answers arrive through the handlers. */
  open(c: number, account: number, h: Handlers): Promise<void>;
  /** Sends order i (a NEW or CANCEL frame) on client c's path. */
  send(c: number, i: number, frame: Buffer): void;
  close(): Promise<void>;
}

export interface Handlers {
  ack(i: number, seq: number, oid: number, atNs: number): void;
  /** `reason` names a refusal that is not a Lockstep reason code (e.g. a peer's publish failing). */
  reject(i: number, code: number, atNs: number, reason?: string): void;
  /** An execution report: its command's seq, kind and liquidity flag. */
  report(seq: number, kind: number, liq: number | undefined, atNs: number): void;
}

/** The Lockstep wire protocol over WebSockets: /trade for orders and acks, /feed for reports. */
export function wsTransport(target: Target): Transport {
  const sockets: WebSocket[] = [];
  const trade: WebSocket[] = [];
  return {
    async open(c, account, h) {
      const t = await open(target.tradeUrl);
      await login(t, account);
      trade[c] = t;
      t.on("message", (data: Buffer) => {
        const at = nowNs();
        const m = decode(data) as { t: number; cid: number; seq: number; oid: number; code: number };
        if (m.t === MsgType.ACK) h.ack(m.cid - 1, m.seq, m.oid, at);
        else if (m.t === MsgType.REJECT) h.reject(m.cid - 1, m.code, at);
      });
      const f = await open(target.feedUrl);
      f.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUB_REPORTS, acct: account, from: 0 }));
      f.on("message", (data: Buffer) => {
        const at = nowNs();
        const r = decode(data) as { t: number; k: number; liq?: number; seq: number };
        if (r.t === MsgType.REPORT) h.report(r.seq, r.k, r.liq, at);
      });
      sockets.push(t, f);
    },
    send(c, _i, frame) {
      trade[c]!.send(frame);
    },
    async close() {
      for (const ws of sockets) ws.close();
    },
  };
}

export interface LoadOptions {
  readonly ratePerS: number;
  readonly durationS: number;
  /**
   * Seconds of the same load, at the same rate, sent and drained before the measured window
   * opens, and kept out of every figure but `warmup`'s: the nodes' first second under load (code
   * not yet optimized, rings and files touched for the first time) is a tail of its own. 0: none.
   */
  readonly warmupS?: number;
  readonly clients: number;
  readonly instrument: number;
  readonly mid: number;
  readonly seed: number;
  /** After the last send, how long to wait for outstanding acks and fills. */
  readonly drainMs: number;
  readonly onProgress?: (sent: number, total: number) => void;
  /**
   * The measured window: `start` just before the first measured send falls due (after the
   * connections, the maker's book and the warm-up), `end` once every answer is in or the drain
   * gave up. CPU is counted in it.
   */
  readonly window?: { readonly start: () => void; readonly end: () => void };
  /** Awaited after the connections, the maker's book and the warm-up, just before the window opens (a bench's readings of where the nodes stand). */
  readonly beforeWindow?: () => Promise<void>;
}

export interface LoadResult {
  readonly offered_per_s: number;
  /** Orders sent in the measured window; the counts below are of these too, the warm-up's apart. */
  readonly sent: number;
  readonly acked: number;
  readonly achieved_per_s: number;
  readonly takers: number;
  readonly fills: number;
  /** Takers that found nothing to take (their IOC lapsed); not in the fill histograms. */
  readonly unfilled: number;
  readonly rejected: Record<string, number>;
  /** Orders with neither ACK nor REJECT by the end of the drain. */
  readonly unanswered: number;
  readonly maxAckedSeq: number;
  /** The seq of every acked order (to check that every replica applied it). */
  readonly ackedSeqs: Float64Array;
  /** Per order i (nowNs clock): when it was sent, its seq (0 if never acked), and its counted fill's arrival (0 if none). */
  readonly sentNs: Float64Array;
  readonly seqOf: Float64Array;
  readonly fillNs: Float64Array;
  readonly ackResponse: LatencyRecorder;
  readonly ackService: LatencyRecorder;
  readonly fillResponse: LatencyRecorder;
  readonly fillService: LatencyRecorder;
  /** Actual send − due time: the generator's own lateness (and any backlog on the main thread). */
  readonly lateness: LatencyRecorder;
  /** Orders 0 … measuredFrom − 1 were the warm-up's (in the arrays above, not in any count or histogram). */
  readonly measuredFrom: number;
  /** The warm-up's order→ack and order→fill (coordinated-omission corrected, as the window's). */
  readonly warmupAckResponse: LatencyRecorder;
  readonly warmupFillResponse: LatencyRecorder;
  /** The warm-up's orders: sent, never answered, refused (by reason). */
  readonly warmup: { readonly sent: number; readonly unanswered: number; readonly rejected: Record<string, number> };
}

const ACCOUNT_BASE = 1000;
const MAKER_ACCOUNT = 999;
const MAKER_LEVELS = 50;
const MAKER_QTY = 50;
const KIND_TAKER = 0;
const KIND_PASSIVE = 1;
const KIND_CANCEL = 2;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.binaryType = "nodebuffer";
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function login(ws: WebSocket, acct: number): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once("message", (data: Buffer) => {
      const m = decode(data) as { t: number; msg?: string };
      if (m.t === MsgType.HELLO_OK) resolve();
      else reject(new Error(`login refused: ${m.msg ?? `type ${m.t}`}`));
    });
    ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO, acct }));
  });
}

/**
 * Rests MAKER_LEVELS levels of MAKER_QTY on each side of the mid through the maker's own path
 * (client index `o.clients`), and waits for every ACK.
 */
async function prepopulate(t: Transport, o: LoadOptions): Promise<void> {
  const n = 2 * MAKER_LEVELS;
  await new Promise<void>((resolve, reject) => {
    let acked = 0;
    t.open(o.clients, MAKER_ACCOUNT, {
      ack: () => { if (++acked === n) resolve(); },
      reject: (_i, code) => reject(new Error(`pre-population refused: ${WIRE_REASON_NAME[code as WireReason] ?? `code ${code}`}`)),
      report: () => undefined,
    }).then(() => {
      for (let l = 1; l <= MAKER_LEVELS; l++) {
        for (const side of [0, 1]) t.send(o.clients, 0, encode({ v: PROTOCOL_VERSION, cid: l * 2 + side, t: MsgType.NEW, ord: 0, inst: o.instrument, side, px: o.mid + (side === 0 ? -l : l), qty: MAKER_QTY }));
      }
    }, reject);
  });
}

/**
 * One run's book-keeping: per-order arrays, histograms and counters, the handlers that answers
 * update, and the order mix. Takers are matched to their first FILL through their seq (from the
 * ACK); a fill or an expiry may arrive before its ACK, on the other path, and is then kept until
 * the ACK claims it.
 */
class LoadRun {
  readonly total: number;
  /** The first order of the measured window: orders before it are the warm-up's. */
  readonly measuredFrom: number;
  /** The warm-up's schedule (orders 0 … measuredFrom − 1), then the window's (the rest, from its own t0). */
  readonly warmupPacer: Pacer | null;
  readonly pacer: Pacer;
  readonly sentNs: Float64Array;
  private readonly kind: Uint8Array;
  private readonly answered: Uint8Array;
  private readonly seqOf: Float64Array;
  private readonly fillNs: Float64Array;
  private readonly ackResponse = new LatencyRecorder();
  private readonly ackService = new LatencyRecorder();
  private readonly fillResponse = new LatencyRecorder();
  private readonly fillService = new LatencyRecorder();
  private readonly lateness = new LatencyRecorder();
  private readonly warmupAckResponse = new LatencyRecorder();
  private readonly warmupFillResponse = new LatencyRecorder();
  private readonly rejected: Record<string, number> = {};
  private readonly warmupRejected: Record<string, number> = {};
  /** Taker order index by its seq (from the ACK), and fills that arrived before their ACK. */
  private readonly takerBySeq = new Map<number, number>();
  private readonly earlyFillNs = new Map<number, number>();
  /** Takers whose IOC lapsed unfilled (no liquidity left within three ticks) before their ACK. */
  private readonly earlyUnfilled = new Set<number>();
  /**
   * Per client, the seq of the taker whose fill was last counted: a taker that crosses several
   * resting orders gets several FILL reports, one after another on its account's feed; only the
   * first counts, and the others must not be kept as "early" fills that no ACK will ever claim.
   */
  private readonly lastCounted: Float64Array;
  private readonly resting: number[][];
  private readonly rng: Rng;
  private unfilled = 0;
  /** Acked orders of the window; the warm-up's are counted apart. */
  private acked = 0;
  private warmupAcked = 0;
  private fills = 0;
  private takers = 0;
  private maxAckedSeq = 0;
  private lastAckNs = 0;
  outstanding = 0;
  /** Set while draining: called when the last answer (or the last fill) is in. */
  private acksDone: (() => void) | null = null;
  private fillsDone: (() => void) | null = null;

  constructor(private readonly o: LoadOptions) {
    this.measuredFrom = Math.max(0, Math.round(o.ratePerS * (o.warmupS ?? 0)));
    this.total = this.measuredFrom + Math.max(1, Math.round(o.ratePerS * o.durationS));
    this.warmupPacer = this.measuredFrom === 0 ? null : new Pacer(o.ratePerS, this.measuredFrom);
    this.pacer = new Pacer(o.ratePerS, this.total - this.measuredFrom);
    this.sentNs = new Float64Array(this.total);
    this.kind = new Uint8Array(this.total);
    this.answered = new Uint8Array(this.total);
    this.seqOf = new Float64Array(this.total);
    this.fillNs = new Float64Array(this.total);
    this.lastCounted = new Float64Array(o.clients);
    this.resting = Array.from({ length: o.clients }, () => []);
    this.rng = new Rng(o.seed);
  }

  /** When order i was due: on the warm-up's schedule or the window's. */
  dueNs(i: number): number {
    return i < this.measuredFrom ? this.warmupPacer!.dueNs(i) : this.pacer.dueNs(i - this.measuredFrom);
  }

  /** Orders sent and not refused, the warm-up's too: what the progress bar shows. */
  get pendingOrAcked(): number {
    return this.outstanding + this.acked + this.warmupAcked;
  }

  handlers(c: number): Handlers {
    return {
      ack: (i, seq, oid, at) => this.onAck(c, i, seq, oid, at),
      reject: (i, code, _at, reason) => this.onReject(i, code, reason),
      report: (seq, k, liq, at) => this.onReport(c, seq, k, liq, at),
    };
  }

  /** Marks order i answered; false if it is not one of ours or was answered already. */
  private answer(i: number): boolean {
    if (i < 0 || i >= this.total || this.answered[i] !== 0) return false;
    this.answered[i] = 1;
    this.outstanding--;
    return true;
  }

  private onAck(c: number, i: number, seq: number, oid: number, at: number): void {
    if (!this.answer(i)) return;
    this.seqOf[i] = seq;
    if (seq > this.maxAckedSeq) this.maxAckedSeq = seq;
    if (i < this.measuredFrom) {
      this.warmupAcked++;
      this.warmupAckResponse.record((at - this.dueNs(i)) / 1000);
    } else {
      this.acked++;
      this.lastAckNs = at;
      this.ackResponse.record((at - this.dueNs(i)) / 1000);
      this.ackService.record((at - this.sentNs[i]!) / 1000);
    }
    if (this.kind[i] === KIND_TAKER) {
      const early = this.earlyFillNs.get(seq);
      if (early !== undefined) {
        this.earlyFillNs.delete(seq);
        this.earlyUnfilled.delete(seq);
        if (seq > this.lastCounted[c]!) this.lastCounted[c] = seq;
        this.recordFill(i, early);
      } else if (this.earlyUnfilled.delete(seq)) this.countUnfilled(i);
      else this.takerBySeq.set(seq, i);
    } else if (this.kind[i] === KIND_PASSIVE) this.resting[c]!.push(oid);
    if (this.outstanding === 0) this.acksDone?.();
  }

  private onReject(i: number, code: number, reason: string | undefined): void {
    if (!this.answer(i)) return;
    const name = reason ?? WIRE_REASON_NAME[code as WireReason] ?? `code ${code}`;
    const into = i < this.measuredFrom ? this.warmupRejected : this.rejected;
    into[name] = (into[name] ?? 0) + 1;
    if (this.outstanding === 0) this.acksDone?.();
  }

  private onReport(c: number, seq: number, k: number, liq: number | undefined, at: number): void {
    if (seq === this.lastCounted[c]) return;
    const i = this.takerBySeq.get(seq);
    if (k === ReportKind.FILL && liq === 1) {
      if (i === undefined) {
        // Before its ACK: keep the first fill only; the ACK will claim it.
        if (!this.earlyFillNs.has(seq)) this.earlyFillNs.set(seq, at);
        return;
      }
      this.takerBySeq.delete(seq);
      this.lastCounted[c] = seq;
      this.recordFill(i, at);
    } else if (k === ReportKind.EXPIRED) {
      if (i !== undefined) {
        this.takerBySeq.delete(seq);
        this.countUnfilled(i);
      } else if (!this.earlyFillNs.has(seq)) this.earlyUnfilled.add(seq);
    } else return;
    if (this.takerBySeq.size === 0) this.fillsDone?.();
  }

  private recordFill(i: number, atNs: number): void {
    this.fillNs[i] = atNs;
    if (i < this.measuredFrom) {
      this.warmupFillResponse.record((atNs - this.dueNs(i)) / 1000);
      return;
    }
    this.fills++;
    this.fillResponse.record((atNs - this.dueNs(i)) / 1000);
    this.fillService.record((atNs - this.sentNs[i]!) / 1000);
  }

  private countUnfilled(i: number): void {
    if (i >= this.measuredFrom) this.unfilled++;
  }

  /** Order i of the mix: a cancel of one of the client's resting orders, a taker or a passive limit. */
  private frame(i: number, c: number): Buffer {
    const rng = this.rng;
    const x = rng.next();
    const side = rng.next() < 0.5 ? 0 : 1;
    const own = this.resting[c]!;
    const o = this.o;
    if (x < 0.1 && own.length > 0) {
      this.kind[i] = KIND_CANCEL;
      return encode({ v: PROTOCOL_VERSION, cid: i + 1, t: MsgType.CANCEL, oid: own.splice(rng.int(0, own.length - 1), 1)[0]! });
    }
    if (x < 0.55) {
      this.kind[i] = KIND_TAKER;
      if (i >= this.measuredFrom) this.takers++;
      return encode({ v: PROTOCOL_VERSION, cid: i + 1, t: MsgType.NEW, ord: 0, tif: 1, inst: o.instrument, side, px: o.mid + (side === 0 ? 3 : -3), qty: 1 + rng.int(0, 2) });
    }
    this.kind[i] = KIND_PASSIVE;
    const away = 1 + rng.int(0, 2);
    return encode({ v: PROTOCOL_VERSION, cid: i + 1, t: MsgType.NEW, ord: 0, inst: o.instrument, side, px: o.mid + (side === 0 ? -away : away), qty: 1 + rng.int(0, 2) });
  }

  send(t: Transport, i: number): void {
    const c = i % this.o.clients;
    const frame = this.frame(i, c);
    this.outstanding++;
    const at = nowNs();
    this.sentNs[i] = at;
    if (i >= this.measuredFrom) this.lateness.record((at - this.dueNs(i)) / 1000);
    t.send(c, i, frame);
  }

  /** Waits up to drainMs for the last answers, then as long again for the last fills (they travel another path). */
  async drain(): Promise<void> {
    const waitUntil = (pending: () => boolean, set: (done: (() => void) | null) => void): Promise<void> => {
      if (!pending()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const finish = (): void => { clearTimeout(timer); set(null); resolve(); };
        const timer = setTimeout(finish, this.o.drainMs);
        set(finish);
      });
    };
    await waitUntil(() => this.outstanding > 0, (d) => { this.acksDone = d; });
    await waitUntil(() => this.takerBySeq.size > 0, (d) => { this.fillsDone = d; });
  }

  /** `sent`: orders sent in the window; `warmSent`: in the warm-up. */
  result(sent: number, warmSent: number): LoadResult {
    const o = this.o;
    const t0 = this.pacer.t0Ns;
    const spanS = this.lastAckNs > t0 ? (this.lastAckNs - t0) / 1e9 : o.durationS;
    let warmAnswered = 0;
    for (let i = 0; i < warmSent; i++) warmAnswered += this.answered[i]!;
    return {
      offered_per_s: o.ratePerS, sent, acked: this.acked, achieved_per_s: Math.round(this.acked / Math.max(spanS, o.durationS)), takers: this.takers, fills: this.fills,
      unfilled: this.unfilled, rejected: this.rejected, unanswered: sent - this.acked - Object.values(this.rejected).reduce((a, b) => a + b, 0), maxAckedSeq: this.maxAckedSeq,
      ackedSeqs: this.seqOf.filter((x) => x > 0), sentNs: this.sentNs, seqOf: this.seqOf, fillNs: this.fillNs,
      ackResponse: this.ackResponse, ackService: this.ackService, fillResponse: this.fillResponse, fillService: this.fillService, lateness: this.lateness,
      measuredFrom: this.measuredFrom, warmupAckResponse: this.warmupAckResponse, warmupFillResponse: this.warmupFillResponse,
      warmup: { sent: warmSent, unanswered: warmSent - warmAnswered, rejected: this.warmupRejected },
    };
  }
}

/**
 * Runs the load: the maker's book, C clients, `ratePerS` open loop for `warmupS` and its drain,
 * then, the window open, for `durationS` on a schedule of its own, then the drain.
 */
export async function runLoad(transport: Transport, o: LoadOptions): Promise<LoadResult> {
  await prepopulate(transport, o);
  const run = new LoadRun(o);
  for (let c = 0; c < o.clients; c++) await transport.open(c, ACCOUNT_BASE + c, run.handlers(c));
  const progress = o.onProgress === undefined ? null : setInterval(() => o.onProgress!(Math.min(run.total, run.pendingOrAcked), run.total), 100);
  // The warm-up: sent and drained (every answer and fill in, or the drain's limit reached) before
  // the window opens, so nothing of it is counted in the window, on any node.
  const warmSent = run.warmupPacer === null ? 0 : await run.warmupPacer.run((i) => run.send(transport, i));
  if (warmSent > 0) await run.drain();
  await o.beforeWindow?.();
  o.window?.start();
  const sent = await run.pacer.run((k) => run.send(transport, run.measuredFrom + k));
  await run.drain();
  o.window?.end();
  if (progress !== null) clearInterval(progress);
  o.onProgress?.(run.total, run.total);
  await transport.close();
  return run.result(sent, warmSent);
}
