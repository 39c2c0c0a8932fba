/**
 * The sequencer: totally orders every command and streams the ordered log to replicas.
 *
 * Pipeline, in order, for every inbound frame on /trade:
 *   1. gate      size limit, strict decode, validate (reject with a WireReason; nothing else
 *                happens), login and rate limits, the bound on pending acks
 *   2. sequence  seq = lastSeq + 1 (new orders take seq as their order id), stamp clock time,
 *                build the command, seal the record (encode, decode with the replicas' decoder,
 *                compare: a mismatch refuses the frame), extend the hash chain, append to the
 *                journal buffer
 *   3. tick      once per event-loop turn, after all frames of that turn:
 *                journal.flush() (group commit), commit, then replicate, then release acks
 *   4. replicate the replication publisher (src/replication/publisher.ts) sends each follower
 *                from its own cursor, direct sends only, so it always sees the log in order
 *   5. ack       to the client once the configured durability holds:
 *                none (journal written), journal (fsync'd per policy), replicas:K (K replicas
 *                applied it)
 *
 * With `ha` (ha.ts, docs/failover.md), leadership comes from etcd: a node starts as a standby
 * that journals the leader's log and refuses clients and replicas (NOT_LEADER); once elected and
 * allowed to lead, it takes the next epoch. A leader commits, so sends replicas and acks
 * clients, only what every in-sync standby has journaled.
 */
import type { Logger } from "pino";
import uWS from "uWebSockets.js";
import type { Clock } from "../clock/clock.js";
import { Journal, type FsyncPolicy } from "../journal/journal.js";
import { PromText } from "../metrics/prometheus.js";
import type { Authenticator } from "../protocol/auth.js";
import { encode } from "../protocol/codec.js";
import { commandOf, orderIdsOf, sealRecord, SEQ_MAX, type Command, type InstrumentConfig } from "../protocol/command.js";
import { MsgType, PROTOCOL_VERSION, WireReason, WIRE_REASON_NAME, type MoveMessage } from "../protocol/messages.js";
import { moveCommandOf, unpackImportRows } from "../protocol/move.js";
import { isMoveMessage, validateClientFrame } from "../protocol/validate.js";
import { Publisher, type FollowerStats } from "../replication/publisher.js";
import { RecordRing } from "../replication/record-ring.js";
import { CloseCode, LoginGate } from "../util/login-gate.js";
import { closeAll, listen, upgradeWith } from "../util/uws.js";
import { Leadership, lastLoggedEpoch, type HaHost, type HaOptions } from "./ha.js";
import { DEFAULT_LIMITS, TokenBucket, type GatewayLimits } from "./limits.js";

export type { HaOptions };

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
  /** A follower that sends nothing (no STATUS, no PING) this long is cut; default 2,000 ms. */
  readonly followerSilenceMsMax?: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** When set, HELLO must carry a valid proof for a client key, SUBSCRIBE one for a replica key. */
  readonly auth?: { readonly clients: Authenticator; readonly replicas: Authenticator };
  /** Rate limits, connection caps and queue bounds; DEFAULT_LIMITS for what is absent. */
  readonly limits?: Partial<GatewayLimits>;
  /** Leader election and standby mode; without it this node leads `epoch` on its own. */
  readonly ha?: HaOptions;
  /**
   * The account whose logins may send the move steps (MOVE_HALT … MOVE_CLAIM, docs/scaling.md),
   * sequenced as the operator's (account 0). Absent: nobody may; they are refused NOT_OPERATOR.
   */
  readonly operatorAccount?: number;
}

/** What the sequencer's /stats returns (the launcher, dashboard, drills and benches read it). */
export interface SequencerStats {
  role: "sequencer"; ha_role: "leader" | "standby" | "fenced"; epoch: number; seq: number; durable_seq: number; committed_seq: number;
  /** Why the journal cannot be written right now (nothing new is sequenced), or null; and how often that began. */
  journal_stalled: string | null; journal_stalls: number;
  id?: string; leader?: string | null; following?: string | null; isr?: string[]; forked?: string | null;
  commands: number; acks: number; pending_acks: number; rejects: Record<string, number>;
  divergences: number; catch_ups: number; status_frames: number; status_refused: number; silent_followers: number; seal_failures: number; logged_in: number; waiting_to_log_in: number;
  halted_replicas: { id: string; seq: number; reason: string }[];
  replicas: FollowerStats[];
}

/** Failed logins, and frames sent without logging in, before the connection is closed. */
const AUTH_FAILURES_MAX = 3;
const UNAUTHENTICATED_FRAMES_MAX = 10;
/** Rate-limited commands in a row before the connection is closed: refusing a flood costs CPU too. */
const RATE_LIMITED_IN_A_ROW_MAX = 1_000;
/** Hard limit for uWS itself; beyond our own frameBytesMax we still answer with a reject. */
const UWS_PAYLOAD_BYTES_MAX = 1 << 20;
/** uWS idle timeout on /trade (a client with nothing to say sends nothing; TCP keepalive is below). */
const IDLE_TIMEOUT_S = 120;
/** A trading client with this much unsent (acks, rejects) is closed: it stopped reading. */
const CLIENT_BACKPRESSURE_BYTES_MAX = 1 << 20;

interface ClientData { acct: number; closed: boolean; authFailures: number; unauthenticated: number; bucket: TokenBucket | null; limitedInARow: number }
type Client = uWS.WebSocket<ClientData>;
/** `oid2`: an OCO's stop leg id, 0 otherwise (then not sent). */
interface PendingAck { ws: Client; cid: number; seq: number; oid: number; oid2: number }

export class Sequencer implements HaHost {
  /** Held for the node's lifetime (this uWS build has no app.close(); stop() closes the listen socket and every connection). */
  private app: uWS.TemplatedApp | null = null;
  private listenSocket: uWS.us_listen_socket | null = null;
  readonly journal: Journal;
  readonly ring: RecordRing;
  readonly publisher: Publisher;
  private readonly ha: Leadership | null;
  private readonly instrumentIds: ReadonlySet<number>;
  private readonly pendingAcks: PendingAck[] = [];
  private readonly clients = new Set<Client>();
  /** Trading connections logged in: the ones `connectionsMax` counts. */
  private loggedIn = 0;
  private readonly tradeGate: LoginGate;
  private readonly limits: GatewayLimits;
  /** Token buckets of the accounts logged in, with their connection counts (dropped with the last). */
  private readonly accounts = new Map<number, { bucket: TokenBucket; connections: number }>();
  private tickScheduled = false;
  private port_ = 0;
  epoch: number;
  role: "leader" | "standby" | "fenced";
  /** Replicas get, and clients are acked, records up to here: everything in non-HA mode. */
  private committed = 0;
  readonly counters = { commands: 0, acks: 0, rejects: new Map<number, number>(), sealFailures: 0, journalStalls: 0 };

  constructor(private readonly o: SequencerOptions) {
    this.journal = Journal.open({ ...o.journal, onDurable: (seq) => { this.ha?.onDurable(seq); this.scheduleTick(); }, onStall: (why) => this.onJournalStall(why) });
    if (this.journal.truncatedBytes > 0) o.log.warn({ note: this.journal.recoveryNote }, "journal: cut a torn tail on open");
    this.instrumentIds = new Set(o.instruments.map((i) => i.id));
    this.ring = new RecordRing(o.ringRecordsMax);
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.tradeGate = new LoginGate(this.limits, "/trade");
    this.epoch = o.ha === undefined ? o.epoch : lastLoggedEpoch(this.journal);
    this.role = o.ha === undefined ? "leader" : "standby";
    this.committed = this.journal.lastSeq;
    this.publisher = new Publisher({
      journal: this.journal, ring: this.ring, clock: o.clock, log: o.log, batchRecordsMax: o.batchRecordsMax, replicaBufferBytesMax: o.replicaBufferBytesMax,
      login: this.limits, ...(o.auth === undefined ? {} : { auth: o.auth.replicas }), takesStandbys: o.ha !== undefined,
      refusal: () => (this.role === "leader" ? null : this.notLeader()), epoch: () => this.epoch, committed: () => this.committed,
      ...(o.followerSilenceMsMax === undefined ? {} : { followerSilenceMsMax: o.followerSilenceMsMax }),
      onProgress: (standby) => (standby ? this.scheduleTick() : this.o.ack.mode === "replicas" ? this.releaseAcks() : undefined),
    });
    this.ha = o.ha === undefined ? null : new Leadership(o.ha, this);
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
  get clock(): Clock {
    return this.o.clock;
  }
  get log(): Logger {
    return this.o.log;
  }
  get batchRecordsMax(): number {
    return this.o.batchRecordsMax;
  }

  async start(): Promise<number> {
    const app = uWS.App();
    app.ws<ClientData>("/trade", {
      compression: uWS.DISABLED, maxPayloadLength: UWS_PAYLOAD_BYTES_MAX, idleTimeout: IDLE_TIMEOUT_S,
      maxBackpressure: CLIENT_BACKPRESSURE_BYTES_MAX, closeOnBackpressureLimit: 1,
      upgrade: (res, req, ctx) => upgradeWith<ClientData>({ acct: 0, closed: false, authFailures: 0, unauthenticated: 0, bucket: null, limitedInARow: 0 })(res, req, ctx),
      open: (ws) => {
        this.clients.add(ws);
        this.tradeGate.admit(ws);
      },
      message: (ws, msg) => this.onClientFrame(ws, msg),
      close: (ws) => this.onClientClosed(ws),
    });
    app.ws("/replicate", this.publisher.behavior());
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
    await this.ha?.join();
    return this.port_;
  }

  // ---- leadership (HaHost: called by ha.ts) -------------------------------------------------

  selfUrl(): string {
    return `ws://${this.o.host}:${this.port_}`;
  }

  lead(epoch: number): void {
    this.epoch = epoch;
    this.committed = this.journal.lastSeq;
    this.role = "leader";
  }

  cutTo(seq: number): void {
    this.committed = Math.min(this.committed, seq);
  }

  /**
   * The journal stopped being writable (`why`) or became writable again (null). While it is not,
   * new commands are refused (STORAGE_UNAVAILABLE) and nothing pending is acked (nothing of it is
   * durable); the records already sequenced wait in memory and are written when space returns. A
   * leader of an HA group steps down instead (an in-sync standby takes over at once); a standby
   * stops following until it can write, so what it holds in memory stays bounded.
   */
  private onJournalStall(why: string | null): void {
    if (why === null) {
      this.o.log.warn({ seq: this.journal.lastSeq, pendingAcks: this.pendingAcks.length }, "journal writable again: sequencing and acking resume");
      this.ha?.onJournalWritable();
      this.scheduleTick();
      return;
    }
    this.counters.journalStalls++;
    this.o.log.error({ why, seq: this.journal.lastSeq, written: this.journal.lastWrittenSeq }, "journal cannot be written: new commands are refused and acks held until it can (retrying)");
    if (this.ha === null) return;
    if (this.role === "leader") this.fence(`journal cannot be written: ${why}`);
    else this.ha.onJournalStalled();
  }

  /** Leadership is gone: stop serving at once; the operator (or supervisor) restarts us as a standby. */
  fence(why: string): void {
    if (this.role === "fenced") return;
    this.role = "fenced";
    this.o.log.error({ why, epoch: this.epoch }, "FENCED: no longer the leader; stopping");
    void this.stop();
    this.o.ha!.onFenced(why);
  }

  private notLeader(): string {
    return `this sequencer is a standby; the leader is ${this.ha?.leaderUrl ?? "not known yet"}`;
  }

  // ---- 1. gate ----------------------------------------------------------------------------

  private onClientFrame(ws: Client, bytes: ArrayBuffer): void {
    if (bytes.byteLength > this.o.frameBytesMax) return this.reject(ws, 0, WireReason.FRAME_TOO_LARGE, `frame of ${bytes.byteLength} bytes exceeds ${this.o.frameBytesMax}`);
    const v = validateClientFrame(new Uint8Array(bytes), this.instrumentIds);
    if (!v.ok) return this.reject(ws, v.cid, v.code, v.text);
    const m = v.msg;
    const user = ws.getUserData();
    if (this.role !== "leader") {
      this.reject(ws, m.t === MsgType.HELLO ? 0 : m.cid, WireReason.NOT_LEADER, this.notLeader());
      if (m.t === MsgType.HELLO) ws.end(1013, "not the leader");
      return;
    }
    if (m.t === MsgType.HELLO) return this.login(ws, m.acct, m);
    if (user.acct === 0) {
      this.reject(ws, m.cid, WireReason.NOT_LOGGED_IN, "send HELLO first");
      if (++user.unauthenticated >= UNAUTHENTICATED_FRAMES_MAX) ws.end(4003, "too many frames without logging in");
      return;
    }
    if (isMoveMessage(m)) return this.onMoveFrame(ws, user, m);
    const refusal = this.admission(user);
    if (refusal !== null) {
      this.reject(ws, m.cid, ...refusal);
      if (user.limitedInARow >= RATE_LIMITED_IN_A_ROW_MAX) ws.end(4008, "rate limit exceeded persistently");
      return;
    }
    const seq = this.journal.lastSeq + 1;
    if (!this.sequence(commandOf(m as Exclude<typeof m, MoveMessage>, seq, user.acct))) return this.reject(ws, m.cid, WireReason.INTERNAL, "this command could not be recorded faithfully (a bug, logged); it was not sequenced");
    const [oid, oid2] = m.t === MsgType.NEW ? orderIdsOf(m, seq) : [m.t === MsgType.KILL ? 0 : m.oid ?? 0, 0];
    this.pendingAcks.push({ ws, cid: m.cid, seq, oid, oid2 });
  }

  private login(ws: Client, acct: number, proof: Parameters<Authenticator["verify"]>[0]): void {
    const user = ws.getUserData();
    if (user.acct !== 0) return this.reject(ws, 0, WireReason.ALREADY_LOGGED_IN, "this connection already has an account");
    if (this.o.auth !== undefined) {
      const a = this.o.auth.clients.verify(proof, acct, this.o.clock.nowUs());
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
    const now = performance.now();
    user.acct = acct;
    user.bucket = new TokenBucket(this.limits.connectionRatePerS, this.limits.connectionBurst, now);
    const account = this.accounts.get(acct);
    if (account === undefined) this.accounts.set(acct, { bucket: new TokenBucket(this.limits.accountRatePerS, this.limits.accountBurst, now), connections: 1 });
    else account.connections++;
    this.loggedIn++;
    this.tradeGate.done(ws);
    ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO_OK, acct, ep: this.epoch, seq: this.journal.lastSeq }), true);
  }

  /** Why nothing may be sequenced now (journal stalled, too many acks pending), or null. */
  private capacityRefusal(): [WireReason, string] | null {
    if (this.journal.lastSeq >= SEQ_MAX) return [WireReason.STORAGE_UNAVAILABLE, `this shard's log is full: order ids are seqs up to ${SEQ_MAX} (2^45 − 1), the ids above are imported orders'`];
    if (this.journal.stalled !== null) return [WireReason.STORAGE_UNAVAILABLE, "this sequencer cannot write its journal (see its log and /stats journal_stalled): nothing new is sequenced until it can; retry later"];
    if (this.pendingAcks.length >= this.limits.pendingAcksMax) return [WireReason.OVERLOADED, `${this.limits.pendingAcksMax} commands are waiting for their durability; retry shortly`];
    return null;
  }

  /**
   * A step of a move (docs/scaling.md) from the operator account: sequenced as account 0, one
   * record (for MOVE_ORDERS, one import-orders record holding every row of the frame);
   * not rate limited (the mover bounds its own window), refused by a stalled journal or a full
   * ack queue like any command. The rows are checked whole before any is sequenced.
   */
  private onMoveFrame(ws: Client, user: ClientData, m: MoveMessage): void {
    if (this.o.operatorAccount === undefined || user.acct !== this.o.operatorAccount) {
      return this.reject(ws, m.cid, WireReason.NOT_OPERATOR, this.o.operatorAccount === undefined ? "this sequencer has no operator account configured (sequencer.operatorAccount): nobody may move instruments through it" : `only the operator account may move instruments, not account ${user.acct}`);
    }
    const busy = this.capacityRefusal();
    if (busy !== null) return this.reject(ws, m.cid, ...busy);
    const rows = m.t === MsgType.MOVE_ORDERS ? unpackImportRows(m.rows) : [];
    if (typeof rows === "string") return this.reject(ws, m.cid, WireReason.OUT_OF_RANGE, rows);
    if (!this.sequence(moveCommandOf(m, this.journal.lastSeq + 1, rows))) return this.reject(ws, m.cid, WireReason.INTERNAL, "this step of the move could not be recorded faithfully (a bug, logged); it was not sequenced");
    this.pendingAcks.push({ ws, cid: m.cid, seq: this.journal.lastSeq, oid: 0, oid2: 0 });
  }

  /** Why a logged-in client's command may not be sequenced now (rate limits, pending acks), or null. */
  private admission(user: ClientData): [WireReason, string] | null {
    const busy = this.capacityRefusal();
    if (busy !== null) return busy;
    const now = performance.now();
    const limited = !user.bucket!.take(now) ? `more than ${this.limits.connectionRatePerS} commands/s (burst ${this.limits.connectionBurst}) on this connection`
      : !this.accounts.get(user.acct)!.bucket.take(now) ? `more than ${this.limits.accountRatePerS} commands/s (burst ${this.limits.accountBurst}) for this account` : null;
    user.limitedInARow = limited === null ? 0 : user.limitedInARow + 1;
    return limited === null ? null : [WireReason.RATE_LIMITED, limited];
  }

  private onClientClosed(ws: Client): void {
    const d = ws.getUserData();
    d.closed = true;
    this.clients.delete(ws);
    this.tradeGate.done(ws);
    if (d.acct === 0) return;
    this.loggedIn--;
    const account = this.accounts.get(d.acct);
    if (account !== undefined && --account.connections === 0) this.accounts.delete(d.acct);
  }

  private reject(ws: Client, cid: number, code: WireReason, msg: string): void {
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
    this.ring.push(seq, payload, chain);
    this.counters.commands++;
    this.scheduleTick();
    return true;
  }

  // ---- 3. tick ----------------------------------------------------------------------------

  scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediate(() => this.tick());
  }

  private tick(): void {
    this.tickScheduled = false;
    this.journal.flush();
    if (this.role !== "leader") return;
    // Replicas get only what this node's own disk has been handed: a record lost with an
    // unwritable journal would otherwise be sequenced again, differently, after a restart.
    if (this.ha === null) this.committed = this.journal.lastWrittenSeq;
    else {
      this.ha.updateIsr();
      // Without a lease known to be alive, hold replication and acks (the sequenced records
      // wait; if leadership is really gone they are cut when this node rejoins).
      if (this.ha.leaseAlive) this.committed = Math.max(this.committed, this.ha.commitSeq());
    }
    // ---- 4. replicate
    this.publisher.publishNew();
    this.releaseAcks();
  }

  // ---- 5. ack -----------------------------------------------------------------------------

  private releasableSeq(): number {
    const a = this.o.ack;
    if (a.mode === "none") return this.committed;
    if (a.mode === "journal") return Math.min(this.committed, this.journal.durableSeq);
    const applied = this.publisher.replicaApplied();
    return applied.length >= a.count ? Math.min(this.committed, applied[a.count - 1]!) : 0;
  }

  /**
   * Sends the acks that may go, in seq order per connection. Outside a uWS callback every send
   * is its own system call unless the socket is corked: each connection's acks of this tick
   * go out corked, as one write.
   */
  private releaseAcks(): void {
    // A leader that cannot prove its lease (paused past it, cut off from etcd) acks nothing,
    // not even what it had committed before: it may already have been replaced.
    if (this.ha !== null && !this.ha.leaseAlive) return;
    const upTo = this.releasableSeq();
    let n = 0;
    while (n < this.pendingAcks.length && this.pendingAcks[n]!.seq <= upTo) n++;
    if (n === 0) return;
    const released = this.pendingAcks.splice(0, n);
    this.counters.acks += n;
    if (n === 1 || released.every((p) => p.ws === released[0]!.ws)) return this.sendAcks(released[0]!.ws, released);
    const byConnection = new Map<Client, PendingAck[]>();
    for (const p of released) {
      const list = byConnection.get(p.ws);
      if (list === undefined) byConnection.set(p.ws, [p]);
      else list.push(p);
    }
    for (const [ws, list] of byConnection) this.sendAcks(ws, list);
  }

  private sendAcks(ws: Client, acks: readonly PendingAck[]): void {
    if (ws.getUserData().closed) return;
    ws.cork(() => {
      for (const p of acks) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.ACK, cid: p.cid, seq: p.seq, oid: p.oid, oid2: p.oid2 === 0 ? undefined : p.oid2 }), true);
    });
  }

  // ---- observing --------------------------------------------------------------------------

  metrics(): string {
    const p = new PromText()
      .counter("lockstep_sequencer_commands_total", "Commands sequenced.", [[{}, this.counters.commands]])
      .counter("lockstep_sequencer_acks_total", "Acks sent.", [[{}, this.counters.acks]])
      .counter("lockstep_sequencer_rejects_total", "Frames refused before sequencing, by reason.", [...this.counters.rejects].map(([k, v]) => [{ reason: WIRE_REASON_NAME[k as WireReason] }, v] as [Record<string, string>, number]))
      .counter("lockstep_sequencer_seal_failures_total", "Commands refused because their record did not decode back to them (a bug).", [[{}, this.counters.sealFailures]])
      .gauge("lockstep_sequencer_seq", "Last sequence number.", this.journal.lastSeq)
      .gauge("lockstep_sequencer_durable_seq", "Last sequence number fsync'd per the policy.", this.journal.durableSeq)
      .gauge("lockstep_sequencer_journal_stalled", "1 while the journal cannot be written (new commands refused, acks held).", this.journal.stalled === null ? 0 : 1)
      .counter("lockstep_sequencer_journal_stalls_total", "Times the journal stopped being writable.", [[{}, this.counters.journalStalls]])
      .gauge("lockstep_sequencer_committed_seq", "Last sequence number every in-sync standby has (what replicas may get and clients may be acked).", this.committed)
      .gauge("lockstep_sequencer_pending_acks", "Commands sequenced and waiting for their durability before the ack.", this.pendingAcks.length)
      .gauge("lockstep_sequencer_epoch", "Epoch this node leads, or the newest it has seen.", this.epoch)
      .gauge("lockstep_sequencer_leader", "1 while this node leads, 0 as a standby.", this.role === "leader" ? 1 : 0)
      .gauge("lockstep_sequencer_in_sync_standbys", "Standbys in the ISR (acks wait for each of them).", this.ha?.inSync ?? 0);
    const trade = { evicted: this.tradeGate.evicted, expired: this.tradeGate.expired };
    const replicate = this.publisher.loginCounters();
    p.counter("lockstep_sequencer_login_evicted_total", "Connections closed, longest waiting first, to make room while too many were waiting to log in.", [[{ endpoint: "trade" }, trade.evicted], [{ endpoint: "replicate" }, replicate.evicted]])
      .counter("lockstep_sequencer_login_expired_total", "Connections closed because they did not log in within the deadline.", [[{ endpoint: "trade" }, trade.expired], [{ endpoint: "replicate" }, replicate.expired]]);
    this.publisher.metrics(p);
    return p.toString();
  }

  stats(): SequencerStats {
    const c = this.publisher.counters;
    return {
      role: "sequencer", ha_role: this.role, epoch: this.epoch, seq: this.journal.lastSeq, durable_seq: this.journal.durableSeq, committed_seq: this.committed,
      journal_stalled: this.journal.stalled, journal_stalls: this.counters.journalStalls,
      ...(this.ha === null ? {} : this.ha.stats()),
      commands: this.counters.commands, acks: this.counters.acks, pending_acks: this.pendingAcks.length,
      rejects: Object.fromEntries([...this.counters.rejects].map(([k, v]) => [WIRE_REASON_NAME[k as WireReason], v])),
      divergences: c.divergences, catch_ups: c.catchUps, status_frames: c.statuses, status_refused: c.statusRefused, silent_followers: c.silentFollowers, seal_failures: this.counters.sealFailures,
      logged_in: this.loggedIn, waiting_to_log_in: this.tradeGate.size + this.publisher.waiting,
      halted_replicas: this.publisher.haltedReplicas(), replicas: this.publisher.followers(),
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
    this.ha?.stop();
    this.tradeGate.stop();
    this.journal.flush();
    this.journal.close();
    this.releaseAcks();
    this.app = null;
    return Promise.all([closeAll([this.clients], CloseCode.GOING_AWAY, "sequencer stopping"), this.publisher.close(CloseCode.GOING_AWAY, "sequencer stopping")]).then(() => undefined);
  }
}
