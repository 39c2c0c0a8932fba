/**
 * A standby sequencer's link to the leader: subscribes to /replicate as a standby, checks each
 * BATCH (epoch not older than any seen, contiguous, hash chain ends at the frame's chain) and
 * appends its records to the standby's own journal; reports the journal's durable seq back
 * (STATUS), which is what the leader gates replicas and acks on while the standby is in sync.
 */
import type { Logger } from "pino";
import { WebSocket } from "ws";
import type { Clock } from "../clock/clock.js";
import type { Journal } from "../journal/journal.js";
import { chainNext } from "../protocol/record.js";
import { prove } from "../protocol/auth.js";
import { decode, encode } from "../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WireReason, type Batch, type ErrorMsg } from "../protocol/messages.js";

export interface FollowerOptions {
  readonly id: string;
  readonly journal: Journal;
  readonly clock: Clock;
  readonly log: Logger;
  readonly credentials?: { readonly keyId: string; readonly secret: string };
  /** The highest epoch this node has seen; frames from older ones are ignored. */
  readonly epoch: () => number;
  /** Called with each record after it is appended (the sequencer keeps its ring warm). */
  readonly onAppend: (seq: number, payload: Buffer, chain: Buffer) => void;
  /** Runs before every subscription (the sequencer cuts a tail a newer epoch replaced). */
  readonly beforeSubscribe: () => Promise<void>;
}

const RETRY_MS = 100;

export class LogFollower {
  private ws: WebSocket | null = null;
  private url: string | null = null;
  private retry: NodeJS.Timeout | null = null;
  /** Why the leader's log was refused (a fork), or null. */
  forked: string | null = null;

  constructor(private readonly o: FollowerOptions) {}

  get following(): string | null {
    return this.url;
  }

  /** Follows `url` (undefined: nobody), dropping any other link first. */
  follow(url: string | undefined): void {
    if (url === this.url && this.ws !== null) return;
    this.stop();
    if (url === undefined) return;
    this.url = url;
    void this.connect(url);
  }

  private async connect(url: string): Promise<void> {
    if (this.url !== url || this.forked !== null) return;
    try {
      await this.o.beforeSubscribe();
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, "standby: cannot prepare to follow; retrying");
      this.retry = setTimeout(() => void this.connect(url), RETRY_MS * 10);
      return;
    }
    if (this.url !== url) return;
    const ws = new WebSocket(`${url}/replicate`, { perMessageDeflate: false, maxPayload: 64 << 20 });
    this.ws = ws;
    ws.binaryType = "nodebuffer";
    ws.on("open", () => {
      const j = this.o.journal;
      j.flush();
      const c = this.o.credentials;
      const proof = c === undefined ? {} : prove(c.keyId, c.secret, 0, this.o.clock.nowUs());
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUBSCRIBE, rid: this.o.id, from: j.lastSeq + 1, chain: j.chain, sb: true, ...proof }));
      this.o.log.info({ leader: url, from: j.lastSeq + 1 }, "standby: following the leader");
    });
    ws.on("message", (data: Buffer) => this.onFrame(ws, data));
    ws.on("error", (err) => this.o.log.debug({ err: err.message }, "standby: leader connection error"));
    ws.on("close", () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.url === url && this.forked === null) this.retry = setTimeout(() => void this.connect(url), RETRY_MS);
    });
  }

  private onFrame(ws: WebSocket, data: Buffer): void {
    if (this.ws !== ws) return;
    const m = decode(data) as Batch | ErrorMsg | undefined;
    if (m?.t === MsgType.ERROR) {
      if (m.code === WireReason.NOT_LEADER) this.o.log.info({ msg: m.msg }, "standby: that node no longer leads");
      else {
        this.o.log.error({ code: m.code, msg: m.msg }, "standby: the leader refused us");
        if (m.code === WireReason.FORKED) this.forked = m.msg;
      }
      return;
    }
    if (m?.t !== MsgType.BATCH) return;
    if (m.ep < this.o.epoch()) {
      this.o.log.warn({ ep: m.ep, epoch: this.o.epoch() }, "standby: ignoring a frame from an older epoch; waiting for the current leader");
      ws.close();
      return;
    }
    const j = this.o.journal;
    if (m.first > j.lastSeq + 1) {
      this.o.log.warn({ first: m.first, lastSeq: j.lastSeq }, "standby: gap in the log: re-subscribing");
      ws.close();
      return;
    }
    const skip = j.lastSeq + 1 - m.first;
    if (skip >= m.recs.length) return;
    // Check the chain before appending anything, so a forked batch leaves the journal as it was.
    let chain = j.chain;
    for (let i = skip; i < m.recs.length; i++) chain = chainNext(chain, m.recs[i]!);
    if (!chain.equals(m.chain)) {
      this.forked = `hash chain mismatch in the batch from seq ${m.first}`;
      this.o.log.error({ first: m.first }, "standby: the leader's log forks from ours: refusing it");
      ws.close();
      return;
    }
    for (let i = skip; i < m.recs.length; i++) {
      const r = m.recs[i]!;
      const payload = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
      this.o.onAppend(m.first + i, payload, j.append(m.first + i, payload));
    }
    j.flush();
  }

  /** Tells the leader how far our journal is durable. */
  onDurable(seq: number): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.STATUS, rid: this.o.id, seq, ck: 0, ckh: "" }));
  }

  stop(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.url = null;
    const ws = this.ws;
    this.ws = null;
    ws?.terminate();
  }
}
