/**
 * The sequencer: totally orders every command and streams the ordered log to replicas.
 *
 * Pipeline, in order, for every inbound frame on /trade:
 *   1. gate      size limit, strict decode, validate (reject with a WireReason; nothing else
 *                happens), login and rate limits
 *   2. sequence  seq = lastSeq + 1 (new orders take seq as their order id), stamp clock time,
 *                build the command, seal the record (encode, decode with the replicas' decoder,
 *                compare: a mismatch refuses the frame), extend the hash chain, append to the
 *                journal buffer
 *   3. tick      once per event-loop turn, after all frames of that turn:
 *                journal.flush() (group commit), then replicate, then release acks
 *   4. replicate direct sends to each replica from its own cursor (ring, then journal), one
 *                frame per batch, stopping at the replica's backpressure limit and resuming on
 *                drain: one path only, so a replica always sees the log in order
 *   5. ack       to the client once the configured durability holds:
 *                none (journal written), journal (fsync'd per policy), replicas:K (K replicas
 *                applied it)
 * Replicas report (seq, state hash) checkpoints; a disagreement raises a divergence alarm.
 *
 * With `ha` (docs/failover.md), leadership comes from etcd: a node starts as a standby that
 * journals the leader's log (LogFollower) and refuses clients and replicas (NOT_LEADER); once
 * elected and allowed to lead (coordinator.ts), it takes the next epoch. A leader sends
 * replicas, and acks clients, only what every in-sync standby (ISR) has journaled, so a
 * promoted standby holds everything anyone outside the sequencers has seen.
 */
import type { Logger } from "pino";
import uWS from "uWebSockets.js";
import type { Clock } from "../clock/clock.js";
import { Journal, type FsyncPolicy } from "../journal/journal.js";
import { encode } from "../protocol/codec.js";
import { commandOf, orderIdsOf, sealRecord, type Command, type InstrumentConfig } from "../protocol/command.js";
import { HALT_REASON_NAME, MsgType, PROTOCOL_VERSION, WireReason, WIRE_REASON_NAME, type HaltReason, type Subscribe, type Status } from "../protocol/messages.js";
import { validateClientFrame, validateFollowerFrame } from "../protocol/validate.js";
import { Ring } from "../util/ring.js";
import { CloseCode, LoginGate } from "../util/login-gate.js";
import { closeAll, listen, upgradeWith } from "../util/uws.js";
import { PromText } from "../metrics/prometheus.js";
import type { Authenticator } from "../protocol/auth.js";
import { DEFAULT_LIMITS, TokenBucket, type GatewayLimits } from "./limits.js";
import { decodeRecord } from "../protocol/record.js";
import { mayLead, type ClusterState, type Coordinator } from "./coordinator.js";
import { LogFollower } from "./follower.js";

export type AckPolicy = { readonly mode: "none" } | { readonly mode: "journal" } | { readonly mode: "replicas"; readonly count: number };

export interface SequencerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly epoch: number;
  readonly instruments: readonly InstrumentConfig[];
  readonly journal: { readonly dir: string; readonly segmentBytesMax: number; readonly fsync: FsyncPolicy; readonly retainSegmentsMax: number };
  readonly ack: AckPolicy;
  /** Largest inbound frame accepted from a client; larger ones are rejected (FRAME_TOO_LARGE). */
  readonly frameBytesMax: number;
  readonly batchRecordsMax: number;
  /** A replica with more than this buffered stops receiving until it drains. */
  readonly replicaBufferBytesMax: number;
  /** Recent records kept in memory for catch-up before going to the journal. */
  readonly ringRecordsMax: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** When set, HELLO must carry a valid proof for a client key, SUBSCRIBE one for a replica key. */
  readonly auth?: { readonly clients: Authenticator; readonly replicas: Authenticator };
  /** Rate limits and the connection cap; DEFAULT_LIMITS when absent. */
  readonly limits?: Partial<GatewayLimits>;
  /** Leader election and standby mode; without it this node leads `epoch` on its own. */
  readonly ha?: HaOptions;
}

export interface HaOptions {
  readonly coordinator: Coordinator;
  /** This node's id (the same as the coordinator's). */
  readonly id: string;
  /** An in-sync standby that has not caught up for this long leaves the ISR. */
  readonly isrLagMsMax: number;
  /** Our key when the leader requires authentication of followers. */
  readonly credentials?: { readonly keyId: string; readonly secret: string };
  /** Called once if leadership is lost while leading; the node has stopped serving. */
  readonly onFenced: (why: string) => void;
}

/** A standby elected while not allowed to lead resigns and campaigns again after this. */
const RECAMPAIGN_MS = 500;

/** Failed logins, and frames sent without logging in, before the connection is closed. */
const AUTH_FAILURES_MAX = 3;
const UNAUTHENTICATED_FRAMES_MAX = 10;
/** Rate-limited commands in a row before the connection is closed: refusing a flood costs CPU too. */
const RATE_LIMITED_IN_A_ROW_MAX = 1_000;

interface ClientData { acct: number; closed: boolean; authFailures: number; unauthenticated: number; bucket: TokenBucket | null; limitedInARow: number }
interface ReplicaData {
  rid: string; next: number; applied: number; live: boolean; closed: boolean; bufferedPeak: number;
  /** Logged in with a replica key (always true without auth): only these count for `replicas:K` acks. */
  authenticated: boolean;
  /** A standby sequencer (gets every record at once; may join the ISR). */
  standby: boolean;
  /** Standbys: when the standby last reached `target`, a seq set at the previous catch-up. */
  caughtUpMs: number; target: number;
  /** A pump continuation is queued for the next event-loop turn. */
  pumpScheduled: boolean;
}
/** `oid2`: an OCO's stop leg id, 0 otherwise (then not sent). */
interface PendingAck { ws: uWS.WebSocket<ClientData>; cid: number; seq: number; oid: number; oid2: number }
interface RingRecord { seq: number; payload: Buffer; chain: Buffer }

/** Hard limit for uWS itself; beyond our own frameBytesMax we still answer with a reject. */
const UWS_PAYLOAD_BYTES_MAX = 1 << 20;
const CHECKPOINTS_KEPT_MAX = 256;
/** Halted replicas remembered for /stats and metrics (the oldest is forgotten beyond this). */
const HALTED_KEPT_MAX = 64;
const PUMP_BYTES_PER_TURN = 1 << 20;

export class Sequencer {
  /** Held for the node's lifetime (this uWS build has no app.close(); stop() closes the listen socket and every connection). */
  private app: uWS.TemplatedApp | null = null;
  private listenSocket: uWS.us_listen_socket | null = null;
  private readonly journal: Journal;
  private readonly instrumentIds: ReadonlySet<number>;
  private readonly ring: Ring<RingRecord>;
  private readonly pendingAcks: PendingAck[] = [];
  /** Subscribed followers (replicas and standbys). */
  private readonly replicas = new Set<uWS.WebSocket<ReplicaData>>();
  /** Every open /replicate connection, subscribed or not (closed on stop). */
  private readonly followers = new Set<uWS.WebSocket<ReplicaData>>();
  private readonly clients = new Set<uWS.WebSocket<ClientData>>();
  /** Trading connections logged in: the ones `connectionsMax` counts. */
  private loggedIn = 0;
  private readonly tradeGate: LoginGate;
  private readonly replicateGate: LoginGate;
  /** Replicas that halted on a record they could not apply, by id: the seq and the reason. */
  private readonly halted = new Map<string, { seq: number; reason: string }>();
  private readonly checkpoints = new Map<number, { hash: string; rid: string }>();
  private readonly limits: GatewayLimits;
  private readonly accountBuckets = new Map<number, TokenBucket>();
  private tickScheduled = false;
  private port_ = 0;
  private epoch: number;
  private role: "leader" | "standby" | "fenced";
  /** Replicas get, and clients are acked, records up to here: everything in non-HA mode. */
  private committed = 0;
  private follower: LogFollower | null = null;
  private leaderUrl: string | undefined;
  private clusterState: ClusterState | null = null;
  /** In-sync standbys as confirmed in etcd, with the last durable seq each reported. */
  private isr = new Set<string>();
  private readonly standbyDurable = new Map<string, number>();
  private isrWriting = false;
  private haTimer: NodeJS.Timeout | null = null;
  /** State revision at which we last found ourselves not allowed to lead (logged once). */
  private ineligibleAt = "";
  private promoting = false;
  readonly counters = { commands: 0, acks: 0, rejects: new Map<number, number>(), divergences: 0, catchUps: 0, statusRefused: 0, sealFailures: 0 };

  constructor(private readonly o: SequencerOptions) {
    this.journal = Journal.open({ ...o.journal, onDurable: (seq) => { this.follower?.onDurable(seq); this.scheduleTick(); } });
    if (this.journal.truncatedBytes > 0) o.log.warn({ note: this.journal.recoveryNote }, "journal: cut a torn tail on open");
    this.instrumentIds = new Set(o.instruments.map((i) => i.id));
    this.ring = new Ring(o.ringRecordsMax);
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.tradeGate = new LoginGate(this.limits, "/trade");
    this.replicateGate = new LoginGate(this.limits, "/replicate");
    this.epoch = o.ha === undefined ? o.epoch : this.lastLoggedEpoch();
    this.role = o.ha === undefined ? "leader" : "standby";
    this.committed = this.journal.lastSeq;
  }

  get port(): number {
    return this.port_;
  }
  get lastSeq(): number {
    return this.journal.lastSeq;
  }
  get isLeader(): boolean {
    return this.role === "leader";
  }

  async start(): Promise<number> {
    const app = uWS.App();
    app.ws<ClientData>("/trade", {
      compression: uWS.DISABLED, maxPayloadLength: UWS_PAYLOAD_BYTES_MAX, idleTimeout: 120,
      maxBackpressure: 1 << 20, closeOnBackpressureLimit: 1,
      upgrade: (res, req, ctx) => upgradeWith<ClientData>({ acct: 0, closed: false, authFailures: 0, unauthenticated: 0, bucket: null, limitedInARow: 0 })(res, req, ctx),
      open: (ws) => {
        this.clients.add(ws);
        this.tradeGate.admit(ws);
      },
      message: (ws, msg) => this.onClientFrame(ws, msg),
      close: (ws) => {
        const d = ws.getUserData();
        d.closed = true;
        if (d.acct !== 0) this.loggedIn--;
        this.clients.delete(ws);
        this.tradeGate.done(ws);
      },
    });
    app.ws<ReplicaData>("/replicate", {
      compression: uWS.DISABLED, maxPayloadLength: UWS_PAYLOAD_BYTES_MAX, idleTimeout: 120,
      maxBackpressure: 4 * this.o.replicaBufferBytesMax, closeOnBackpressureLimit: 1,
      upgrade: (res, req, ctx) => upgradeWith<ReplicaData>({ rid: "", next: 0, applied: 0, live: false, closed: false, bufferedPeak: 0, authenticated: false, standby: false, caughtUpMs: 0, target: 0, pumpScheduled: false })(res, req, ctx),
      open: (ws) => {
        this.followers.add(ws);
        this.replicateGate.admit(ws);
      },
      message: (ws, msg) => this.onReplicaFrame(ws, msg),
      drain: (ws) => this.pump(ws),
      close: (ws) => {
        ws.getUserData().closed = true;
        this.followers.delete(ws);
        this.replicateGate.done(ws);
        this.replicas.delete(ws);
        if (ws.getUserData().standby) this.scheduleTick();
      },
    });
    app.get("/stats", (res) => {
      res.writeHeader("content-type", "application/json").end(JSON.stringify(this.stats()));
    });
    app.get("/metrics", (res) => {
      res.writeHeader("content-type", "text/plain; version=0.0.4").end(this.metrics());
    });
    this.app = app;
    const l = await listen(app, this.o.host, this.o.port, "sequencer");
    this.listenSocket = l.token;
    this.port_ = l.port;
    if (this.o.ha !== undefined) await this.joinCluster(this.o.ha);
    return this.port_;
  }

  // ---- leadership (ha) --------------------------------------------------------------------

  /** Epoch of the last record in the journal (0 when empty). */
  private lastLoggedEpoch(): number {
    const last = this.journal.lastSeq;
    if (last === 0 || last < this.journal.firstSeq) return 0;
    return decodeRecord(this.journal.read(last, 1)[0]!.payload).epoch;
  }

  private async joinCluster(ha: HaOptions): Promise<void> {
    this.follower = new LogFollower({
      id: ha.id, journal: this.journal, clock: this.o.clock, log: this.o.log, epoch: () => this.epoch,
      ...(ha.credentials === undefined ? {} : { credentials: ha.credentials }),
      onAppend: (seq, payload, chain) => this.ring.push({ seq, payload, chain }),
      beforeSubscribe: () => this.cutReplacedTail(ha),
    });
    await this.cutReplacedTail(ha);
    await ha.coordinator.observe((url) => {
      this.leaderUrl = url;
      if (this.role === "standby") this.follower!.follow(url === undefined || url === this.selfUrl() ? undefined : url);
    });
    this.campaign(ha);
    // Ticks while idle too, so an in-sync standby that stops answering leaves the ISR and a
    // lease renewed after a pause releases what was held.
    this.haTimer = setInterval(() => this.scheduleTick(), Math.max(10, Math.floor(ha.isrLagMsMax / 4)));
  }

  private selfUrl(): string {
    return `ws://${this.o.host}:${this.port_}`;
  }

  /**
   * Records after the start of an epoch newer than our last record's were written by a leader
   * that was replaced; they were never sent to replicas or acked (the new leader was in sync
   * and lacks them), so they are cut before following the new log.
   */
  private async cutReplacedTail(ha: HaOptions): Promise<void> {
    const mine = this.lastLoggedEpoch();
    const newer = await ha.coordinator.epochsAfter(mine);
    const { state } = await ha.coordinator.readState();
    if (state !== null && state.epoch > this.epoch) this.epoch = state.epoch;
    const cut = newer.length === 0 ? this.journal.lastSeq : newer[0]!.startSeq - 1;
    if (cut >= this.journal.lastSeq) return;
    this.o.log.warn({ from: cut + 1, to: this.journal.lastSeq, epoch: mine, newerEpoch: newer[0]!.epoch }, "journal: cutting records a newer epoch replaced (never committed)");
    this.journal.truncateAfter(cut);
    this.ring.clear();
    this.committed = Math.min(this.committed, cut);
  }

  private campaign(ha: HaOptions): void {
    ha.coordinator.campaign(this.selfUrl(), () => void this.onElected(ha), (why) => this.onLeaseLost(ha, why));
  }

  private async onElected(ha: HaOptions): Promise<void> {
    if (this.role !== "standby" || this.promoting) return;
    this.promoting = true;
    try {
      await this.promote(ha);
    } finally {
      this.promoting = false;
    }
  }

  private async promote(ha: HaOptions): Promise<void> {
    // Take nothing more from the old leader from here on.
    this.follower!.stop();
    this.journal.flush();
    try {
      const prev = await ha.coordinator.readState();
      const next = mayLead(prev.state, ha.id, this.journal.lastSeq) ? await ha.coordinator.promote(prev, this.journal.lastSeq + 1, this.lastLoggedEpoch()) : null;
      if (next === null) {
        if (prev.rev !== this.ineligibleAt) this.o.log.warn({ state: prev.state, lastSeq: this.journal.lastSeq }, "elected, but not in sync with the last leader: resigning until it or an in-sync standby returns");
        this.ineligibleAt = prev.rev;
        await ha.coordinator.resign();
        this.follower!.follow(this.leaderUrl === this.selfUrl() ? undefined : this.leaderUrl);
        setTimeout(() => { if (this.role === "standby") this.campaign(ha); }, RECAMPAIGN_MS);
        return;
      }
      this.clusterState = next;
      this.epoch = next.epoch;
      this.isr = new Set();
      this.committed = this.journal.lastSeq;
      this.role = "leader";
      this.o.log.warn({ epoch: next.epoch, startSeq: next.startSeq }, "promoted: leading a new epoch");
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, "promotion failed: resigning");
      await ha.coordinator.resign();
      this.follower!.follow(this.leaderUrl === this.selfUrl() ? undefined : this.leaderUrl);
      setTimeout(() => { if (this.role === "standby") this.campaign(ha); }, RECAMPAIGN_MS);
    }
  }

  private onLeaseLost(ha: HaOptions, why: string): void {
    if (this.role === "leader") return this.fence(ha, `lease lost: ${why}`);
    if (this.role !== "standby") return;
    this.o.log.warn({ why }, "standby: campaign lost its lease; campaigning again");
    setTimeout(() => { if (this.role === "standby") this.campaign(ha); }, RECAMPAIGN_MS);
  }

  /** Leadership is gone: stop serving at once; the operator (or supervisor) restarts us as a standby. */
  private fence(ha: HaOptions, why: string): void {
    if (this.role === "fenced") return;
    this.role = "fenced";
    this.o.log.error({ why, epoch: this.epoch }, "FENCED: no longer the leader; stopping");
    this.stop();
    ha.onFenced(why);
  }

  /**
   * Leader: adds a standby to the ISR once it is caught up, removes one that disconnected or
   * has not caught up for isrLagMsMax. One etcd write at a time; the gate uses the confirmed set.
   */
  private updateIsr(ha: HaOptions): void {
    if (this.role !== "leader" || this.isrWriting || this.clusterState === null) return;
    const now = performance.now();
    const want = new Set(this.isr);
    const connected = new Set<string>();
    for (const ws of this.replicas) {
      const d = ws.getUserData();
      if (!d.standby) continue;
      connected.add(d.rid);
      if (d.applied >= this.journal.lastSeq) d.caughtUpMs = now;
      if (this.journal.lastSeq - d.applied <= this.o.batchRecordsMax) want.add(d.rid);
      if (want.has(d.rid) && now - d.caughtUpMs > ha.isrLagMsMax) want.delete(d.rid);
    }
    for (const rid of want) if (!connected.has(rid)) want.delete(rid);
    if (want.size === this.isr.size && [...want].every((r) => this.isr.has(r))) return;
    this.isrWriting = true;
    const state = this.clusterState;
    ha.coordinator.setIsr(state, [...want]).then((ok) => {
      this.isrWriting = false;
      if (!ok) return this.fence(ha, "our election key is gone");
      this.isr = want;
      this.clusterState = { ...state, isr: [...want] };
      this.o.log.info({ isr: [...want] }, "in-sync standbys changed");
      this.scheduleTick();
    }, (err: Error) => {
      this.isrWriting = false;
      this.o.log.error({ err: err.message }, "etcd: could not update the in-sync standbys; will retry");
      setTimeout(() => this.scheduleTick(), RECAMPAIGN_MS);
    });
  }

  /** The highest seq every in-sync standby has journaled (the log's end without ha). */
  private commitSeq(): number {
    let c = this.journal.lastSeq;
    for (const rid of this.isr) c = Math.min(c, this.standbyDurable.get(rid) ?? 0);
    return c;
  }

  // ---- 1. gate ----------------------------------------------------------------------------

  private onClientFrame(ws: uWS.WebSocket<ClientData>, bytes: ArrayBuffer): void {
    if (bytes.byteLength > this.o.frameBytesMax) return this.reject(ws, 0, WireReason.FRAME_TOO_LARGE, `frame of ${bytes.byteLength} bytes exceeds ${this.o.frameBytesMax}`);
    const v = validateClientFrame(new Uint8Array(bytes), this.instrumentIds);
    if (!v.ok) return this.reject(ws, v.cid, v.code, v.text);
    const m = v.msg;
    const user = ws.getUserData();
    if (this.role !== "leader") {
      this.reject(ws, m.t === MsgType.HELLO ? 0 : m.cid, WireReason.NOT_LEADER, `this sequencer is a standby; the leader is ${this.leaderUrl ?? "not known yet"}`);
      if (m.t === MsgType.HELLO) ws.end(1013, "not the leader");
      return;
    }
    if (m.t === MsgType.HELLO) {
      if (user.acct !== 0) return this.reject(ws, 0, WireReason.ALREADY_LOGGED_IN, "this connection already has an account");
      if (this.o.auth !== undefined) {
        const a = this.o.auth.clients.verify(m, m.acct, this.o.clock.nowUs());
        if (!a.ok) {
          this.reject(ws, 0, WireReason.NOT_AUTHENTICATED, `login refused: ${a.why}`);
          if (++user.authFailures >= AUTH_FAILURES_MAX) ws.end(4003, "too many failed logins");
          return;
        }
      }
      if (this.loggedIn >= this.limits.connectionsMax) {
        this.reject(ws, 0, WireReason.OVERLOADED, `the sequencer takes at most ${this.limits.connectionsMax} trading connections`);
        ws.end(1013, "too many connections");
        return;
      }
      user.acct = m.acct;
      this.loggedIn++;
      this.tradeGate.done(ws);
      const now = performance.now();
      user.bucket = new TokenBucket(this.limits.connectionRatePerS, this.limits.connectionBurst, now);
      if (!this.accountBuckets.has(m.acct)) this.accountBuckets.set(m.acct, new TokenBucket(this.limits.accountRatePerS, this.limits.accountBurst, now));
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO_OK, acct: m.acct, ep: this.epoch, seq: this.journal.lastSeq }), true);
      return;
    }
    if (user.acct === 0) {
      this.reject(ws, m.cid, WireReason.NOT_LOGGED_IN, "send HELLO first");
      if (++user.unauthenticated >= UNAUTHENTICATED_FRAMES_MAX) ws.end(4003, "too many frames without logging in");
      return;
    }
    const now = performance.now();
    const limited = !user.bucket!.take(now) ? `more than ${this.limits.connectionRatePerS} commands/s (burst ${this.limits.connectionBurst}) on this connection`
      : !this.accountBuckets.get(user.acct)!.take(now) ? `more than ${this.limits.accountRatePerS} commands/s (burst ${this.limits.accountBurst}) for this account` : null;
    if (limited !== null) {
      this.reject(ws, m.cid, WireReason.RATE_LIMITED, limited);
      if (++user.limitedInARow >= RATE_LIMITED_IN_A_ROW_MAX) ws.end(4008, "rate limit exceeded persistently");
      return;
    }
    user.limitedInARow = 0;
    const seq = this.journal.lastSeq + 1;
    if (!this.sequence(commandOf(m, seq, user.acct))) return this.reject(ws, m.cid, WireReason.INTERNAL, "this command could not be recorded faithfully (a bug, logged); it was not sequenced");
    const [oid, oid2] = m.t === MsgType.NEW ? orderIdsOf(m, seq) : [m.t === MsgType.KILL ? 0 : m.oid ?? 0, 0];
    this.pendingAcks.push({ ws, cid: m.cid, seq, oid, oid2 });
  }

  private reject(ws: uWS.WebSocket<ClientData>, cid: number, code: WireReason, msg: string): void {
    this.counters.rejects.set(code, (this.counters.rejects.get(code) ?? 0) + 1);
    if (!ws.getUserData().closed) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.REJECT, cid, code, msg }), true);
  }

  // ---- 2. sequence ------------------------------------------------------------------------

  /** Journals `cmd` as the next seq; false (nothing journaled) when its record does not decode back to it. */
  private sequence(cmd: Command): boolean {
    const seq = this.journal.lastSeq + 1;
    const payload = sealRecord({ seq, epoch: this.epoch, tsUs: this.o.clock.nowUs(), cmd });
    if (payload === null) {
      this.counters.sealFailures++;
      this.o.log.error({ seq, cmd }, "BUG: a command's record does not decode back to it; refused, not journaled");
      return false;
    }
    const chain = this.journal.append(seq, payload);
    this.ring.push({ seq, payload, chain });
    this.counters.commands++;
    this.scheduleTick();
    return true;
  }

  // ---- 3. tick ----------------------------------------------------------------------------

  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediate(() => this.tick());
  }

  private tick(): void {
    this.tickScheduled = false;
    this.journal.flush();
    if (this.role !== "leader") return;
    const ha = this.o.ha;
    if (ha === undefined) this.committed = this.journal.lastSeq;
    else {
      this.updateIsr(ha);
      // Without a lease known to be alive, hold replication and acks (the sequenced records
      // wait; if leadership is really gone they are cut when this node rejoins).
      if (ha.coordinator.leading) this.committed = Math.max(this.committed, this.commitSeq());
    }
    this.replicateNew();
    this.releaseAcks();
  }

  // ---- 4. replicate -----------------------------------------------------------------------

  private onReplicaFrame(ws: uWS.WebSocket<ReplicaData>, bytes: ArrayBuffer): void {
    const receivedUs = this.o.clock.nowUs();
    const v = validateFollowerFrame(new Uint8Array(bytes));
    if (!v.ok) return this.replicaError(ws, v.code, v.text);
    const m = v.msg;
    const d = ws.getUserData();
    if (m.t === MsgType.PING) {
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.PONG, t1: m.t1, t2: receivedUs, t3: this.o.clock.nowUs() }), true);
      return;
    }
    if (m.t === MsgType.SUBSCRIBE) {
      if (d.live) return this.replicaError(ws, WireReason.ALREADY_LOGGED_IN, "this connection is already subscribed");
      return this.subscribe(ws, m);
    }
    if (!d.live) return this.replicaError(ws, WireReason.NOT_SUBSCRIBED, "send SUBSCRIBE first");
    this.onStatus(ws, m);
  }

  private subscribe(ws: uWS.WebSocket<ReplicaData>, m: Subscribe): void {
    const d = ws.getUserData();
    const from = m.from;
    if (this.role !== "leader") return this.replicaError(ws, WireReason.NOT_LEADER, `this sequencer is a standby; the leader is ${this.leaderUrl ?? "not known yet"}`);
    if (m.sb === true && this.o.ha === undefined) return this.replicaError(ws, WireReason.OUT_OF_RANGE, "this sequencer runs without ha: it takes no standby");
    if (this.o.auth !== undefined) {
      const a = this.o.auth.replicas.verify(m, 0, this.o.clock.nowUs());
      if (!a.ok) {
        this.counters.rejects.set(WireReason.NOT_AUTHENTICATED, (this.counters.rejects.get(WireReason.NOT_AUTHENTICATED) ?? 0) + 1);
        this.o.log.warn({ rid: m.rid, why: a.why }, "replica subscription refused");
        return this.replicaError(ws, WireReason.NOT_AUTHENTICATED, `subscription refused: ${a.why}`);
      }
    }
    if (from < 1 || from > this.journal.lastSeq + 1) return this.replicaError(ws, WireReason.OUT_OF_RANGE, `from ${from} is outside 1..${this.journal.lastSeq + 1}`);
    if (from < this.journal.firstSeq) return this.replicaError(ws, WireReason.OUT_OF_RANGE, `seq ${from} is no longer retained; restore from a peer's snapshot`);
    this.journal.flush();
    const expected = this.chainBefore(from);
    if (!expected.equals(m.chain)) {
      this.o.log.error({ rid: m.rid, from }, "replica's log forks from ours: refused");
      return this.replicaError(ws, WireReason.FORKED, `your chain at seq ${from - 1} differs from the sequencer's: the logs have forked`);
    }
    Object.assign(d, { rid: m.rid, next: from, applied: from - 1, live: true, authenticated: true, standby: m.sb === true, caughtUpMs: performance.now(), target: this.journal.lastSeq });
    this.replicateGate.done(ws);
    this.replicas.add(ws);
    this.halted.delete(m.rid);
    if (from <= this.journal.lastSeq) this.counters.catchUps++;
    this.o.log.info({ rid: m.rid, from, lastSeq: this.journal.lastSeq }, "replica subscribed");
    this.pump(ws);
  }

  private chainBefore(from: number): Buffer {
    const prev = from - 1;
    const oldest = this.ring.at(0)?.seq ?? Infinity;
    const r = prev >= oldest ? this.ring.at(prev - oldest) : undefined;
    return r?.chain ?? this.journal.chainAt(prev);
  }

  private replicaError(ws: uWS.WebSocket<ReplicaData>, code: WireReason, msg: string): void {
    if (ws.getUserData().closed) return;
    ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.ERROR, code, msg }), true);
    ws.end(4000 + (code % 1000), WIRE_REASON_NAME[code]);
  }

  /** Close code for a refused frame on /replicate: 4000 + the reason's last three digits. */

  /** The last seq this follower may be sent: standbys get everything, replicas what is committed. */
  private limitFor(d: ReplicaData): number {
    return d.standby ? this.journal.lastSeq : this.committed;
  }

  /** Sends the new records once, as the same bytes, to every follower that is at the tip. */
  private replicateNew(): void {
    this.sendToTip(true);
    this.sendToTip(false);
  }

  private sendToTip(standbys: boolean): void {
    const last = standbys ? this.journal.lastSeq : this.committed;
    const atTip: uWS.WebSocket<ReplicaData>[] = [];
    let first = Infinity;
    for (const ws of this.replicas) {
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

  /**
   * Sends a lagging follower what it misses, batch by batch, until it is current or
   * backpressured. At most PUMP_BYTES_PER_TURN per event-loop turn, continuing on the next:
   * a follower copying a long log must not stall clients, other followers, or the lease's
   * keepalive.
   */
  private pump(ws: uWS.WebSocket<ReplicaData>): void {
    const d = ws.getUserData();
    if (d.closed) return;
    ws.cork(() => this.pumpCorked(ws, d));
  }

  private pumpCorked(ws: uWS.WebSocket<ReplicaData>, d: ReplicaData): void {
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
    const ringFirst = this.ring.at(0)?.seq ?? Infinity;
    if (first >= ringFirst) {
      for (let s = first; s < first + n; s++) recs.push(this.ring.at(s - ringFirst)!.payload);
      chain = this.ring.at(first + n - 1 - ringFirst)!.chain;
    } else {
      const rs = this.journal.read(first, n);
      for (const r of rs) recs.push(r.payload);
      chain = rs[rs.length - 1]!.chain;
    }
    return encode({ v: PROTOCOL_VERSION, t: MsgType.BATCH, ep: this.epoch, first, recs, chain, ts: this.o.clock.nowUs() });
  }

  /**
   * A follower's progress. It is held to what it was sent: a STATUS beyond that (or with a
   * checkpoint beyond its seq) is refused, counted, and the connection closed, so no follower
   * can release acks for records it never had.
   */
  private onStatus(ws: uWS.WebSocket<ReplicaData>, m: Status): void {
    const d = ws.getUserData();
    const sent = d.next - 1;
    if (m.seq > sent || m.ck > m.seq) {
      this.counters.statusRefused++;
      this.o.log.warn({ rid: d.rid, seq: m.seq, ck: m.ck, sent }, "follower claimed progress beyond what it was sent: refused");
      return this.replicaError(ws, WireReason.OUT_OF_RANGE, `STATUS seq ${m.seq} (checkpoint ${m.ck}) is beyond seq ${sent}, the last one sent to you`);
    }
    if (m.halt !== undefined) this.onHalted(d, m.halt, m.hseq ?? m.seq + 1);
    if (m.seq > d.applied) d.applied = m.seq;
    if (d.standby) {
      this.standbyDurable.set(d.rid, d.applied);
      if (d.applied >= d.target) {
        d.caughtUpMs = performance.now();
        d.target = this.journal.lastSeq;
      }
      return this.scheduleTick();
    }
    if (m.ck > 0 && typeof m.ckh === "string") {
      const seen = this.checkpoints.get(m.ck);
      if (seen === undefined) {
        this.checkpoints.set(m.ck, { hash: m.ckh, rid: d.rid });
        if (this.checkpoints.size > CHECKPOINTS_KEPT_MAX) this.checkpoints.delete(this.checkpoints.keys().next().value!);
      } else if (seen.hash !== m.ckh) {
        this.counters.divergences++;
        this.o.log.error({ seq: m.ck, [seen.rid]: seen.hash, [d.rid]: m.ckh }, "DIVERGENCE: replicas disagree on the state hash at the same seq");
      }
    }
    if (this.o.ack.mode === "replicas") this.releaseAcks();
  }

  private onHalted(d: ReplicaData, code: number, seq: number): void {
    const reason = HALT_REASON_NAME[code as HaltReason] ?? `code ${code}`;
    if (this.halted.get(d.rid)?.seq !== seq) this.o.log.error({ rid: d.rid, seq, reason }, "REPLICA HALTED: it cannot apply the record at this seq");
    this.halted.delete(d.rid);
    this.halted.set(d.rid, { seq, reason });
    if (this.halted.size > HALTED_KEPT_MAX) this.halted.delete(this.halted.keys().next().value!);
  }

  // ---- 5. ack -----------------------------------------------------------------------------

  private releasableSeq(): number {
    const a = this.o.ack;
    if (a.mode === "none") return this.committed;
    if (a.mode === "journal") return Math.min(this.committed, this.journal.durableSeq);
    const applied = [...this.replicas].filter((ws) => !ws.getUserData().standby && ws.getUserData().authenticated).map((ws) => ws.getUserData().applied).sort((x, y) => y - x);
    return applied.length >= a.count ? Math.min(this.committed, applied[a.count - 1]!) : 0;
  }

  /**
   * Sends the acks that may go, in seq order per connection. Outside a uWS callback every send
   * is its own system call unless the socket is corked: each connection's acks of this tick
   * go out corked, as one write.
   */
  private releaseAcks(): void {
    const upTo = this.releasableSeq();
    let n = 0;
    while (n < this.pendingAcks.length && this.pendingAcks[n]!.seq <= upTo) n++;
    if (n === 0) return;
    const released = this.pendingAcks.splice(0, n);
    this.counters.acks += n;
    if (n === 1 || released.every((p) => p.ws === released[0]!.ws)) return this.sendAcks(released[0]!.ws, released);
    const byConnection = new Map<uWS.WebSocket<ClientData>, PendingAck[]>();
    for (const p of released) {
      const list = byConnection.get(p.ws);
      if (list === undefined) byConnection.set(p.ws, [p]);
      else list.push(p);
    }
    for (const [ws, list] of byConnection) this.sendAcks(ws, list);
  }

  private sendAcks(ws: uWS.WebSocket<ClientData>, acks: readonly PendingAck[]): void {
    if (ws.getUserData().closed) return;
    ws.cork(() => {
      for (const p of acks) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.ACK, cid: p.cid, seq: p.seq, oid: p.oid, oid2: p.oid2 === 0 ? undefined : p.oid2 }), true);
    });
  }

  metrics(): string {
    const p = new PromText()
      .counter("lockstep_sequencer_commands_total", "Commands sequenced.", [[{}, this.counters.commands]])
      .counter("lockstep_sequencer_acks_total", "Acks sent.", [[{}, this.counters.acks]])
      .counter("lockstep_sequencer_rejects_total", "Frames refused before sequencing, by reason.", [...this.counters.rejects].map(([k, v]) => [{ reason: WIRE_REASON_NAME[k as WireReason] }, v] as [Record<string, string>, number]))
      .counter("lockstep_sequencer_divergences_total", "Checkpoints where replicas reported different state hashes.", [[{}, this.counters.divergences]])
      .counter("lockstep_sequencer_catch_ups_total", "Replica subscriptions that started behind the log's end.", [[{}, this.counters.catchUps]])
      .gauge("lockstep_sequencer_seq", "Last sequence number.", this.journal.lastSeq)
      .gauge("lockstep_sequencer_durable_seq", "Last sequence number fsync'd per the policy.", this.journal.durableSeq)
      .gauge("lockstep_sequencer_committed_seq", "Last sequence number every in-sync standby has (what replicas may get and clients may be acked).", this.committed)
      .gauge("lockstep_sequencer_epoch", "Epoch this node leads, or the newest it has seen.", this.epoch)
      .gauge("lockstep_sequencer_leader", "1 while this node leads, 0 as a standby.", this.role === "leader" ? 1 : 0)
      .gauge("lockstep_sequencer_in_sync_standbys", "Standbys in the ISR (acks wait for each of them).", this.isr.size)
      .counter("lockstep_sequencer_status_refused_total", "STATUS frames refused because they claimed more than the follower was sent.", [[{}, this.counters.statusRefused]])
      .counter("lockstep_sequencer_seal_failures_total", "Commands refused because their record did not decode back to them (a bug).", [[{}, this.counters.sealFailures]])
      .counter("lockstep_sequencer_login_evicted_total", "Connections closed, longest waiting first, to make room while too many were waiting to log in.", [[{ endpoint: "trade" }, this.tradeGate.evicted], [{ endpoint: "replicate" }, this.replicateGate.evicted]])
      .counter("lockstep_sequencer_login_expired_total", "Connections closed because they did not log in within the deadline.", [[{ endpoint: "trade" }, this.tradeGate.expired], [{ endpoint: "replicate" }, this.replicateGate.expired]]);
    p.gaugeSet("lockstep_sequencer_replica_halted", "1 for each replica halted at a record it cannot apply, with the reason.", [...this.halted].map(([rid, h]) => [{ replica: rid, reason: h.reason }, 1] as [Record<string, string>, number]));
    for (const ws of this.replicas) {
      const d = ws.getUserData();
      p.gauge("lockstep_sequencer_replica_lag_seq", "Sequence numbers a replica has not yet reported applied.", this.journal.lastSeq - d.applied, { replica: d.rid });
    }
    return p.toString();
  }

  stats(): object {
    return {
      role: "sequencer", ha_role: this.role, epoch: this.epoch, seq: this.journal.lastSeq, durable_seq: this.journal.durableSeq, committed_seq: this.committed,
      ...(this.o.ha === undefined ? {} : { id: this.o.ha.id, leader: this.leaderUrl ?? null, following: this.follower?.following ?? null, isr: [...this.isr], forked: this.follower?.forked ?? null }),
      commands: this.counters.commands, acks: this.counters.acks, pending_acks: this.pendingAcks.length,
      rejects: Object.fromEntries([...this.counters.rejects].map(([k, v]) => [WIRE_REASON_NAME[k as WireReason], v])),
      divergences: this.counters.divergences, catch_ups: this.counters.catchUps, status_refused: this.counters.statusRefused, seal_failures: this.counters.sealFailures,
      logged_in: this.loggedIn, waiting_to_log_in: this.tradeGate.size + this.replicateGate.size,
      halted_replicas: [...this.halted].map(([id, h]) => ({ id, seq: h.seq, reason: h.reason })),
      replicas: [...this.replicas].map((ws) => { const d = ws.getUserData(); return { id: d.rid, standby: d.standby, sent: d.next - 1, applied: d.applied, lag: this.journal.lastSeq - d.applied, buffered_bytes: d.closed ? 0 : ws.getBufferedAmount(), buffered_peak_bytes: d.bufferedPeak }; }),
    };
  }

  /**
   * Stops listening, flushes and closes the journal (fsync'd), and closes every connection with
   * a close code; resolves once all are closed, forcing any still open after STOP_GRACE_MS.
   */
  stop(): Promise<void> {
    if (this.listenSocket === null && this.app === null) return Promise.resolve();
    // No more ISR changes or promotions: a leader stopping must leave its standby eligible.
    this.role = "fenced";
    if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    this.follower?.stop();
    this.tradeGate.stop();
    this.replicateGate.stop();
    if (this.haTimer !== null) clearInterval(this.haTimer);
    void this.o.ha?.coordinator.close();
    this.journal.flush();
    this.journal.close();
    this.releaseAcks();
    this.app = null;
    return closeAll([this.clients, this.followers], CloseCode.GOING_AWAY, "sequencer stopping");
  }
}
