/**
 * A replica follows the sequencer's log and rebuilds the book with the same engine.
 *
 *   1. follow   the replication subscriber (src/replication/subscriber.ts): the sequencer URLs
 *               in turn, SUBSCRIBE from applied + 1 with our chain value
 *   2. verify   the subscriber again: epoch fence, contiguity, hash chain; it hands on only
 *               verified records we do not hold yet
 *   3. apply    every record exactly once, in seq order, to the engine; a record that does
 *               not decode, or that the engine throws on, halts the replica at that seq (it
 *               keeps serving what it has, says so in STATUS, /stats and metrics, and never
 *               skips the record or crash-loops on it)
 *   4. publish  execution reports to the owning account's subscribers (and a resume ring),
 *               L2 updates with a top-10 checksum and trades to book subscribers (and a
 *               ring of recent trades per instrument for REST)
 *   5. report   STATUS (applied seq, last checkpoint hash) to the sequencer after each batch
 *   6. persist  a snapshot (engine state + seq + chain) every N seqs and on stop; a restart
 *               loads it and catches up from there
 */
import { mkdirSync } from "node:fs";
import uWS from "uWebSockets.js";
import { Engine, REASON_NAME, type Reason } from "../engine/index.js";
import { bookChecksum, CHECKSUM_LEVELS } from "../protocol/checksum.js";
import { encode } from "../protocol/codec.js";
import { packSequenced } from "../protocol/wire.js";
import { HALT_REASON_NAME, HaltReason, MsgType, PROTOCOL_VERSION, WireReason, WIRE_REASON_NAME, ReportKind, type Pong } from "../protocol/messages.js";
import { chainNext, decodeRecord, GENESIS_CHAIN, RecordError } from "../protocol/record.js";
import { instrumentRef, type InstrumentRef } from "../protocol/reference.js";
import { TRADES_RECENT_MAX_DEFAULT } from "../protocol/rest.js";
import { validateFeedFrame } from "../protocol/validate.js";
import { Subscriber, type VerifiedBatch } from "../replication/subscriber.js";
import { Ring } from "../util/ring.js";
import { CloseCode, DEFAULT_LOGIN_LIMITS, LoginGate } from "../util/login-gate.js";
import { closeAll, listen, upgradeWith } from "../util/uws.js";
import { SystemClock } from "../clock/clock.js";
import { SkewEstimator, type SkewEstimate } from "../clock/skew.js";
import { PromText } from "../metrics/prometheus.js";
import { ReportRing } from "./report-ring.js";
import { CommandOutputs, type ReportOut, type TradeOut } from "./outputs.js";
import { serveRest } from "./rest.js";
import { ReplicaLatency, type Halt, type ReplicaHopSnapshots, type ReplicaLatencyStats, type ReplicaStats } from "./observe.js";
import { STATUS_INTERVAL_MS_DEFAULT, type ReplicaOptions } from "./options.js";
import { loadSnapshot, saveSnapshot, saveSnapshotInBackground, type Persisted } from "./snapshot.js";

export type { Halt, ReplicaHopSnapshots, ReplicaLatencyStats, ReplicaOptions, ReplicaStats };



interface FeedData { acct: number; books: Set<number>; closed: boolean; loggedIn: number }

const bookTopic = (inst: number): string => `book/${inst}`;
/**
 * An instrument's market data gathered over a batch: the last seq that changed its book (0:
 * nothing pending), its trades, and the net quantity of each level touched, bids then asks.
 */
interface MarketOut { seq: number; readonly trades: TradeOut[]; readonly levels: [Map<number, number>, Map<number, number>] }
/** One report of the resume ring: its frame once encoded. */
const reportFrame = (seq: number, rep: ReportOut): Buffer => packSequenced(PROTOCOL_VERSION, MsgType.REPORT, seq, rep);
/** The batch's report frames are copied into a buffer of this many bytes at first, grown to the largest batch's. */
const FEED_BYTES_INITIAL = 64 * 1024;
/** Between batches the buffer is kept up to this many bytes, and allocated again at FEED_BYTES_INITIAL if it grew past. */
const FEED_BYTES_KEPT_MAX = 1024 * 1024;
/** Feed clients send small requests (HELLO, SUB_BOOK, SUB_REPORTS, INSTRUMENTS); uWS closes a connection sending larger frames. */
const FEED_FRAME_BYTES_MAX = 4096;
/** uWS closes a feed connection idle this long (market data keeps subscribed ones busy). */
const FEED_IDLE_TIMEOUT_S = 120;


export class Replica {
  private engine: Engine;
  private readonly out = new CommandOutputs();
  private applied = 0;
  private chain: Buffer = GENESIS_CHAIN;
  private epoch = 0;
  private checkpoint = { seq: 0, hash: "" };
  private lastSnapshotSeq = 0;
  /** Our end of the replication link: follows the sequencer URLs, verifies, hands records on. */
  private readonly upstream: Subscriber;
  private readonly upstreamUrls: readonly string[];
  private stopping = false;
  private halt: Halt | null = null;
  /** False once the engine threw mid-command: its state is then not saved as a snapshot. */
  private stateSound = true;
  /** The background snapshot write in flight, if any. */
  private snapshotWrite: Promise<void> | null = null;
  /** The state hash as of `seq`, so that /stats polled often does not hash the book each time. */
  private hashAt = { seq: -1, hash: "" };
  private readonly feedGate: LoginGate;
  private lastRecordTsUs = 0;
  /** Publishes market data; null once stopped (this uWS build has no app.close()). */
  private app: uWS.TemplatedApp | null = null;
  private listenSocket: uWS.us_listen_socket | null = null;
  private readonly feed = new Set<uWS.WebSocket<FeedData>>();
  /** Report subscribers by account, so a report goes straight to its account's connections. */
  private readonly reportSubs = new Map<number, Set<uWS.WebSocket<FeedData>>>();
  /** Market data of the batch being applied, per instrument with subscribers, published when it is done. */
  private readonly marketOut = new Map<number, MarketOut>();
  /**
   * Per instrument, whether its book topic has a subscriber, asked of uWS once per batch: a
   * batch is applied within one callback, where nobody can subscribe or leave. Asking per
   * command (a topic string and a native call each) was 2 % of a replica's busy time.
   */
  private readonly bookFollowed = new Map<number, boolean>();
  /**
   * Reports produced by the batch being applied, sent when it is done: each report's frame is
   * copied into `feedBytes` once, and each connection keeps the [start, end) offsets of its
   * frames there. A view per frame held until the batch was sent lived through scavenges under
   * load and was the serving replica's largest source of promoted garbage (docs/benchmarks.md);
   * a view made at send time dies at once.
   */
  private readonly feedOut = new Map<uWS.WebSocket<FeedData>, number[]>();
  private feedBytes = Buffer.allocUnsafeSlow(FEED_BYTES_INITIAL);
  private feedBytesUsed = 0;
  /**
   * The latest reports, for clients that resume here. A report is encoded when a subscriber of
   * its account is connected, or later when one resumes from it: a replica nobody reads reports
   * from (most of a group's replicas) never encodes them.
   */
  private readonly reportRing: ReportRing;
  private port_ = 0;
  private readonly waiters: { seq: number; resolve: () => void }[] = [];
  /** Engine rejects by reason code, and refused feed frames by wire reason code. */
  private readonly engineRejects = new Map<number, number>();
  private readonly feedRejects = new Map<number, number>();
  private readonly restRejects = new Map<number, number>();
  /** Reference data of every instrument, ids ascending, and the feed's INSTRUMENTS frame of it (the same for every request). */
  private readonly refs: readonly InstrumentRef[];
  private readonly instrumentsFrame: Buffer;
  /** The latest trades per instrument, oldest first, for GET /v1/trades: those applied since this replica started. */
  private readonly recentTrades = new Map<number, Ring<TradeOut>>();
  private readonly clock: SystemClock;
  private readonly skew = new SkewEstimator();
  readonly latency = new ReplicaLatency();
  private readonly rotateTimer: NodeJS.Timeout;
  private snapshotCorruptions = 0;
  /** A STATUS is due at the end of this event-loop turn, or at the end of the interval (reportProgress). */
  private progressPending = false;
  /** When the last STATUS went out (performance.now(), ms). */
  private lastStatusMs = -Infinity;
  private statusTimer: NodeJS.Timeout | null = null;
  private batches = 0;
  private statuses = 0;

  constructor(private readonly o: ReplicaOptions) {
    mkdirSync(o.dataDir, { recursive: true });
    this.engine = new Engine(o.instruments, this.out, o.engine);
    this.upstreamUrls = typeof o.sequencerUrl === "string" ? [o.sequencerUrl] : o.sequencerUrl;
    if (this.upstreamUrls.length === 0) throw new Error("replica: no sequencer URL");
    this.reportRing = new ReportRing(o.reportRingMax);
    this.refs = [...o.instruments].sort((a, b) => a.id - b.id).map(instrumentRef);
    this.instrumentsFrame = Buffer.from(encode({ v: PROTOCOL_VERSION, t: MsgType.INSTRUMENTS, insts: this.refs }));
    for (const i of o.instruments) this.recentTrades.set(i.id, new Ring(o.tradesRecentMax ?? TRADES_RECENT_MAX_DEFAULT));
    this.clock = o.clock ?? new SystemClock();
    this.rotateTimer = setInterval(() => this.latency.rotate(), 1000);
    this.rotateTimer.unref();
    this.feedGate = new LoginGate({ loginDeadlineMs: o.loginDeadlineMs ?? DEFAULT_LOGIN_LIMITS.loginDeadlineMs, unauthenticatedMax: o.unauthenticatedMax ?? DEFAULT_LOGIN_LIMITS.unauthenticatedMax }, "/feed");
    this.restore();
    this.upstream = new Subscriber({
      id: o.id, standby: false, clock: this.clock, log: o.log, ...(o.credentials === undefined ? {} : { credentials: o.credentials }),
      position: () => ({ next: this.applied + 1, chain: this.chain }), epoch: () => this.epoch,
      onRecords: (b) => this.onRecords(b), probeIntervalMs: o.probeIntervalMs, onPong: (m, t4) => this.onPong(m, t4),
      ...(o.silenceMsMax === undefined ? {} : { silenceMsMax: o.silenceMsMax }),
      ...(o.drillTruth === true ? { trueNowUs: () => this.clock.trueNowUs() } : {}),
    });
  }

  get port(): number {
    return this.port_;
  }
  get appliedSeq(): number {
    return this.applied;
  }
  /** The engine's state hash, computed at most once per applied seq. */
  stateHash(): string {
    if (this.hashAt.seq !== this.applied) this.hashAt = { seq: this.applied, hash: this.engine.stateHash() };
    return this.hashAt.hash;
  }

  /** Resolves once seq `seq` has been applied. */
  waitFor(seq: number): Promise<void> {
    if (this.applied >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ seq, resolve });
      this.waiters.sort((a, b) => a.seq - b.seq);
    });
  }

  async start(): Promise<number> {
    await this.listen();
    this.upstream.follow(this.upstreamUrls);
    return this.port_;
  }

  // ---- 6. persist ------------------------------------------------------------------------

  /**
   * Restores the snapshot if there is one; one that is unreadable, or holds an engine state
   * this engine does not restore (an older format), is set aside and the replica catches up
   * from nothing.
   */
  private restore(): void {
    const p = loadSnapshot(this.o.dataDir, (aside, why) => {
      this.snapshotCorruptions++;
      this.o.log.error({ err: why, movedTo: aside }, "snapshot unreadable: starting from nothing, catching up from the sequencer");
    }, (p) => Engine.restore(p.engine, this.out, this.o.engine));
    if (p === null) return;
    this.engine = p.restored;
    this.applied = p.seq;
    this.chain = Buffer.from(p.chain);
    this.epoch = p.epoch;
    this.lastSnapshotSeq = p.seq;
    this.o.log.info({ seq: p.seq }, "restored from snapshot");
  }

  private persisted(): Persisted {
    return { format: 1, seq: this.applied, chain: this.chain, epoch: this.epoch, engine: this.engine.snapshot() };
  }

  /** Every snapshotEverySeq: the state captured now, written in the background (one write at a time; a later one waits its turn). */
  private persistInBackground(): void {
    if (this.snapshotWrite !== null) return;
    const p = this.persisted();
    this.lastSnapshotSeq = p.seq;
    this.snapshotWrite = saveSnapshotInBackground(this.o.dataDir, p).catch((err: Error) => {
      this.o.log.error({ err: err.message, seq: p.seq }, "snapshot write failed; the previous snapshot stays");
    }).finally(() => { this.snapshotWrite = null; });
  }

  // ---- 1. follow, 2. verify (the replication subscriber) --------------------------------

  private onPong(m: Pong, t4: number): void {
    this.skew.add(m.t1, m.t2, m.t3, t4);
    const e = this.skew.estimate(t4);
    if (e === null) return;
    this.latency.offset.record(e.offsetUs);
    this.latency.offsetBound.record(e.boundUs);
  }

  /** Our clock minus the sequencer's, as estimated now. */
  skewEstimate(): SkewEstimate | null {
    return this.skew.estimate(this.clock.nowUs());
  }

  // ---- 3. apply, 4. publish, 5. report ----------------------------------------------------

  /** Verified new records from the subscriber: apply each (or halt), publish, report, persist. */
  private onRecords(b: VerifiedBatch): void {
    this.epoch = b.ep;
    this.batches++;
    const est = this.skew.estimate(b.receivedUs);
    this.latency.batchReceived(b, est === null ? null : est.offsetUs);
    const before = this.applied;
    this.bookFollowed.clear();
    for (const r of b.recs) {
      this.applyOrHalt(r, b.receivedUs, est === null ? null : est.offsetUs, b.trueReceivedUs);
      if (this.halt !== null) break;
    }
    this.flushFeed();
    this.latency.batchSent(b, this.clock.nowUs());
    if (this.halt !== null) {
      // The chain value after the last record applied, not after the whole batch: a snapshot
      // saved from here must resume exactly before the record that halted us.
      let applied = this.chain;
      for (const r of b.recs.slice(0, this.applied - before)) applied = chainNext(applied, r);
      this.chain = applied;
      const code = this.halt.reason === HALT_REASON_NAME[HaltReason.RECORD_UNDECODABLE] ? HaltReason.RECORD_UNDECODABLE : HaltReason.APPLY_FAILED;
      this.upstream.leave({ seq: this.applied, ck: this.checkpoint.seq, ckh: this.checkpoint.hash, halt: code, hseq: this.halt.seq });
    } else {
      this.chain = b.chain;
      this.reportProgress();
      if (this.applied - this.lastSnapshotSeq >= this.o.snapshotEverySeq) this.persistInBackground();
    }
    while (this.waiters.length > 0 && this.waiters[0]!.seq <= this.applied) this.waiters.shift()!.resolve();
  }

  /**
   * At most one STATUS per event-loop turn, however many batches the turn applied (a replica
   * that is behind reads many batches at once and answers them together), and at most one per
   * statusIntervalMs: a replica that keeps up gets one batch a read, and at low rates that was
   * one STATUS per order. The STATUS sent carries the seq applied when it goes out.
   */
  private reportProgress(): void {
    if (this.progressPending) return;
    this.progressPending = true;
    const waitMs = this.lastStatusMs + (this.o.statusIntervalMs ?? STATUS_INTERVAL_MS_DEFAULT) - performance.now();
    if (waitMs <= 0) setImmediate(() => this.sendProgress());
    else this.statusTimer = setTimeout(() => this.sendProgress(), Math.ceil(waitMs));
  }

  private sendProgress(): void {
    this.progressPending = false;
    this.statusTimer = null;
    if (this.halt !== null || this.stopping) return;
    this.statuses++;
    this.lastStatusMs = performance.now();
    this.upstream.status({ seq: this.applied, ck: this.checkpoint.seq, ckh: this.checkpoint.hash });
  }

  /**
   * Applies one record, or halts at it: a record that does not decode (or whose seq is not the
   * next one) halts before anything changes; an engine that throws halts with its state unsound.
   */
  private applyOrHalt(bytes: Uint8Array, receivedUs: number, offsetUs: number | null, trueReceivedUs: number): void {
    const seq = this.applied + 1;
    try {
      this.applyRecord(bytes, receivedUs, offsetUs, trueReceivedUs);
    } catch (err) {
      const undecodable = err instanceof RecordError;
      if (!undecodable) this.stateSound = false;
      this.hashAt = { seq: -1, hash: "" };
      this.halt = { seq, reason: HALT_REASON_NAME[undecodable ? HaltReason.RECORD_UNDECODABLE : HaltReason.APPLY_FAILED], message: (err as Error).message };
      this.o.log.fatal({ seq, reason: this.halt.reason, err: this.halt.message }, "HALTED: cannot apply the record at this seq; serving what was applied, applying nothing more");
    }
  }

  private applyRecord(bytes: Uint8Array, receivedUs: number, offsetUs: number | null, trueReceivedUs: number): void {
    const started = performance.now();
    const r = decodeRecord(bytes);
    if (r.seq !== this.applied + 1) throw new RecordError(`record carries seq ${r.seq} where seq ${this.applied + 1} belongs`);
    const raw = receivedUs - r.tsUs;
    this.latency.oneWayRaw.record(raw);
    this.latency.recordQueued(r.tsUs);
    if (offsetUs !== null) {
      this.latency.oneWayCompensated.record(raw - offsetUs);
      // Same records as the compensated histogram, so the drill compares like with like.
      if (trueReceivedUs !== 0) this.latency.oneWayTrue.record(trueReceivedUs - r.tsUs);
    }
    this.out.begin(r.seq, r.tsUs);
    this.engine.apply(r.cmd);
    this.out.end();
    this.latency.apply.record((performance.now() - started) * 1000);
    this.applied = r.seq;
    this.lastRecordTsUs = r.tsUs;
    if (r.seq % this.o.hashEverySeq === 0) this.checkpoint = { seq: r.seq, hash: this.engine.stateHash() };
    this.publish(r.seq);
  }

  /**
   * Per command: its reports are queued for their accounts, its trades and level changes are
   * gathered per instrument (for market-data subscribers only: nothing is kept for an
   * instrument nobody follows). The batch's market data goes out before its reports
   * (flushFeed), so a report for seq S means the book already shows S.
   */
  private publish(seq: number): void {
    const out = this.out;
    const app = this.app;
    // Keeps the trade objects the engine's listener already made: nothing more is allocated per trade.
    for (const t of out.trades) this.recentTrades.get(t.inst)?.push(t);
    for (const [inst, flat] of out.levels) {
      if (flat.length === 0 || app === null) continue;
      let followed = this.bookFollowed.get(inst);
      if (followed === undefined) this.bookFollowed.set(inst, (followed = app.numSubscribers(bookTopic(inst)) > 0));
      if (!followed) continue;
      let m = this.marketOut.get(inst);
      if (m === undefined) this.marketOut.set(inst, (m = { seq: 0, trades: [], levels: [new Map(), new Map()] }));
      m.seq = seq;
      for (let i = 0; i < flat.length; i += 3) m.levels[flat[i]!]!.set(flat[i + 1]!, flat[i + 2]!);
      for (const t of out.trades) if (t.inst === inst) m.trades.push(t);
    }
    for (const rep of out.reports) {
      if (rep.k === ReportKind.REJECTED) this.engineRejects.set(rep.code!, (this.engineRejects.get(rep.code!) ?? 0) + 1);
      const subs = this.reportSubs.get(rep.acct);
      this.reportRing.push(seq, rep);
      if (subs === undefined) continue;
      const start = this.copyFeedFrame(reportFrame(seq, rep));
      const end = this.feedBytesUsed;
      for (const ws of subs) {
        const queued = this.feedOut.get(ws);
        if (queued === undefined) this.feedOut.set(ws, [start, end]);
        else queued.push(start, end);
      }
    }
  }

  /**
   * The batch's market data, per instrument that changed: its TRADEs in order, then one
   * BOOK_UPDATE with the net change of every level the batch touched, as of the batch's last
   * command that changed the book, and the checksum of the book then. One depth read, one
   * checksum and one publish per instrument and batch, not per command.
   */
  private flushMarketData(): void {
    const app = this.app;
    for (const [inst, m] of this.marketOut) {
      if (m.seq === 0) continue;
      if (app !== null) {
        const topic = bookTopic(inst);
        for (const t of m.trades) app.publish(topic, encode({ v: PROTOCOL_VERSION, t: MsgType.TRADE, ...t }), true);
        const ch: [number, number, number][] = [];
        for (let side = 0; side < 2; side++) for (const [px, qty] of m.levels[side]!) ch.push([side, px, qty]);
        const d = this.engine.depth(inst, CHECKSUM_LEVELS);
        app.publish(topic, encode({ v: PROTOCOL_VERSION, t: MsgType.BOOK_UPDATE, inst, seq: m.seq, ch, cs: bookChecksum(d.bids, d.asks) }), true);
      }
      m.seq = 0;
      m.trades.length = 0;
      m.levels[0]!.clear();
      m.levels[1]!.clear();
    }
  }

  /**
   * Sends the reports queued while applying a batch, each connection's corked into one write
   * (outside a uWS callback every uncorked send is its own system call).
   */
  private flushFeed(): void {
    this.flushMarketData();
    const bytes = this.feedBytes;
    for (const [ws, offsets] of this.feedOut) {
      if (ws.getUserData().closed) continue;
      ws.cork(() => { for (let k = 0; k < offsets.length; k += 2) this.sendFeed(ws, bytes.subarray(offsets[k]!, offsets[k + 1]!)); });
    }
    this.feedOut.clear();
    this.feedBytesUsed = 0;
    // A batch of mass cancels may have grown it far: keep at most FEED_BYTES_KEPT_MAX between batches.
    if (bytes.length > FEED_BYTES_KEPT_MAX) this.feedBytes = Buffer.allocUnsafeSlow(FEED_BYTES_INITIAL);
  }

  /** Copies a report's frame into `feedBytes` (grown as the batch needs), returning where it starts. */
  private copyFeedFrame(frame: Buffer): number {
    const start = this.feedBytesUsed;
    if (start + frame.length > this.feedBytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.feedBytes.length, start + frame.length));
      this.feedBytes.copy(grown, 0, 0, start);
      this.feedBytes = grown;
    }
    frame.copy(this.feedBytes, start);
    this.feedBytesUsed = start + frame.length;
    return start;
  }

  private sendFeed(ws: uWS.WebSocket<FeedData>, frame: Buffer): void {
    const d = ws.getUserData();
    if (d.closed) return;
    if (ws.getBufferedAmount() > this.o.feedBufferBytesMax) {
      d.closed = true;
      ws.end(4001, "slow consumer: too much buffered; reconnect and resubscribe");
      return;
    }
    ws.send(frame, true);
  }

  // ---- feed endpoint ----------------------------------------------------------------------

  private async listen(): Promise<void> {
    const app = uWS.App();
    app.ws<FeedData>("/feed", {
      compression: uWS.DISABLED, maxPayloadLength: FEED_FRAME_BYTES_MAX, idleTimeout: FEED_IDLE_TIMEOUT_S,
      maxBackpressure: this.o.feedBufferBytesMax, closeOnBackpressureLimit: 1,
      upgrade: (res, req, ctx) => upgradeWith<FeedData>({ acct: 0, books: new Set<number>(), closed: false, loggedIn: 0 })(res, req, ctx),
      open: (ws) => {
        this.feed.add(ws);
        this.feedGate.admit(ws);
      },
      message: (ws, msg) => this.onFeedFrame(ws, msg),
      close: (ws) => {
        ws.getUserData().closed = true;
        this.feed.delete(ws);
        this.feedGate.done(ws);
        this.unsubscribeReports(ws);
      },
    });
    app.get("/stats", (res) => {
      res.writeHeader("content-type", "application/json").end(JSON.stringify(this.stats()));
    });
    app.get("/metrics", (res) => {
      res.writeHeader("content-type", "text/plain; version=0.0.4").end(this.metrics());
    });
    // The one-way and hop histograms, encoded, for a bench to subtract one reading from a later one (a few KB; not for polling).
    app.get("/hops", (res) => {
      res.writeHeader("content-type", "application/json").end(JSON.stringify(this.latency.hopSnapshots(this.applied)));
    });
    // Progress only: cheap enough to poll often (/stats hashes the whole book).
    app.get("/seq", (res) => {
      res.writeHeader("content-type", "application/json").end(`{"seq":${this.applied},"halted":${this.halt !== null}}`);
    });
    serveRest(app, {
      instruments: this.refs, auth: this.o.auth, seq: () => this.applied, nowUs: () => this.clock.nowUs(),
      depth: (inst, levelsMax) => this.engine.depth(inst, levelsMax), trades: (inst) => this.recentTrades.get(inst), openOrders: (acct) => this.engine.openOrders(acct),
      exportBook: (inst, rows) => this.engine.exportBook(inst, rows), ...(this.o.operatorAccount === undefined ? {} : { operatorAccount: this.o.operatorAccount }),
      refused: (code) => this.restRejects.set(code, (this.restRejects.get(code) ?? 0) + 1),
      failed: (err) => this.o.log.error({ err: (err as Error).message }, "REST read failed (a bug): answered 500 INTERNAL"),
    });
    this.app = app;
    const l = await listen(app, this.o.host, this.o.port, `replica ${this.o.id}`);
    this.listenSocket = l.token;
    this.port_ = l.port;
  }

  private feedError(ws: uWS.WebSocket<FeedData>, code: WireReason, msg: string): void {
    this.feedRejects.set(code, (this.feedRejects.get(code) ?? 0) + 1);
    ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.ERROR, code, msg }), true);
  }

  private onFeedFrame(ws: uWS.WebSocket<FeedData>, bytes: ArrayBuffer): void {
    const v = validateFeedFrame(new Uint8Array(bytes));
    if (!v.ok) return this.feedError(ws, v.code, v.text);
    const m = v.msg;
    const d = ws.getUserData();
    // A valid request is this endpoint's login (public market data needs no account).
    if (m.t !== MsgType.HELLO) this.feedGate.done(ws);
    if (m.t === MsgType.HELLO) {
      const a = this.o.auth?.verify(m, m.acct, this.clock.nowUs()) ?? { ok: true as const, account: m.acct };
      if (!a.ok) return this.feedError(ws, WireReason.NOT_AUTHENTICATED, `login refused: ${a.why}`);
      d.loggedIn = m.acct;
      this.feedGate.done(ws);
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO_OK, acct: m.acct, ep: this.epoch, seq: this.applied }), true);
      return;
    }
    if (m.t === MsgType.INSTRUMENTS) {
      ws.send(this.instrumentsFrame, true);
      return;
    }
    if (m.t === MsgType.SUB_BOOK) {
      if (!this.o.instruments.some((i) => i.id === m.inst)) return this.feedError(ws, WireReason.UNKNOWN_INSTRUMENT, `no instrument ${m.inst}`);
      const depth = this.engine.depth(m.inst);
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.BOOK_SNAPSHOT, inst: m.inst, seq: this.applied, bids: depth.bids, asks: depth.asks, cs: bookChecksum(depth.bids, depth.asks) }), true);
      // Updates published from now on follow the snapshot: uWS sends publishes at the end of
      // this event-loop turn, after the snapshot already written. The client also drops updates
      // not newer than its snapshot and checks every checksum.
      if (!d.books.has(m.inst)) ws.subscribe(bookTopic(m.inst));
      d.books.add(m.inst);
      return;
    }
    if (this.o.auth !== undefined && d.loggedIn !== m.acct) return this.feedError(ws, WireReason.NOT_AUTHENTICATED, `log in as account ${m.acct} (HELLO) to read its reports`);
    const oldest = this.reportRing.oldestSeq ?? this.applied + 1;
    if (m.from > 0 && m.from < oldest && this.applied >= oldest) return this.feedError(ws, WireReason.OUT_OF_RANGE, `reports before seq ${oldest} are no longer kept here`);
    this.unsubscribeReports(ws);
    d.acct = m.acct;
    let subs = this.reportSubs.get(m.acct);
    if (subs === undefined) this.reportSubs.set(m.acct, (subs = new Set()));
    subs.add(ws);
    this.reportRing.forEachFrame(m.acct, m.from, reportFrame, (frame) => this.sendFeed(ws, frame));
  }

  metrics(): string {
    const l = { replica: this.o.id };
    const L = this.latency;
    const e = this.skewEstimate();
    const halted: [Record<string, string>, number][] = [this.halt === null ? [l, 0] : [{ ...l, reason: this.halt.reason }, 1]];
    return new PromText()
      .gauge("lockstep_replica_applied_seq", "Last sequence number applied.", this.applied, l)
      .gaugeSet("lockstep_replica_halted", "1 while this replica is halted at a record it cannot apply, by reason.", halted)
      .counter("lockstep_replica_login_expired_total", "Feed connections closed for sending no valid request within the login deadline.", [[l, this.feedGate.expired]])
      .counter("lockstep_replica_login_evicted_total", "Feed connections closed, longest waiting first, to make room while too many were waiting.", [[l, this.feedGate.evicted]])
      .counter("lockstep_replica_gaps_total", "Gaps detected in the log (each re-subscribes).", [[l, this.upstream.counters.gaps]])
      .counter("lockstep_replica_stale_epoch_batches_total", "Batches ignored because they came from an older epoch than one already seen.", [[l, this.upstream.counters.staleEpochBatches]])
      .counter("lockstep_replica_engine_rejects_total", "Commands the engine refused, by reason.", [...this.engineRejects].map(([k, n]) => [{ ...l, reason: REASON_NAME[k as Reason] }, n] as [Record<string, string>, number]))
      .counter("lockstep_replica_feed_rejects_total", "Feed frames refused, by reason.", [...this.feedRejects].map(([k, n]) => [{ ...l, reason: WIRE_REASON_NAME[k as WireReason] }, n] as [Record<string, string>, number]))
      .gauge("lockstep_replica_clock_offset_us", "Estimated offset of this replica's clock from the sequencer's (ours − theirs).", Math.round(e?.offsetUs ?? 0), l)
      .gauge("lockstep_replica_clock_offset_bound_us", "Error bound of the offset estimate (half the minimum probe round trip).", Math.round(e?.boundUs ?? 0), l)
      .summary("lockstep_replica_one_way_raw_us", "Sequencer stamp to replica receipt, each on its own clock.", L.oneWayRaw.summary(), l)
      .summary("lockstep_replica_one_way_compensated_us", "Raw one-way minus the estimated clock offset.", L.oneWayCompensated.summary(), l)
      .summary("lockstep_replica_apply_us", "Decoding and applying one record.", L.apply.summary(), l)
      .summary("lockstep_replica_clock_offset_estimate_us", "Offset estimates after each probe.", L.offset.summary(), l)
      .toString();
  }

  private unsubscribeReports(ws: uWS.WebSocket<FeedData>): void {
    const acct = ws.getUserData().acct;
    const subs = this.reportSubs.get(acct);
    if (subs === undefined) return;
    subs.delete(ws);
    if (subs.size === 0) this.reportSubs.delete(acct);
  }

  stats(): ReplicaStats {
    const e = this.skewEstimate();
    const L = this.latency;
    const hist = (which: "cumulative" | "interval"): ReplicaLatencyStats => ({
      one_way_raw_us: L.oneWayRaw.summary(which), one_way_compensated_us: L.oneWayCompensated.summary(which),
      ...(this.o.drillTruth === true ? { one_way_true_us: L.oneWayTrue.summary(which) } : {}),
      apply_us: L.apply.summary(which), offset_us: L.offset.summary(which), offset_bound_us: L.offsetBound.summary(which),
      sequencer_queue_us: L.sequencerQueue.summary(which), link_raw_us: L.linkRaw.summary(which), link_compensated_us: L.linkCompensated.summary(which), receipt_to_send_us: L.receiptToSend.summary(which),
    });
    return {
      role: "replica", id: this.o.id, seq: this.applied, epoch: this.epoch, hash: this.stateHash(),
      skew: e === null ? null : { offset_us: Math.round(e.offsetUs), bound_us: Math.round(e.boundUs), drift_ppm: Math.round(e.driftPpm * 10) / 10, samples: e.samples },
      ...(this.o.drillTruth === true ? { clock_injected_error_us: Math.round(this.clock.injectedErrorUs()) } : {}),
      latency: hist("cumulative"), latency_last_second: hist("interval"), gaps: this.upstream.counters.gaps, link_silences: this.upstream.counters.silences, stale_epoch_batches: this.upstream.counters.staleEpochBatches, snapshot_corruptions: this.snapshotCorruptions,
      batches: this.batches, statuses: this.statuses,
      checkpoint: this.checkpoint, forked: this.upstream.forked, halted: this.halt, subscribers: this.feed.size, last_record_ts_us: this.lastRecordTsUs,
      engine_rejects: Object.fromEntries([...this.engineRejects].map(([k, n]) => [REASON_NAME[k as Reason], n])),
      feed_rejects: Object.fromEntries([...this.feedRejects].map(([k, n]) => [WIRE_REASON_NAME[k as WireReason], n])),
      rest_rejects: Object.fromEntries([...this.restRejects].map(([k, n]) => [WIRE_REASON_NAME[k as WireReason], n])),
    };
  }

  /**
   * Saves a snapshot (unless the engine threw: that state is not trusted), then closes every
   * connection with a close code; resolves once they are closed, cutting any still open after
   * STOP_GRACE_MS.
   */
  stop(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    this.stopping = true;
    clearInterval(this.rotateTimer);
    if (this.statusTimer !== null) clearTimeout(this.statusTimer);
    this.feedGate.stop();
    this.upstream.stop();
    const saveLast = (): void => {
      if (this.applied > this.lastSnapshotSeq && this.stateSound) saveSnapshot(this.o.dataDir, this.persisted());
    };
    // At once when no background write is in flight (a caller may reopen the directory right
    // after stop()); otherwise after it, so that the newer state is the one that stays.
    const failed = (err: unknown): void => this.o.log.error({ err: (err as Error).message }, "snapshot on stop failed; the previous snapshot stays");
    let saved: Promise<void>;
    try {
      saved = this.snapshotWrite === null ? (saveLast(), Promise.resolve()) : this.snapshotWrite.then(saveLast).catch(failed);
    } catch (err) {
      failed(err);
      saved = Promise.resolve();
    }
    if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    this.app = null;
    const closed = closeAll([this.feed], CloseCode.GOING_AWAY, "replica stopping");
    return Promise.all([closed, saved]).then(() => undefined);
  }
}
