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
  readonly clients: number;
  readonly instrument: number;
  readonly mid: number;
  readonly seed: number;
  /** After the last send, how long to wait for outstanding acks and fills. */
  readonly drainMs: number;
  readonly onProgress?: (sent: number, total: number) => void;
}

export interface LoadResult {
  readonly offered_per_s: number;
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
  readonly ackResponse: LatencyRecorder;
  readonly ackService: LatencyRecorder;
  readonly fillResponse: LatencyRecorder;
  readonly fillService: LatencyRecorder;
  /** Actual send − due time: the generator's own lateness (and any backlog on the main thread). */
  readonly lateness: LatencyRecorder;
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

export async function runLoad(transport: Transport, o: LoadOptions): Promise<LoadResult> {
  await prepopulate(transport, o);
  const total = Math.max(1, Math.round(o.ratePerS * o.durationS));
  const pacer = new Pacer(o.ratePerS, total);
  const sentNs = new Float64Array(total);
  const kind = new Uint8Array(total);
  const answered = new Uint8Array(total);
  const seqOf = new Float64Array(total);
  const ackResponse = new LatencyRecorder();
  const ackService = new LatencyRecorder();
  const fillResponse = new LatencyRecorder();
  const fillService = new LatencyRecorder();
  const lateness = new LatencyRecorder();
  const rejected: Record<string, number> = {};
  /** Taker order index by its seq (from the ACK), and fills that arrived before their ACK. */
  const takerBySeq = new Map<number, number>();
  const earlyFillNs = new Map<number, number>();
  /** Takers whose IOC lapsed unfilled (no liquidity left within three ticks) before their ACK. */
  const earlyUnfilled = new Set<number>();
  let unfilled = 0;
  let fillsDone: (() => void) | null = null;
  const resting: number[][] = Array.from({ length: o.clients }, () => []);
  let acked = 0;
  let fills = 0;
  let takers = 0;
  let maxAckedSeq = 0;
  let lastAckNs = 0;
  let outstanding = 0;
  let done: (() => void) | null = null;

  const recordFill = (i: number, atNs: number): void => {
    fills++;
    fillResponse.record((atNs - pacer.dueNs(i)) / 1000);
    fillService.record((atNs - sentNs[i]!) / 1000);
  };

  /**
   * Per client, the seq of the taker whose fill was last counted: a taker that crosses several
   * resting orders gets several FILL reports, one after another on its account's feed; only the
   * first counts, and the others must not be kept as "early" fills that no ACK will ever claim.
   */
  const lastCounted = new Float64Array(o.clients);
  const handlers = (c: number): Handlers => ({
    ack: (i, seq, oid, at) => {
      if (i < 0 || i >= total || answered[i] !== 0) return;
      answered[i] = 1;
      outstanding--;
      acked++;
      seqOf[i] = seq;
      lastAckNs = at;
      if (seq > maxAckedSeq) maxAckedSeq = seq;
      ackResponse.record((at - pacer.dueNs(i)) / 1000);
      ackService.record((at - sentNs[i]!) / 1000);
      if (kind[i] === KIND_TAKER) {
        const early = earlyFillNs.get(seq);
        if (early !== undefined) {
          earlyFillNs.delete(seq);
          earlyUnfilled.delete(seq);
          if (seq > lastCounted[c]!) lastCounted[c] = seq;
          recordFill(i, early);
        } else if (earlyUnfilled.delete(seq)) unfilled++;
        else takerBySeq.set(seq, i);
      } else if (kind[i] === KIND_PASSIVE) resting[c]!.push(oid);
      if (outstanding === 0 && done !== null) done();
    },
    reject: (i, code, _at, reason) => {
      if (i < 0 || i >= total || answered[i] !== 0) return;
      answered[i] = 1;
      outstanding--;
      const name = reason ?? WIRE_REASON_NAME[code as WireReason] ?? `code ${code}`;
      rejected[name] = (rejected[name] ?? 0) + 1;
      if (outstanding === 0 && done !== null) done();
    },
    report: (seq, k, liq, at) => {
      if (seq === lastCounted[c]) return;
      const i = takerBySeq.get(seq);
      if (k === ReportKind.FILL && liq === 1) {
        if (i === undefined) {
          // Before its ACK: keep the first fill only; the ACK will claim it.
          if (!earlyFillNs.has(seq)) earlyFillNs.set(seq, at);
          return;
        }
        takerBySeq.delete(seq);
        lastCounted[c] = seq;
        recordFill(i, at);
      } else if (k === ReportKind.EXPIRED) {
        if (i !== undefined) {
          takerBySeq.delete(seq);
          unfilled++;
        } else if (!earlyFillNs.has(seq)) earlyUnfilled.add(seq);
      } else return;
      if (takerBySeq.size === 0 && fillsDone !== null) fillsDone();
    },
  });
  for (let c = 0; c < o.clients; c++) await transport.open(c, ACCOUNT_BASE + c, handlers(c));

  const rng = new Rng(o.seed);
  const progress = o.onProgress === undefined ? null : setInterval(() => o.onProgress!(Math.min(total, outstanding + acked), total), 100);
  const send = (i: number): void => {
    const c = i % o.clients;
    const x = rng.next();
    const side = rng.next() < 0.5 ? 0 : 1;
    let frame: Buffer;
    const own = resting[c]!;
    if (x < 0.1 && own.length > 0) {
      kind[i] = KIND_CANCEL;
      frame = encode({ v: PROTOCOL_VERSION, cid: i + 1, t: MsgType.CANCEL, oid: own.splice(rng.int(0, own.length - 1), 1)[0]! });
    } else if (x < 0.55) {
      kind[i] = KIND_TAKER;
      takers++;
      frame = encode({ v: PROTOCOL_VERSION, cid: i + 1, t: MsgType.NEW, ord: 0, tif: 1, inst: o.instrument, side, px: o.mid + (side === 0 ? 3 : -3), qty: 1 + rng.int(0, 2) });
    } else {
      kind[i] = KIND_PASSIVE;
      const away = 1 + rng.int(0, 2);
      frame = encode({ v: PROTOCOL_VERSION, cid: i + 1, t: MsgType.NEW, ord: 0, inst: o.instrument, side, px: o.mid + (side === 0 ? -away : away), qty: 1 + rng.int(0, 2) });
    }
    outstanding++;
    const at = nowNs();
    sentNs[i] = at;
    lateness.record((at - pacer.dueNs(i)) / 1000);
    transport.send(c, i, frame);
  };
  const sent = await pacer.run(send);
  if (outstanding > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.drainMs);
      done = () => { clearTimeout(timer); resolve(); };
    });
  }
  // Fills travel another path than acks: give the last ones the same drain.
  if (takerBySeq.size > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.drainMs);
      fillsDone = () => { clearTimeout(timer); resolve(); };
    });
  }
  if (progress !== null) clearInterval(progress);
  o.onProgress?.(total, total);
  await transport.close();
  const spanS = lastAckNs > pacer.t0Ns ? (lastAckNs - pacer.t0Ns) / 1e9 : o.durationS;
  return {
    offered_per_s: o.ratePerS, sent, acked, achieved_per_s: Math.round(acked / Math.max(spanS, o.durationS)), takers, fills, unfilled, rejected,
    unanswered: sent - acked - Object.values(rejected).reduce((a, b) => a + b, 0), maxAckedSeq, ackedSeqs: seqOf.filter((x) => x > 0),
    ackResponse, ackService, fillResponse, fillService, lateness,
  };
}
