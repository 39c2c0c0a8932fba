/**
 * The follower's end of the replication link, used by replicas and by standby sequencers:
 *
 *   1. connect   to the next URL of the list (the leader answers, a standby says NOT_LEADER and
 *                the next URL is tried at once; after a full round, back off)
 *   2. subscribe SUBSCRIBE from the position the owner holds (next seq, chain value before it)
 *   3. verify    each BATCH: not from an older epoch than one seen (fencing: leave that node),
 *                contiguous (a gap: reconnect; records already held are skipped), and the hash
 *                chain over the new records ends at the frame's chain (else the logs forked:
 *                stop for good)
 *   4. hand on   the verified new records through one callback, in seq order
 * The owner reports progress with `status()`. PINGs go out every `probeIntervalMs` (clock
 * probes for a replica, heartbeats for a standby); a sequencer that sends nothing at all, not
 * even a PONG, for `silenceMsMax` is taken for a dead link (a blackhole sends no FIN and no
 * RST): the connection is cut and the next URL tried.
 */
import type { Logger } from "pino";
import { WebSocket } from "ws";
import type { Clock } from "../clock/clock.js";
import { prove } from "../protocol/auth.js";
import { chainNext } from "../protocol/record.js";
import { decode, encode } from "../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WireReason, type Batch, type ErrorMsg, type Pong, type Status } from "../protocol/messages.js";
import { assert } from "../util/assert.js";

/** Records not held yet, in order from `first`, their chain verified up to `chain`. */
export interface VerifiedBatch {
  readonly ep: number;
  readonly first: number;
  readonly recs: readonly Uint8Array[];
  /** Chain value after the last of `recs`. */
  readonly chain: Buffer;
  /** The sequencer's clock when it sent the frame, µs. */
  readonly ts: number;
  /** Our clock when the frame arrived, µs (and the machine's true clock, drills only; else 0). */
  readonly receivedUs: number;
  readonly trueReceivedUs: number;
}

export interface SubscriberOptions {
  readonly id: string;
  /** A standby sequencer: it is sent records before they are committed. */
  readonly standby: boolean;
  readonly clock: Clock;
  readonly log: Logger;
  readonly credentials?: { readonly keyId: string; readonly secret: string };
  /** What the owner holds: the next seq it needs and the chain value after the one before. */
  readonly position: () => { readonly next: number; readonly chain: Buffer };
  /** The newest epoch the owner has seen; batches from older ones are refused. */
  readonly epoch: () => number;
  /** Verified new records. Runs synchronously inside the frame's handler. */
  readonly onRecords: (b: VerifiedBatch) => void;
  /** Runs before each subscription (a standby cuts a tail a newer epoch replaced). */
  readonly beforeSubscribe?: () => Promise<void>;
  /** A PING every this many ms while connected (answers go to onPong). */
  readonly probeIntervalMs: number;
  /** A connection from which nothing arrives for this many ms is cut, and the next URL tried. */
  readonly silenceMsMax?: number;
  readonly onPong?: (m: Pong, receivedUs: number) => void;
  /** Drills only: the machine's true clock, read together with ours when a frame arrives. */
  readonly trueNowUs?: () => number;
}

/** Reconnect delays after every URL of the list has been tried, doubling from MIN to MAX. */
const RECONNECT_MS_MIN = 50;
const RECONNECT_MS_MAX = 500;
/** A standby's wait before retrying a failed preparation (e.g. etcd unreachable). */
const PREPARE_RETRY_MS = 1_000;
/** Default for silenceMsMax: a blackholed link is noticed within this, plus a quarter of it. */
export const SILENCE_MS_MAX = 2_000;
/** The silence check runs this many times per silenceMsMax. */
const SILENCE_CHECKS_PER_MAX = 4;
/** The largest frame accepted from the sequencer (a batch of batchRecordsMax records fits many times). */
export const BATCH_FRAME_BYTES_MAX = 64 * 1024 * 1024;

function isBatch(m: Record<string, unknown>): m is Batch & Record<string, unknown> {
  return Number.isSafeInteger(m.ep) && Number.isSafeInteger(m.first) && (m.first as number) >= 1 && m.chain instanceof Uint8Array
    && Number.isSafeInteger(m.ts) && Array.isArray(m.recs) && m.recs.every((r) => r instanceof Uint8Array);
}

export class Subscriber {
  private urls: readonly string[] = [];
  private index = 0;
  private ws: WebSocket | null = null;
  private retry: NodeJS.Timeout | null = null;
  private probe: NodeJS.Timeout | null = null;
  private reconnectMs = RECONNECT_MS_MIN;
  private stopped = false;
  /** performance.now() when the current connection last delivered anything. */
  private heardMs = 0;
  private silenceTimer: NodeJS.Timeout | null = null;
  /** Bumped whenever the list changes or the link is dropped: stale connection attempts see it and stop. */
  private generation = 0;
  /** Why the leader's log was refused (a fork), or null. Final: no reconnect. */
  forked: string | null = null;
  /** Gaps seen (each reconnects) and batches refused for an older epoch (each moves on). */
  readonly counters = { gaps: 0, staleEpochBatches: 0, silences: 0 };

  constructor(private readonly o: SubscriberOptions) {}

  /** The URL currently followed, or null. */
  get following(): string | null {
    return this.ws === null ? null : (this.urls[this.index] ?? null);
  }

  /** Follows these URLs in turn (none: nobody); a list equal to the current one changes nothing. */
  follow(urls: readonly string[]): void {
    if (this.ws !== null && urls.length === this.urls.length && urls.every((u, i) => u === this.urls[i])) return;
    this.disconnect();
    this.urls = urls;
    this.index = 0;
    this.stopped = false;
    if (urls.length > 0) void this.connect();
  }

  /** Reports progress to the sequencer (dropped while not connected: the next one will do). */
  status(s: Omit<Status, "v" | "t" | "rid">): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.STATUS, rid: this.o.id, ...s }));
  }

  /** Sends a last STATUS (a halt) and leaves the log for good, closing so that the STATUS goes out first. */
  leave(last: Omit<Status, "v" | "t" | "rid">): void {
    this.status(last);
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "leaving the log");
  }

  stop(): void {
    this.stopped = true;
    this.disconnect();
  }

  private clearTimers(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.probe !== null) clearInterval(this.probe);
    if (this.silenceTimer !== null) clearInterval(this.silenceTimer);
    this.retry = null;
    this.probe = null;
    this.silenceTimer = null;
  }

  private disconnect(): void {
    this.clearTimers();
    // A connection attempt still preparing (beforeSubscribe) belongs to the old list: it gives up.
    this.generation++;
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.removeAllListeners();
      ws.on("error", () => undefined);
      ws.terminate();
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.forked !== null || this.urls.length === 0 || this.ws !== null) return;
    const url = this.urls[this.index]!;
    const generation = this.generation;
    if (this.o.beforeSubscribe !== undefined) {
      try {
        await this.o.beforeSubscribe();
      } catch (err) {
        if (generation !== this.generation) return;
        this.o.log.error({ err: (err as Error).message }, "replication: cannot prepare to follow; retrying");
        this.retry = setTimeout(() => void this.connect(), PREPARE_RETRY_MS);
        return;
      }
      if (this.stopped || generation !== this.generation || this.ws !== null) return;
    }
    // The opening handshake has the same deadline as an open link: a link that swallows it
    // must not leave us waiting for the server's HTTP timeout.
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: BATCH_FRAME_BYTES_MAX, handshakeTimeout: this.o.silenceMsMax ?? SILENCE_MS_MAX });
    this.ws = ws;
    ws.binaryType = "nodebuffer";
    ws.on("open", () => this.onOpen(ws));
    ws.on("message", (data: Buffer) => {
      if (this.ws !== ws) return;
      this.heardMs = performance.now();
      this.onFrame(ws, data);
    });
    ws.on("error", (err) => this.o.log.debug({ err: err.message, url }, "replication: connection error"));
    ws.on("close", () => this.onClose(ws));
  }

  private onOpen(ws: WebSocket): void {
    if (this.ws !== ws) return void ws.terminate();
    this.reconnectMs = RECONNECT_MS_MIN;
    const c = this.o.credentials;
    const proof = c === undefined ? {} : prove(c.keyId, c.secret, 0, this.o.clock.nowUs());
    const p = this.o.position();
    ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUBSCRIBE, rid: this.o.id, from: p.next, chain: p.chain, ...(this.o.standby ? { sb: true } : {}), ...proof }));
    this.o.log.info({ url: this.urls[this.index], from: p.next }, "replication: subscribing");
    this.probe = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.PING, t1: this.o.clock.nowUs() }));
    }, this.o.probeIntervalMs);
    this.heardMs = performance.now();
    const silenceMs = this.o.silenceMsMax ?? SILENCE_MS_MAX;
    this.silenceTimer = setInterval(() => this.checkSilence(ws, silenceMs), Math.max(1, Math.floor(silenceMs / SILENCE_CHECKS_PER_MAX)));
  }

  private checkSilence(ws: WebSocket, silenceMs: number): void {
    const quietMs = performance.now() - this.heardMs;
    if (this.ws !== ws || quietMs <= silenceMs) return;
    this.counters.silences++;
    this.o.log.warn({ url: this.urls[this.index], quietMs: Math.round(quietMs) }, "replication: nothing from the sequencer within the deadline (a dead link?); trying the next node");
    // terminate(): a close handshake would wait on the very link that is dead.
    ws.terminate();
  }

  private onClose(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = null;
    this.clearTimers();
    if (this.stopped || this.forked !== null) return;
    // The next node at once; back off only after every node has been tried.
    this.index = (this.index + 1) % this.urls.length;
    if (this.index !== 0) return void this.connect();
    this.retry = setTimeout(() => void this.connect(), this.reconnectMs);
    this.reconnectMs = Math.min(RECONNECT_MS_MAX, this.reconnectMs * 2);
  }

  private onFrame(ws: WebSocket, data: Buffer): void {
    const receivedUs = this.o.clock.nowUs();
    const trueReceivedUs = this.o.trueNowUs?.() ?? 0;
    const m = decode(data) as Record<string, unknown> | undefined;
    if (m?.t === MsgType.PONG) {
      if (Number.isSafeInteger(m.t1) && Number.isSafeInteger(m.t2) && Number.isSafeInteger(m.t3)) this.o.onPong?.(m as unknown as Pong, receivedUs);
      return;
    }
    if (m?.t === MsgType.ERROR) return this.onError(m as unknown as ErrorMsg);
    if (m?.t !== MsgType.BATCH || !isBatch(m)) {
      this.o.log.warn({ url: this.urls[this.index] }, "replication: unexpected or malformed frame from the sequencer; reconnecting");
      ws.close();
      return;
    }
    this.onBatch(ws, m, receivedUs, trueReceivedUs);
  }

  private onError(m: ErrorMsg): void {
    if (m.code === WireReason.NOT_LEADER) return this.o.log.debug({ msg: m.msg }, "replication: that node is a standby");
    this.o.log.error({ code: m.code, msg: m.msg }, "replication: the sequencer refused us");
    if (m.code === WireReason.FORKED) this.forked = String(m.msg);
  }

  private onBatch(ws: WebSocket, b: Batch, receivedUs: number, trueReceivedUs: number): void {
    if (b.ep < this.o.epoch()) {
      if (this.counters.staleEpochBatches++ === 0) this.o.log.warn({ ep: b.ep, epoch: this.o.epoch() }, "replication: frames from an older epoch (a deposed sequencer): trying the next node");
      ws.close();
      return;
    }
    const p = this.o.position();
    if (b.first > p.next) {
      this.counters.gaps++;
      this.o.log.warn({ first: b.first, next: p.next }, "replication: gap in the log; re-subscribing");
      ws.close();
      return;
    }
    const recs = b.recs.slice(p.next - b.first);
    if (recs.length === 0) return;
    // Check the chain before handing anything on, so a forked batch changes nothing.
    let chain = p.chain;
    for (const r of recs) chain = chainNext(chain, r);
    if (!chain.equals(b.chain)) {
      this.forked = `hash chain mismatch in the batch from seq ${b.first}`;
      this.o.log.error({ first: b.first }, "replication: the sequencer's log forks from what we hold; refusing it");
      ws.close();
      return;
    }
    this.o.onRecords({ ep: b.ep, first: p.next, recs, chain, ts: b.ts, receivedUs, trueReceivedUs });
    assert(this.ws !== ws || this.o.position().next >= p.next, "subscriber: the owner's position went backwards");
  }
}
