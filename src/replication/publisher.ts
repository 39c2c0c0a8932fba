/**
 * The sequencer's end of the replication link: the /replicate endpoint.
 *
 *   1. intake    frames read strictly (validate.ts); SUBSCRIBE checked (leader, standby
 *                allowed, replica key, `from` retained, chain equal to ours before `from`:
 *                else FORKED); STATUS held to what was sent; PING answered at once
 *   2. cursors   every follower has its own: the next seq to send it, the last it applied
 *   3. send      new records, once encoded, to every follower at the tip; a lagging follower
 *                pumped from the ring, then the journal, at most PUMP_BYTES_PER_TURN per turn;
 *                a follower with more than `replicaBufferBytesMax` buffered waits for drain.
 *                Direct sends only, never pub/sub: uWS does not order the two, and a follower
 *                must see the log in order.
 *   silence     a subscribed follower that sends nothing (no STATUS, no PING) for
 *                `followerSilenceMsMax` is cut: a dead link must not hold a standby in the ISR or a
 *                replica in the `replicas:K` count (followers PING every few ms to a few hundred)
 *   4. progress  replicas' applied seqs (for `replicas:K` acks), checkpoint hashes compared
 *                across replicas (divergence alarm), standbys' durable seqs (for the ISR),
 *                halted replicas (for the operator)
 */
import type { Logger } from "pino";
import uWS from "uWebSockets.js";
import type { Clock } from "../clock/clock.js";
import type { Journal } from "../journal/journal.js";
import type { PromText } from "../metrics/prometheus.js";
import type { Authenticator } from "../protocol/auth.js";
import { encode } from "../protocol/codec.js";
import { HALT_REASON_NAME, MsgType, PROTOCOL_VERSION, WireReason, WIRE_REASON_NAME, type HaltReason, type Status, type Subscribe } from "../protocol/messages.js";
import { validateFollowerFrame } from "../protocol/validate.js";
import { assert } from "../util/assert.js";
import { LoginGate, type LoginLimits } from "../util/login-gate.js";
import type { RecordRing } from "./record-ring.js";
import { closeAll, upgradeWith } from "../util/uws.js";

export interface FollowerData {
  rid: string; next: number; applied: number; live: boolean; closed: boolean; bufferedPeak: number;
  /** Logged in with a replica key (always true without auth): only these count for `replicas:K` acks. */
  authenticated: boolean;
  /** A standby sequencer (gets every record at once; may join the ISR). */
  standby: boolean;
  /** Standbys: when the standby last reached `target`, a seq set at the previous catch-up. */
  caughtUpMs: number; target: number;
  /** A pump continuation is queued for the next event-loop turn. */
  pumpScheduled: boolean;
  /** performance.now() of the follower's last frame. */
  heardMs: number;
}

export interface PublisherOptions {
  readonly journal: Journal;
  readonly ring: RecordRing;
  readonly clock: Clock;
  readonly log: Logger;
  readonly batchRecordsMax: number;
  readonly replicaBufferBytesMax: number;
  readonly login: LoginLimits;
  /** Replica keys, when authentication is on. */
  readonly auth?: Authenticator;
  /** Whether standby sequencers may subscribe (ha mode). */
  readonly takesStandbys: boolean;
  /** Why this node serves no follower now (it is a standby: the message names the leader), or null. */
  readonly refusal: () => string | null;
  readonly epoch: () => number;
  /** The last seq replicas may be sent; standbys are sent everything journaled. */
  readonly committed: () => number;
  /** A follower's progress moved, or a standby came or went. */
  readonly onProgress: (standby: boolean) => void;
  /** A subscribed follower silent this long is cut (default FOLLOWER_SILENCE_MS_MAX). */
  readonly followerSilenceMsMax?: number;
}

/** Default for followerSilenceMsMax. */
export const FOLLOWER_SILENCE_MS_MAX = 2_000;
/** The silence check runs this many times per followerSilenceMsMax. */
const SILENCE_CHECKS_PER_MAX = 4;

/** What /stats says of each follower. */
export interface FollowerStats { id: string; standby: boolean; sent: number; applied: number; lag: number; buffered_bytes: number; buffered_peak_bytes: number }

/** Hard limit for uWS itself on frames from followers (theirs are small). */
const FOLLOWER_FRAME_BYTES_MAX = 64 * 1024;
/** uWS idle timeout: a follower's STATUS and PINGs keep the connection busy long before this. */
const IDLE_TIMEOUT_S = 120;
/** uWS closes a follower whose send buffer passes this many times our own budget: it stopped reading. */
const BACKPRESSURE_CLOSE_FACTOR = 4;
/** Catch-up sent per follower per event-loop turn, so a long copy stalls no one (nor the etcd lease). */
const PUMP_BYTES_PER_TURN = 1 << 20;
const CHECKPOINTS_KEPT_MAX = 256;
/** Halted replicas remembered for /stats and metrics (the oldest is forgotten beyond this). */
const HALTED_KEPT_MAX = 64;

type Socket = uWS.WebSocket<FollowerData>;

export class Publisher {
  /** Subscribed followers (replicas and standbys). */
  private readonly subscribed = new Set<Socket>();
  /** Every open /replicate connection, subscribed or not (closed on stop). */
  private readonly open = new Set<Socket>();
  private readonly gate: LoginGate;
  private readonly checkpoints = new Map<number, { hash: string; rid: string }>();
  /** Replicas that halted on a record they could not apply, by id: the seq and the reason. */
  private readonly halted = new Map<string, { seq: number; reason: string }>();
  /** Standbys' last durable seq, by id (kept after a disconnect: the ISR decides). */
  private readonly durable = new Map<string, number>();
  readonly counters = { divergences: 0, catchUps: 0, statuses: 0, statusRefused: 0, refusedLogins: 0, silentFollowers: 0 };
  private readonly silenceTimer: NodeJS.Timeout;

  constructor(private readonly o: PublisherOptions) {
    this.gate = new LoginGate(o.login, "/replicate");
    const silenceMs = o.followerSilenceMsMax ?? FOLLOWER_SILENCE_MS_MAX;
    this.silenceTimer = setInterval(() => this.cutSilent(silenceMs), Math.max(1, Math.floor(silenceMs / SILENCE_CHECKS_PER_MAX)));
    this.silenceTimer.unref();
  }

  private cutSilent(silenceMs: number): void {
    const now = performance.now();
    for (const ws of this.subscribed) {
      const d = ws.getUserData();
      if (now - d.heardMs <= silenceMs) continue;
      this.counters.silentFollowers++;
      this.o.log.warn({ rid: d.rid, standby: d.standby, quietMs: Math.round(now - d.heardMs) }, "follower silent past the deadline (a dead link?): cut");
      ws.close();
    }
  }

  /** The /replicate endpoint's uWS behaviour. */
  behavior(): uWS.WebSocketBehavior<FollowerData> {
    return {
      compression: uWS.DISABLED, maxPayloadLength: FOLLOWER_FRAME_BYTES_MAX, idleTimeout: IDLE_TIMEOUT_S,
      maxBackpressure: BACKPRESSURE_CLOSE_FACTOR * this.o.replicaBufferBytesMax, closeOnBackpressureLimit: 1,
      upgrade: (res, req, ctx) => upgradeWith<FollowerData>({ rid: "", next: 0, applied: 0, live: false, closed: false, bufferedPeak: 0, authenticated: false, standby: false, caughtUpMs: 0, target: 0, pumpScheduled: false, heardMs: 0 })(res, req, ctx),
      open: (ws) => {
        this.open.add(ws);
        this.gate.admit(ws);
      },
      message: (ws, msg) => this.onFrame(ws, msg),
      drain: (ws) => this.pump(ws),
      close: (ws) => {
        const d = ws.getUserData();
        d.closed = true;
        this.open.delete(ws);
        this.gate.done(ws);
        this.subscribed.delete(ws);
        if (d.standby) this.o.onProgress(true);
      },
    };
  }

  // ---- 1. intake --------------------------------------------------------------------------

  private onFrame(ws: Socket, bytes: ArrayBuffer): void {
    const receivedUs = this.o.clock.nowUs();
    const v = validateFollowerFrame(new Uint8Array(bytes));
    if (!v.ok) return this.refuse(ws, v.code, v.text);
    const m = v.msg;
    const d = ws.getUserData();
    d.heardMs = performance.now();
    if (m.t === MsgType.PING) {
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.PONG, t1: m.t1, t2: receivedUs, t3: this.o.clock.nowUs() }), true);
      return;
    }
    if (m.t === MsgType.SUBSCRIBE) {
      if (d.live) return this.refuse(ws, WireReason.ALREADY_LOGGED_IN, "this connection is already subscribed");
      return this.subscribe(ws, m);
    }
    if (!d.live) return this.refuse(ws, WireReason.NOT_SUBSCRIBED, "send SUBSCRIBE first");
    this.onStatus(ws, m);
  }

  /** Why this SUBSCRIBE is refused, or null: leadership, standby, key, range. */
  private subscribeRefusal(m: Subscribe): [WireReason, string] | null {
    const j = this.o.journal;
    const notLeading = this.o.refusal();
    if (notLeading !== null) return [WireReason.NOT_LEADER, notLeading];
    if (m.sb === true && !this.o.takesStandbys) return [WireReason.OUT_OF_RANGE, "this sequencer runs without ha: it takes no standby"];
    if (this.o.auth !== undefined) {
      const a = this.o.auth.verify(m, 0, this.o.clock.nowUs());
      if (!a.ok) {
        this.counters.refusedLogins++;
        this.o.log.warn({ rid: m.rid, why: a.why }, "replica subscription refused");
        return [WireReason.NOT_AUTHENTICATED, `subscription refused: ${a.why}`];
      }
    }
    if (m.from > j.lastSeq + 1) return [WireReason.OUT_OF_RANGE, `from ${m.from} is outside 1..${j.lastSeq + 1}`];
    if (m.from < j.firstSeq) return [WireReason.OUT_OF_RANGE, `seq ${m.from} is no longer retained; restore from a peer's snapshot`];
    j.flush();
    if (!this.chainBefore(m.from).equals(m.chain)) {
      this.o.log.error({ rid: m.rid, from: m.from }, "replica's log forks from ours: refused");
      return [WireReason.FORKED, `your chain at seq ${m.from - 1} differs from the sequencer's: the logs have forked`];
    }
    return null;
  }

  private subscribe(ws: Socket, m: Subscribe): void {
    const refusal = this.subscribeRefusal(m);
    if (refusal !== null) return this.refuse(ws, ...refusal);
    const last = this.o.journal.lastSeq;
    Object.assign(ws.getUserData(), { rid: m.rid, next: m.from, applied: m.from - 1, live: true, authenticated: true, standby: m.sb === true, caughtUpMs: performance.now(), target: last });
    this.gate.done(ws);
    this.subscribed.add(ws);
    this.halted.delete(m.rid);
    if (m.from <= last) this.counters.catchUps++;
    this.o.log.info({ rid: m.rid, from: m.from, lastSeq: last }, "replica subscribed");
    this.pump(ws);
  }

  private chainBefore(from: number): Buffer {
    const prev = from - 1;
    return this.o.ring.chain(prev) ?? this.o.journal.chainAt(prev);
  }

  /** ERROR with the reason, then close with 4000 + the reason's last three digits. */
  private refuse(ws: Socket, code: WireReason, msg: string): void {
    if (ws.getUserData().closed) return;
    ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.ERROR, code, msg }), true);
    ws.end(4000 + (code % 1000), WIRE_REASON_NAME[code]);
  }

  // ---- 3. send ----------------------------------------------------------------------------

  /** The last seq this follower may be sent: standbys get everything, replicas what is committed. */
  private limitFor(d: FollowerData): number {
    return d.standby ? this.o.journal.lastSeq : this.o.committed();
  }

  /** Sends the new records once, as the same bytes, to every follower at the tip; pumps the others. */
  publishNew(): void {
    this.sendToTip(true);
    this.sendToTip(false);
  }

  private sendToTip(standbys: boolean): void {
    const last = standbys ? this.o.journal.lastSeq : this.o.committed();
    const atTip: Socket[] = [];
    let first = Infinity;
    for (const ws of this.subscribed) {
      const d = ws.getUserData();
      if (d.standby !== standbys || d.next > last) continue;
      if (ws.getBufferedAmount() < this.o.replicaBufferBytesMax) {
        if (first === Infinity) first = d.next;
        if (d.next === first && last - first < this.o.batchRecordsMax) {
          atTip.push(ws);
          continue;
        }
      }
      this.pump(ws);
    }
    if (atTip.length === 0) return;
    const frame = this.batchFrame(first, last - first + 1);
    for (const ws of atTip) {
      ws.send(frame, true);
      const d = ws.getUserData();
      d.next = last + 1;
      d.bufferedPeak = Math.max(d.bufferedPeak, ws.getBufferedAmount());
    }
  }

  /** Sends a lagging follower what it misses, batch by batch, until current, backpressured or out of this turn's budget. */
  private pump(ws: Socket): void {
    const d = ws.getUserData();
    if (d.closed) return;
    ws.cork(() => this.pumpCorked(ws, d));
  }

  private pumpCorked(ws: Socket, d: FollowerData): void {
    const last = this.limitFor(d);
    let budget = PUMP_BYTES_PER_TURN;
    while (!d.closed && d.next <= last && ws.getBufferedAmount() < this.o.replicaBufferBytesMax) {
      if (budget <= 0) {
        if (!d.pumpScheduled) {
          d.pumpScheduled = true;
          setImmediate(() => { d.pumpScheduled = false; if (!d.closed) this.pump(ws); });
        }
        return;
      }
      const n = Math.min(this.o.batchRecordsMax, last - d.next + 1);
      const frame = this.batchFrame(d.next, n);
      ws.send(frame, true);
      budget -= frame.length;
      d.next += n;
      d.bufferedPeak = Math.max(d.bufferedPeak, ws.getBufferedAmount());
    }
  }

  private batchFrame(first: number, n: number): Buffer {
    const recs: Buffer[] = [];
    let chain: Buffer;
    const ring = this.o.ring;
    if (ring.has(first) && ring.has(first + n - 1)) {
      // Views of the ring's arena, copied into the frame before anything else is pushed.
      for (let s = first; s < first + n; s++) recs.push(ring.payload(s)!);
      chain = ring.chain(first + n - 1)!;
    } else {
      const rs = this.o.journal.read(first, n);
      for (const r of rs) recs.push(r.payload);
      chain = rs[rs.length - 1]!.chain;
    }
    assert(recs.length === n, `publisher: batch from ${first} has ${recs.length} records, not ${n}`);
    return encode({ v: PROTOCOL_VERSION, t: MsgType.BATCH, ep: this.o.epoch(), first, recs, chain, ts: this.o.clock.nowUs() });
  }

  // ---- 4. progress ------------------------------------------------------------------------

  /**
   * A follower's progress. It is held to what it was sent: a STATUS beyond that (or with a
   * checkpoint beyond its seq) is refused, counted, and the connection closed, so no follower
   * can release acks for records it never had.
   */
  private onStatus(ws: Socket, m: Status): void {
    const d = ws.getUserData();
    const sent = d.next - 1;
    this.counters.statuses++;
    if (m.seq > sent || m.ck > m.seq) {
      this.counters.statusRefused++;
      this.o.log.warn({ rid: d.rid, seq: m.seq, ck: m.ck, sent }, "follower claimed progress beyond what it was sent: refused");
      return this.refuse(ws, WireReason.OUT_OF_RANGE, `STATUS seq ${m.seq} (checkpoint ${m.ck}) is beyond seq ${sent}, the last one sent to you`);
    }
    if (m.halt !== undefined) this.onHalted(d, m.halt, m.hseq ?? m.seq + 1);
    if (m.seq > d.applied) d.applied = m.seq;
    if (d.standby) {
      this.durable.set(d.rid, d.applied);
      if (d.applied >= d.target) {
        d.caughtUpMs = performance.now();
        d.target = this.o.journal.lastSeq;
      }
      return this.o.onProgress(true);
    }
    if (m.ck > 0) this.checkpoint(d.rid, m.ck, m.ckh);
    this.o.onProgress(false);
  }

  private checkpoint(rid: string, ck: number, hash: string): void {
    const seen = this.checkpoints.get(ck);
    if (seen === undefined) {
      this.checkpoints.set(ck, { hash, rid });
      if (this.checkpoints.size > CHECKPOINTS_KEPT_MAX) this.checkpoints.delete(this.checkpoints.keys().next().value!);
    } else if (seen.hash !== hash) {
      this.counters.divergences++;
      this.o.log.error({ seq: ck, [seen.rid]: seen.hash, [rid]: hash }, "DIVERGENCE: replicas disagree on the state hash at the same seq");
    }
  }

  private onHalted(d: FollowerData, code: number, seq: number): void {
    const reason = HALT_REASON_NAME[code as HaltReason] ?? `code ${code}`;
    if (this.halted.get(d.rid)?.seq !== seq) this.o.log.error({ rid: d.rid, seq, reason }, "REPLICA HALTED: it cannot apply the record at this seq");
    this.halted.delete(d.rid);
    this.halted.set(d.rid, { seq, reason });
    if (this.halted.size > HALTED_KEPT_MAX) this.halted.delete(this.halted.keys().next().value!);
  }

  /** Applied seqs of the replicas that count for `replicas:K` acks (logged in with a replica key), highest first. */
  replicaApplied(): number[] {
    const out: number[] = [];
    for (const ws of this.subscribed) {
      const d = ws.getUserData();
      if (!d.standby && d.authenticated) out.push(d.applied);
    }
    return out.sort((x, y) => y - x);
  }

  /** Connected standbys (the ISR logic reads and stamps their catch-up times). */
  *standbys(): Generator<FollowerData> {
    for (const ws of this.subscribed) if (ws.getUserData().standby) yield ws.getUserData();
  }

  /** A standby's last durable seq as it reported it (0 if never). */
  durableOf(rid: string): number {
    return this.durable.get(rid) ?? 0;
  }

  followers(): FollowerStats[] {
    const last = this.o.journal.lastSeq;
    return [...this.subscribed].map((ws) => {
      const d = ws.getUserData();
      return { id: d.rid, standby: d.standby, sent: d.next - 1, applied: d.applied, lag: last - d.applied, buffered_bytes: d.closed ? 0 : ws.getBufferedAmount(), buffered_peak_bytes: d.bufferedPeak };
    });
  }

  haltedReplicas(): { id: string; seq: number; reason: string }[] {
    return [...this.halted].map(([id, h]) => ({ id, seq: h.seq, reason: h.reason }));
  }

  get waiting(): number {
    return this.gate.size;
  }

  metrics(p: PromText): void {
    const last = this.o.journal.lastSeq;
    p.counter("lockstep_sequencer_divergences_total", "Checkpoints where replicas reported different state hashes.", [[{}, this.counters.divergences]])
      .counter("lockstep_sequencer_catch_ups_total", "Replica subscriptions that started behind the log's end.", [[{}, this.counters.catchUps]])
      .counter("lockstep_sequencer_silent_followers_total", "Followers cut for sending nothing within followerSilenceMsMax.", [[{}, this.counters.silentFollowers]])
      .counter("lockstep_sequencer_status_refused_total", "STATUS frames refused because they claimed more than the follower was sent.", [[{}, this.counters.statusRefused]])
      .gaugeSet("lockstep_sequencer_replica_lag_seq", "Sequence numbers a follower has not yet reported applied.", [...this.subscribed].map((ws) => [{ replica: ws.getUserData().rid }, last - ws.getUserData().applied] as [Record<string, string>, number]))
      .gaugeSet("lockstep_sequencer_replica_halted", "1 for each replica halted at a record it cannot apply, with the reason.", this.haltedReplicas().map((h) => [{ replica: h.id, reason: h.reason }, 1] as [Record<string, string>, number]));
  }

  loginCounters(): { evicted: number; expired: number } {
    return { evicted: this.gate.evicted, expired: this.gate.expired };
  }

  /** Closes every /replicate connection (1001), resolving once all are closed. */
  close(code: number, why: string): Promise<void> {
    this.gate.stop();
    clearInterval(this.silenceTimer);
    return closeAll([this.open], code, why);
  }
}
