/**
 * A replica follows the sequencer's log and rebuilds the book with the same engine.
 *
 *   1. follow   connect to /replicate, SUBSCRIBE from applied + 1 with our chain value
 *   2. verify   each BATCH: epoch not older than any seen (fencing), records contiguous
 *               (a gap means re-subscribe; records already applied are skipped), and the hash
 *               chain over the new records must end at the frame's chain (else: forked log,
 *               refuse and stop)
 *   3. apply    every record exactly once, in seq order, to the engine; a record that does
 *               not decode, or that the engine throws on, halts the replica at that seq (it
 *               keeps serving what it has, says so in STATUS, /stats and metrics, and never
 *               skips the record or crash-loops on it)
 *   4. publish  execution reports to the owning account's subscribers (and a resume ring),
 *               L2 updates with a top-10 checksum and trades to book subscribers
 *   5. report   STATUS (applied seq, last checkpoint hash) to the sequencer after each batch
 *   6. persist  a snapshot (engine state + seq + chain) every N seqs and on stop; a restart
 *               loads it and catches up from there
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { crc32 } from "node:zlib";
import { join } from "node:path";
import { Packr } from "msgpackr";
import type { Logger } from "pino";
import uWS from "uWebSockets.js";
import { WebSocket } from "ws";
import { Engine, REASON_NAME, type EngineOptions, type EngineSnapshot, type InstrumentConfig, type Reason } from "../engine/index.js";
import { chainNext, GENESIS_CHAIN } from "../journal/journal.js";
import { bookChecksum } from "../protocol/checksum.js";
import { decode, encode } from "../protocol/codec.js";
import { HALT_REASON_NAME, HaltReason, MsgType, PROTOCOL_VERSION, WireReason, WIRE_REASON_NAME, ReportKind, type Batch, type ErrorMsg, type Pong } from "../protocol/messages.js";
import { decodeRecord, RecordError } from "../protocol/record.js";
import { validateFeedFrame } from "../protocol/validate.js";
import { Ring } from "../util/ring.js";
import { CloseCode, DEFAULT_LOGIN_LIMITS, LoginGate } from "../util/login-gate.js";
import { closeAll, listen, STOP_GRACE_MS, upgradeWith } from "../util/uws.js";
import { SystemClock } from "../clock/clock.js";
import { SkewEstimator, type SkewEstimate } from "../clock/skew.js";
import { LatencyRecorder, SignedLatency } from "../metrics/latency.js";
import { PromText } from "../metrics/prometheus.js";
import { prove, type Authenticator } from "../protocol/auth.js";
import { CommandOutputs } from "./outputs.js";

export interface ReplicaOptions {
  readonly id: string;
  /** The sequencer's /replicate URL; with standbys, every sequencer node's, tried in turn until the leader answers. */
  readonly sequencerUrl: string | readonly string[];
  readonly host: string;
  /** Port of this replica's feed endpoint; 0 picks a free one. */
  readonly port: number;
  readonly dataDir: string;
  readonly instruments: readonly InstrumentConfig[];
  /** Must be the same on every replica: part of the state machine's definition. */
  readonly engine?: EngineOptions;
  readonly snapshotEverySeq: number;
  readonly hashEverySeq: number;
  /** Execution reports kept for clients resuming from a seq. */
  readonly reportRingMax: number;
  /** A feed subscriber with more than this buffered is disconnected (slow consumer). */
  readonly feedBufferBytesMax: number;
  /** Clock probes to the sequencer, one per this many ms. */
  readonly probeIntervalMs: number;
  /** A feed connection that has sent no valid request (HELLO, SUB_BOOK, SUB_REPORTS) this long after opening is closed. */
  readonly loginDeadlineMs?: number;
  /** Feed connections waiting for their first valid request at once; one more is closed on open. */
  readonly unauthenticatedMax?: number;
  /** This node's clock (a SystemClock, possibly with injected offset and drift). */
  readonly clock?: SystemClock;
  /**
   * Drills only: also record the true one-way time, from the machine's real clock, assuming the
   * sequencer's clock is not skewed (the drills keep it true). Meaningless in production.
   */
  readonly drillTruth?: boolean;
  /** When set, execution reports are served only to a feed connection logged in (HELLO) as that account. */
  readonly auth?: Authenticator;
  /** This replica's key, proving itself to the sequencer on SUBSCRIBE. */
  readonly credentials?: { readonly keyId: string; readonly secret: string };
  readonly log: Logger;
}

/** Histograms this replica records, µs. */
class ReplicaLatency {
  /** Receive time on our clock − the sequencer's stamp on its clock: true one-way + clock offset. */
  readonly oneWayRaw = new SignedLatency();
  /** Raw one-way minus the estimated offset. */
  readonly oneWayCompensated = new SignedLatency();
  /** Drills only: real one-way time on the machine's shared clock. */
  readonly oneWayTrue = new SignedLatency();
  readonly apply = new LatencyRecorder();
  readonly offset = new SignedLatency();
  readonly offsetBound = new LatencyRecorder();

  rotate(): void {
    this.oneWayRaw.rotate();
    this.oneWayCompensated.rotate();
    this.oneWayTrue.rotate();
    this.apply.rotate();
    this.offset.rotate();
    this.offsetBound.rotate();
  }
}

interface FeedData { acct: number; books: Set<number>; closed: boolean; loggedIn: number }
interface Persisted { format: 1; seq: number; chain: Uint8Array; epoch: number; engine: EngineSnapshot }

const bookTopic = (inst: number): string => `book/${inst}`;

const snapshotPackr = new Packr({ useRecords: false, int64AsType: "number" });
const RECONNECT_MS_MIN = 50;
const RECONNECT_MS_MAX = 500;

/** Where and why this replica stopped applying the log. */
export interface Halt { readonly seq: number; readonly reason: string; readonly message: string }

/** A BATCH as the sequencer sends it; anything else from upstream is refused, never applied. */
function isBatch(m: Record<string, unknown>): m is Batch & Record<string, unknown> {
  return Number.isSafeInteger(m.ep) && Number.isSafeInteger(m.first) && (m.first as number) >= 1 && m.chain instanceof Uint8Array
    && Array.isArray(m.recs) && m.recs.every((r) => r instanceof Uint8Array);
}

export class Replica {
  private engine: Engine;
  private readonly out = new CommandOutputs();
  private applied = 0;
  private chain: Buffer = GENESIS_CHAIN;
  private epoch = 0;
  private checkpoint = { seq: 0, hash: "" };
  private lastSnapshotSeq = 0;
  private upstream: WebSocket | null = null;
  private reconnectMs = RECONNECT_MS_MIN;
  private readonly upstreamUrls: readonly string[];
  /** Index into upstreamUrls of the next connection attempt. */
  private upstreamIndex = 0;
  private stopping = false;
  private forked: string | null = null;
  private halt: Halt | null = null;
  /** False once the engine threw mid-command: its state is then not saved as a snapshot. */
  private stateSound = true;
  private readonly feedGate: LoginGate;
  private lastRecordTsUs = 0;
  /** Publishes market data; null once stopped (this uWS build has no app.close()). */
  private app: uWS.TemplatedApp | null = null;
  private listenSocket: uWS.us_listen_socket | null = null;
  private readonly feed = new Set<uWS.WebSocket<FeedData>>();
  /** Report subscribers by account, so a report goes straight to its account's connections. */
  private readonly reportSubs = new Map<number, Set<uWS.WebSocket<FeedData>>>();
  /** Reports produced by the batch being applied, per connection, sent when it is done. */
  private readonly feedOut = new Map<uWS.WebSocket<FeedData>, Buffer[]>();
  private readonly reportRing: Ring<{ seq: number; acct: number; frame: Buffer }>;
  private port_ = 0;
  private readonly waiters: { seq: number; resolve: () => void }[] = [];
  /** Engine rejects by reason code, and refused feed frames by wire reason code. */
  private readonly engineRejects = new Map<number, number>();
  private readonly feedRejects = new Map<number, number>();
  private readonly clock: SystemClock;
  private readonly skew = new SkewEstimator();
  readonly latency = new ReplicaLatency();
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly rotateTimer: NodeJS.Timeout;
  private gaps = 0;
  /** Batches ignored because they came from an older epoch than one already seen (fencing). */
  private staleEpochBatches = 0;
  private snapshotCorruptions = 0;

  constructor(private readonly o: ReplicaOptions) {
    mkdirSync(o.dataDir, { recursive: true });
    this.engine = new Engine(o.instruments, this.out, o.engine);
    this.upstreamUrls = typeof o.sequencerUrl === "string" ? [o.sequencerUrl] : o.sequencerUrl;
    if (this.upstreamUrls.length === 0) throw new Error("replica: no sequencer URL");
    this.reportRing = new Ring(o.reportRingMax);
    this.clock = o.clock ?? new SystemClock();
    this.rotateTimer = setInterval(() => this.latency.rotate(), 1000);
    this.rotateTimer.unref();
    this.feedGate = new LoginGate({ loginDeadlineMs: o.loginDeadlineMs ?? DEFAULT_LOGIN_LIMITS.loginDeadlineMs, unauthenticatedMax: o.unauthenticatedMax ?? DEFAULT_LOGIN_LIMITS.unauthenticatedMax }, "/feed");
    this.loadSnapshot();
  }

  get port(): number {
    return this.port_;
  }
  get appliedSeq(): number {
    return this.applied;
  }
  stateHash(): string {
    return this.engine.stateHash();
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
    this.connect();
    return this.port_;
  }

  // ---- 6. persist (load) ------------------------------------------------------------------

  private snapshotPath(): string {
    return join(this.o.dataDir, "snapshot.msgpack");
  }

  /**
   * Loads the snapshot if there is one. The file is a CRC32 followed by the MessagePack body; a
   * file that fails its CRC, does not decode, or holds an engine state this engine does not
   * restore (an older format) is moved aside, counted, and the replica starts from nothing and
   * catches up from the sequencer instead.
   */
  private loadSnapshot(): void {
    const path = this.snapshotPath();
    if (!existsSync(path)) return;
    let p: Persisted;
    let engine: Engine;
    try {
      const bytes = readFileSync(path);
      if (bytes.length < 4 || crc32(bytes.subarray(4)) !== bytes.readUInt32LE(0)) throw new Error("CRC mismatch");
      p = snapshotPackr.unpack(bytes.subarray(4)) as Persisted;
      if (p.format !== 1) throw new Error(`unsupported snapshot format ${String(p.format)}`);
      engine = Engine.restore(p.engine, this.out, this.o.engine);
    } catch (err) {
      this.snapshotCorruptions++;
      const aside = `${path}.corrupt-${Date.now()}`;
      renameSync(path, aside);
      this.o.log.error({ err: (err as Error).message, movedTo: aside }, "snapshot unreadable: starting from nothing, catching up from the sequencer");
      return;
    }
    this.engine = engine;
    this.applied = p.seq;
    this.chain = Buffer.from(p.chain);
    this.epoch = p.epoch;
    this.lastSnapshotSeq = p.seq;
    this.o.log.info({ seq: p.seq }, "restored from snapshot");
  }

  /** Writes the snapshot to a temporary file, fsyncs it, then renames it over the old one. */
  private saveSnapshot(): void {
    const p: Persisted = { format: 1, seq: this.applied, chain: this.chain, epoch: this.epoch, engine: this.engine.snapshot() };
    const tmp = `${this.snapshotPath()}.tmp`;
    const body = snapshotPackr.pack(p);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(crc32(body), 0);
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, head);
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.snapshotPath());
    this.lastSnapshotSeq = this.applied;
  }

  // ---- 1. follow --------------------------------------------------------------------------

  private connect(): void {
    if (this.stopping || this.forked !== null || this.halt !== null) return;
    const ws = new WebSocket(this.upstreamUrls[this.upstreamIndex]!, { perMessageDeflate: false, maxPayload: 64 << 20 });
    this.upstream = ws;
    ws.binaryType = "nodebuffer";
    ws.on("open", () => {
      this.reconnectMs = RECONNECT_MS_MIN;
      const c = this.o.credentials;
      const proof = c === undefined ? {} : prove(c.keyId, c.secret, 0, this.clock.nowUs());
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUBSCRIBE, rid: this.o.id, from: this.applied + 1, chain: this.chain, ...proof }));
      if (this.probeTimer !== null) clearInterval(this.probeTimer);
      this.probeTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.PING, t1: this.clock.nowUs() }));
      }, this.o.probeIntervalMs);
    });
    ws.on("message", (data: Buffer) => this.onUpstream(ws, data));
    ws.on("error", (err) => this.o.log.debug({ err: err.message }, "sequencer connection error"));
    ws.on("close", () => {
      if (this.upstream === ws) this.upstream = null;
      if (this.probeTimer !== null) clearInterval(this.probeTimer);
      this.probeTimer = null;
      if (this.stopping || this.forked !== null || this.halt !== null) return;
      // Next node at once; back off only after every node has been tried.
      this.upstreamIndex = (this.upstreamIndex + 1) % this.upstreamUrls.length;
      if (this.upstreamIndex !== 0) return this.connect();
      setTimeout(() => this.connect(), this.reconnectMs);
      this.reconnectMs = Math.min(RECONNECT_MS_MAX, this.reconnectMs * 2);
    });
  }

  private onUpstream(ws: WebSocket, data: Buffer): void {
    const receivedUs = this.clock.nowUs();
    // Read together with receivedUs so that raw and true one-way times describe the same instant.
    const trueReceivedUs = this.o.drillTruth === true ? this.clock.trueNowUs() : 0;
    const m = decode(data) as Batch | ErrorMsg | Pong | undefined;
    if (m?.t === MsgType.PONG) {
      if (Number.isSafeInteger(m.t1) && Number.isSafeInteger(m.t2) && Number.isSafeInteger(m.t3)) this.onPong(m, receivedUs);
      return;
    }
    if (m?.t === MsgType.ERROR) {
      if (m.code === WireReason.NOT_LEADER) return this.o.log.debug({ msg: m.msg }, "that sequencer is a standby");
      this.o.log.error({ code: m.code, msg: m.msg }, "sequencer refused us");
      if (m.code === WireReason.FORKED) this.forked = String(m.msg);
      return;
    }
    if (m?.t !== MsgType.BATCH || !isBatch(m as unknown as Record<string, unknown>)) {
      this.o.log.warn("unexpected or malformed frame from the sequencer: reconnecting");
      ws.close();
      return;
    }
    this.onBatch(ws, m, receivedUs, trueReceivedUs);
  }

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

  // ---- 2. verify, 3. apply, 4. publish, 5. report -----------------------------------------

  private onBatch(ws: WebSocket, b: Batch, receivedUs: number, trueReceivedUs: number): void {
    if (b.ep < this.epoch) {
      if (this.staleEpochBatches++ === 0) this.o.log.warn({ ep: b.ep, epoch: this.epoch }, "ignoring frames from an older epoch (a deposed sequencer): trying the next sequencer");
      ws.close();
      return;
    }
    if (b.first > this.applied + 1) {
      this.gaps++;
      this.o.log.warn({ first: b.first, applied: this.applied }, "gap in the log: re-subscribing");
      ws.close();
      return;
    }
    const recs = b.recs.slice(this.applied + 1 - b.first);
    if (recs.length === 0) return;
    let chain = this.chain;
    for (const r of recs) chain = chainNext(chain, r);
    if (!chain.equals(b.chain)) {
      this.forked = `hash chain mismatch in batch from seq ${b.first}`;
      this.o.log.error({ first: b.first }, "the sequencer's log forks from what we applied: refusing it");
      ws.close();
      return;
    }
    this.epoch = b.ep;
    const est = this.skew.estimate(receivedUs);
    for (const r of recs) {
      this.applyOrHalt(r, receivedUs, est === null ? null : est.offsetUs, trueReceivedUs);
      if (this.halt !== null) break;
    }
    this.flushFeed();
    if (this.halt !== null) return this.reportHalt(ws);
    this.chain = chain;
    ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.STATUS, rid: this.o.id, seq: this.applied, ck: this.checkpoint.seq, ckh: this.checkpoint.hash }));
    if (this.applied - this.lastSnapshotSeq >= this.o.snapshotEverySeq) this.saveSnapshot();
    while (this.waiters.length > 0 && this.waiters[0]!.seq <= this.applied) this.waiters.shift()!.resolve();
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
      this.halt = { seq, reason: HALT_REASON_NAME[undecodable ? HaltReason.RECORD_UNDECODABLE : HaltReason.APPLY_FAILED], message: (err as Error).message };
      this.o.log.fatal({ seq, reason: this.halt.reason, err: this.halt.message }, "HALTED: cannot apply the record at this seq; serving what was applied, applying nothing more");
    }
  }

  /** Tells the sequencer where and why we halted, then leaves the log (no reconnect: the record would halt us again). */
  private reportHalt(ws: WebSocket): void {
    const code = this.halt!.reason === HALT_REASON_NAME[HaltReason.RECORD_UNDECODABLE] ? HaltReason.RECORD_UNDECODABLE : HaltReason.APPLY_FAILED;
    ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.STATUS, rid: this.o.id, seq: this.applied, ck: this.checkpoint.seq, ckh: this.checkpoint.hash, halt: code, hseq: this.halt!.seq }));
    ws.close(1000, "replica halted");
  }

  private applyRecord(bytes: Uint8Array, receivedUs: number, offsetUs: number | null, trueReceivedUs: number): void {
    const started = performance.now();
    const r = decodeRecord(bytes);
    if (r.seq !== this.applied + 1) throw new RecordError(`record carries seq ${r.seq} where seq ${this.applied + 1} belongs`);
    const raw = receivedUs - r.tsUs;
    this.latency.oneWayRaw.record(raw);
    if (offsetUs !== null) {
      this.latency.oneWayCompensated.record(raw - offsetUs);
      // Same records as the compensated histogram, so the drill compares like with like.
      if (trueReceivedUs !== 0) this.latency.oneWayTrue.record(trueReceivedUs - r.tsUs);
    }
    this.out.begin(r.seq);
    this.engine.apply(r.cmd);
    this.out.end();
    this.latency.apply.record((performance.now() - started) * 1000);
    this.applied = r.seq;
    this.lastRecordTsUs = r.tsUs;
    if (r.seq % this.o.hashEverySeq === 0) this.checkpoint = { seq: r.seq, hash: this.engine.stateHash() };
    this.publish(r.seq);
  }

  /**
   * Per command: its trades and book update first, then its reports, so a report for seq S means
   * the book already shows S. Market data goes out by uWS pub/sub (one publish, fanned out in
   * C++, slow subscribers closed by uWS at maxBackpressure); reports go to their account's
   * connections directly.
   */
  private publish(seq: number): void {
    const out = this.out;
    const app = this.app;
    for (const [inst, flat] of out.levels) {
      if (flat.length === 0 || app === null || app.numSubscribers(bookTopic(inst)) === 0) continue;
      const ch: [number, number, number][] = [];
      for (let i = 0; i < flat.length; i += 3) ch.push([flat[i]!, flat[i + 1]!, flat[i + 2]!]);
      const d = this.engine.depth(inst, 10);
      for (const t of out.trades) if (t.inst === inst) app.publish(bookTopic(inst), encode({ v: PROTOCOL_VERSION, t: MsgType.TRADE, seq, ...t }), true);
      app.publish(bookTopic(inst), encode({ v: PROTOCOL_VERSION, t: MsgType.BOOK_UPDATE, inst, seq, ch, cs: bookChecksum(d.bids, d.asks) }), true);
    }
    for (const rep of out.reports) {
      if (rep.k === ReportKind.REJECTED) this.engineRejects.set(rep.code!, (this.engineRejects.get(rep.code!) ?? 0) + 1);
      const frame = encode({ v: PROTOCOL_VERSION, t: MsgType.REPORT, seq, ...rep });
      this.reportRing.push({ seq, acct: rep.acct, frame });
      const subs = this.reportSubs.get(rep.acct);
      if (subs === undefined) continue;
      for (const ws of subs) {
        const queued = this.feedOut.get(ws);
        if (queued === undefined) this.feedOut.set(ws, [frame]);
        else queued.push(frame);
      }
    }
  }

  /**
   * Sends the reports queued while applying a batch, each connection's corked into one write
   * (outside a uWS callback every uncorked send is its own system call).
   */
  private flushFeed(): void {
    for (const [ws, frames] of this.feedOut) {
      if (ws.getUserData().closed) continue;
      ws.cork(() => { for (const f of frames) this.sendFeed(ws, f); });
    }
    this.feedOut.clear();
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
      compression: uWS.DISABLED, maxPayloadLength: 4096, idleTimeout: 120,
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
    // Progress only: cheap enough to poll often (/stats hashes the whole book).
    app.get("/seq", (res) => {
      res.writeHeader("content-type", "application/json").end(`{"seq":${this.applied},"halted":${this.halt !== null}}`);
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
    const oldest = this.reportRing.at(0)?.seq ?? this.applied + 1;
    if (m.from > 0 && m.from < oldest && this.applied >= oldest) return this.feedError(ws, WireReason.OUT_OF_RANGE, `reports before seq ${oldest} are no longer kept here`);
    this.unsubscribeReports(ws);
    d.acct = m.acct;
    let subs = this.reportSubs.get(m.acct);
    if (subs === undefined) this.reportSubs.set(m.acct, (subs = new Set()));
    subs.add(ws);
    for (const r of this.reportRing) if (r.acct === m.acct && r.seq >= m.from) this.sendFeed(ws, r.frame);
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
      .counter("lockstep_replica_gaps_total", "Gaps detected in the log (each re-subscribes).", [[l, this.gaps]])
      .counter("lockstep_replica_stale_epoch_batches_total", "Batches ignored because they came from an older epoch than one already seen.", [[l, this.staleEpochBatches]])
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

  stats(): object {
    const e = this.skewEstimate();
    const L = this.latency;
    const hist = (which: "cumulative" | "interval") => ({
      one_way_raw_us: L.oneWayRaw.summary(which), one_way_compensated_us: L.oneWayCompensated.summary(which),
      ...(this.o.drillTruth === true ? { one_way_true_us: L.oneWayTrue.summary(which) } : {}),
      apply_us: L.apply.summary(which), offset_us: L.offset.summary(which), offset_bound_us: L.offsetBound.summary(which),
    });
    return {
      role: "replica", id: this.o.id, seq: this.applied, epoch: this.epoch, hash: this.engine.stateHash(),
      skew: e === null ? null : { offset_us: Math.round(e.offsetUs), bound_us: Math.round(e.boundUs), drift_ppm: Math.round(e.driftPpm * 10) / 10, samples: e.samples },
      ...(this.o.drillTruth === true ? { clock_injected_error_us: Math.round(this.clock.injectedErrorUs()) } : {}),
      latency: hist("cumulative"), latency_last_second: hist("interval"), gaps: this.gaps, stale_epoch_batches: this.staleEpochBatches, snapshot_corruptions: this.snapshotCorruptions,
      checkpoint: this.checkpoint, forked: this.forked, halted: this.halt, subscribers: this.feed.size, last_record_ts_us: this.lastRecordTsUs,
      engine_rejects: Object.fromEntries([...this.engineRejects].map(([k, n]) => [REASON_NAME[k as Reason], n])),
      feed_rejects: Object.fromEntries([...this.feedRejects].map(([k, n]) => [WIRE_REASON_NAME[k as WireReason], n])),
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
    this.feedGate.stop();
    if (this.probeTimer !== null) clearInterval(this.probeTimer);
    if (this.applied > this.lastSnapshotSeq && this.stateSound) this.saveSnapshot();
    const up = this.upstream;
    if (up !== null) {
      up.close(CloseCode.GOING_AWAY, "replica stopping");
      setTimeout(() => up.terminate(), STOP_GRACE_MS).unref();
    }
    if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    this.app = null;
    return closeAll([this.feed], CloseCode.GOING_AWAY, "replica stopping");
  }
}
