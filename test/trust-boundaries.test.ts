/**
 * Trust boundaries, against real nodes on loopback (in-process clusters, and child processes
 * of bin/lockstep.js where the process is what is under test). Proves, one describe per finding:
 *
 * 1. Poison frames: a nil price, a nil stop price and a price given twice (frames written byte
 *    by byte) are REJECTed with their reason code and cid and never sequenced; a record that
 *    does reach a journal undecodable halts the replica at that seq (stats, metrics, the
 *    sequencer's list of halted replicas), which keeps serving its feed and halts again, rather
 *    than crash-looping, when restarted on the same data.
 * 2. Fake followers: a STATUS claiming more than the follower was sent is refused, counted,
 *    closes the connection and releases no `replicas:K` ack; STATUS before SUBSCRIBE and client
 *    message types on /replicate are refused with their codes.
 * 3. Idle sockets: connections that never log in are closed at the login deadline (4002) on
 *    /trade, /feed and /replicate; beyond the cap on waiting connections the longest waiting is
 *    closed (4013); strangers never keep a trader out, nor count toward the logged-in cap.
 * 4. Stopping is stopping: SIGTERM stops a sequencer and a replica process within a bound even
 *    with a client that never answers the close; well-behaved clients see 1001.
 * 5. `lockstep start` with an auth section trades as the configured client key's account, and
 *    a missing secret is a one-line user error.
 * 6. Integers on the wire: floats where integers belong are refused on the way in; on the way
 *    out every message type, and every record inside BATCH, holds no float anywhere and
 *    integers beyond 32 bits are MessagePack uint64/int64.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { pack as msgpackrPack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { LockstepError, TradingClient } from "../src/client/index.js";
import type * as Launcher from "../src/cluster/launcher.js";
import type { InstrumentConfig } from "../src/engine/index.js";
import { Journal } from "../src/journal/journal.js";
import { decode, encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WireReason } from "../src/protocol/messages.js";
import type { Replica } from "../src/replica/replica.js";
import type { SequencerOptions } from "../src/sequencer/sequencer.js";
import { CloseCode } from "../src/util/login-gate.js";
import { TestCluster, until } from "./cluster-helpers.js";

const v = PROTOCOL_VERSION;
const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "lockstep.js");
const LOCAL_CONFIG = join(ROOT, "config", "local.json");
/** A follower's chain before seq 1. */
const GENESIS = Buffer.alloc(16);
const TWO_32 = 2 ** 32;
/** Bound on any single frame or close awaited in this file. */
const WAIT_MS = 5_000;

// ---- fixtures: everything opened is closed after each test ---------------------------------

const cleanups: (() => unknown)[] = [];
const track = (f: () => unknown): void => void cleanups.push(f);
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function tempDir(what: string): string {
  const d = mkdtempSync(join(tmpdir(), `lockstep-${what}-`));
  track(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function startCluster(replicas: number, over: Partial<SequencerOptions> = {}): Promise<TestCluster> {
  const c = new TestCluster();
  track(() => c.stop());
  await c.start(replicas, over);
  return c;
}

const replicateUrl = (c: TestCluster): string => `ws://127.0.0.1:${c.sequencer.port}/replicate`;
const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** `p`, or a failure naming `what` once `ms` have passed. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, fail) => { timer = setTimeout(() => fail(new Error(`${what}: not within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

interface SeqStats {
  seq: number; status_refused: number; logged_in: number; waiting_to_log_in: number;
  halted_replicas: { id: string; seq: number; reason: string }[]; replicas: { id: string }[];
}
interface RepStats { seq: number; forked: string | null; halted: { seq: number; reason: string; message: string } | null }
const seqStats = (c: TestCluster): SeqStats => c.sequencer.stats() as SeqStats;
const repStats = (r: Replica): RepStats => r.stats() as RepStats;

/** A raw WebSocket peer: every frame it receives, in order, and how and when it was closed. */
class Peer {
  /** Every frame received, kept after it was read (the integer test walks them all). */
  readonly received: Buffer[] = [];
  private read = 0;
  private wake: (() => void) | null = null;
  private openedMs = 0;
  readonly closed: Promise<{ code: number; afterMs: number }>;

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = "nodebuffer";
    ws.on("message", (b: Buffer) => {
      this.received.push(b);
      this.wake?.();
    });
    ws.on("error", () => undefined);
    this.closed = new Promise((resolve) => ws.once("close", (code: number) => {
      resolve({ code, afterMs: performance.now() - this.openedMs });
      this.wake?.();
    }));
  }

  static async open(url: string): Promise<Peer> {
    const p = new Peer(new WebSocket(url, { perMessageDeflate: false }));
    track(() => p.ws.terminate());
    await within(new Promise((ok, fail) => { p.ws.once("open", ok); p.ws.once("error", fail); }), WAIT_MS, `open ${url}`);
    p.openedMs = performance.now();
    return p;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: Uint8Array | object): void {
    this.ws.send(frame instanceof Uint8Array ? frame : encode(frame));
  }

  /** The next frame not read yet; fails if none arrives within WAIT_MS or the connection closes first. */
  async next(): Promise<Buffer> {
    const deadline = performance.now() + WAIT_MS;
    while (this.read === this.received.length) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error("the connection closed before the next frame");
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no frame within ${WAIT_MS} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => { clearTimeout(t); r(); };
      });
      this.wake = null;
    }
    return this.received[this.read++]!;
  }

  async nextMsg(): Promise<Record<string, unknown>> {
    return decode(await this.next()) as Record<string, unknown>;
  }

  /** The next frame of type `t`, skipping others. */
  async nextOf(t: number): Promise<Record<string, unknown>> {
    for (;;) {
      const m = await this.nextMsg();
      if (m.t === t) return m;
    }
  }

  async ask(frame: Uint8Array | object): Promise<Record<string, unknown>> {
    this.send(frame);
    return this.nextMsg();
  }

  async closedWithin(ms: number): Promise<{ code: number; afterMs: number }> {
    return within(this.closed, ms, "close");
  }
}

/** A /trade peer logged in as `acct`. */
async function trader(c: TestCluster, acct: number): Promise<Peer> {
  const p = await Peer.open(c.tradeUrl);
  expect(await p.ask({ v, t: MsgType.HELLO, acct })).toMatchObject({ t: MsgType.HELLO_OK, acct });
  return p;
}

// ---- MessagePack by hand --------------------------------------------------------------------

/**
 * MessagePack written byte by byte: msgpackr can write neither a key twice nor a float where
 * an integer would fit, and those are exactly the frames an untrusted peer may send.
 */
const MP = {
  nil: [0xc0],
  uint(x: number): number[] {
    if (x < 0x80) return [x];
    if (x < 0x100) return [0xcc, x];
    if (x < 0x10000) return [0xcd, x >> 8, x & 0xff];
    const b = Buffer.alloc(9);
    b[0] = 0xcf;
    b.writeBigUInt64BE(BigInt(x), 1);
    return [...b];
  },
  f64(x: number): number[] {
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(x, 1);
    return [...b];
  },
  f32(x: number): number[] {
    const b = Buffer.alloc(5);
    b[0] = 0xca;
    b.writeFloatBE(x, 1);
    return [...b];
  },
  /** A map of (key, value bytes) in this order; keys are short ASCII. */
  map(entries: readonly (readonly [string, number[]])[]): Buffer {
    const out = [0x80 | entries.length];
    for (const [k, val] of entries) out.push(0xa0 | k.length, ...Buffer.from(k, "ascii"), ...val);
    return Buffer.from(out);
  },
};

/** A limit NEW for instrument 1, buy, as hand-written entries; `extra` replaces or adds fields after them. */
function newOrderFrame(cid: number, extra: readonly (readonly [string, number[]])[], ord = 0): Buffer {
  const base: [string, number[]][] = [["v", MP.uint(v)], ["t", MP.uint(MsgType.NEW)], ["cid", MP.uint(cid)], ["inst", MP.uint(1)], ["side", MP.uint(0)], ["ord", MP.uint(ord)]];
  return MP.map([...base, ...extra]);
}

interface IntAt { readonly path: string; readonly op: number; readonly value: number }

/**
 * A strict MessagePack reader for what nodes send: throws on a float (0xca, 0xcb) anywhere, on
 * extension types, unused bytes, non-string keys, unsafe integers and trailing bytes; binary
 * values are opaque. Returns the value and every integer with its path ("asks.0.1") and type byte.
 */
function strictRead(bytes: Uint8Array): { value: unknown; ints: IntAt[] } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ints: IntAt[] = [];
  let i = 0;
  const take = (n: number): number => {
    if (i + n > b.length) throw new Error(`truncated at byte ${i}`);
    i += n;
    return i - n;
  };
  const int = (path: string, op: number, value: number): number => {
    if (!Number.isSafeInteger(value)) throw new Error(`${path}: ${value} is not a safe integer`);
    ints.push({ path, op, value });
    return value;
  };
  const str = (n: number): string => b.toString("utf8", take(n), i);
  const seq = (path: string, n: number): unknown[] => Array.from({ length: n }, (_, k) => read(`${path}${path === "" ? "" : "."}${k}`));
  const map = (path: string, n: number): Record<string, unknown> => {
    const m: Record<string, unknown> = {};
    for (let k = 0; k < n; k++) {
      const key = read(`${path}#key`);
      if (typeof key !== "string") throw new Error(`${path}: a key is not a string`);
      m[key] = read(path === "" ? key : `${path}.${key}`);
    }
    return m;
  };
  function read(path: string): unknown {
    const at = take(1);
    const op = b[at]!;
    if (op <= 0x7f) return int(path, op, op);
    if (op >= 0xe0) return int(path, op, op - 0x100);
    if (op <= 0x8f) return map(path, op & 0x0f);
    if (op <= 0x9f) return seq(path, op & 0x0f);
    if (op <= 0xbf) return str(op & 0x1f);
    switch (op) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: { const n = b.readUInt8(take(1)); return b.subarray(take(n), i); }
      case 0xc5: { const n = b.readUInt16BE(take(2)); return b.subarray(take(n), i); }
      case 0xc6: { const n = b.readUInt32BE(take(4)); return b.subarray(take(n), i); }
      case 0xca: case 0xcb: throw new Error(`a float (0x${op.toString(16)}) at ${path === "" ? "the top" : path}, byte ${at}`);
      case 0xcc: return int(path, op, b.readUInt8(take(1)));
      case 0xcd: return int(path, op, b.readUInt16BE(take(2)));
      case 0xce: return int(path, op, b.readUInt32BE(take(4)));
      case 0xcf: return int(path, op, Number(b.readBigUInt64BE(take(8))));
      case 0xd0: return int(path, op, b.readInt8(take(1)));
      case 0xd1: return int(path, op, b.readInt16BE(take(2)));
      case 0xd2: return int(path, op, b.readInt32BE(take(4)));
      case 0xd3: return int(path, op, Number(b.readBigInt64BE(take(8))));
      case 0xd9: return str(b.readUInt8(take(1)));
      case 0xda: return str(b.readUInt16BE(take(2)));
      case 0xdb: return str(b.readUInt32BE(take(4)));
      case 0xdc: return seq(path, b.readUInt16BE(take(2)));
      case 0xdd: return seq(path, b.readUInt32BE(take(4)));
      case 0xde: return map(path, b.readUInt16BE(take(2)));
      case 0xdf: return map(path, b.readUInt32BE(take(4)));
      default: throw new Error(`type byte 0x${op.toString(16)} (extension or unused) at ${path}, byte ${at}`);
    }
  }
  const value = read("");
  if (i !== b.length) throw new Error(`${b.length - i} bytes after the value`);
  return { value, ints };
}

/** The type byte each of `paths` was written with. */
function opsOf(r: { ints: IntAt[] }, ...paths: string[]): Record<string, number | undefined> {
  return Object.fromEntries(paths.map((p) => [p, r.ints.find((x) => x.path === p)?.op]));
}

// ---- 1 --------------------------------------------------------------------------------------

describe("1. poison frames and poison records", () => {
  it("nil prices and a price given twice are REJECTed with their code and cid, nothing is sequenced, the node keeps serving", async () => {
    const c = await startCluster(1);
    const p = await trader(c, 1);
    const cases: [string, Buffer, number, WireReason][] = [
      ["limit with px nil", newOrderFrame(11, [["qty", MP.uint(5)], ["px", MP.nil]]), 11, WireReason.OUT_OF_RANGE],
      ["stop with spx nil", newOrderFrame(12, [["qty", MP.uint(5)], ["spx", MP.nil]], 2), 12, WireReason.OUT_OF_RANGE],
      ["px twice", newOrderFrame(13, [["qty", MP.uint(5)], ["px", MP.uint(100)], ["px", MP.nil]]), 13, WireReason.MALFORMED],
    ];
    for (const [name, frame, cid, code] of cases) {
      const reply = await p.ask(frame);
      expect(reply, name).toMatchObject({ t: MsgType.REJECT, cid, code });
      expect(reply.msg, name).toMatch(name.startsWith("stop") ? /"spx"/ : /"px"/);
    }
    expect(c.sequencer.lastSeq).toBe(0);
    expect(await p.ask(newOrderFrame(14, [["qty", MP.uint(5)], ["px", MP.uint(100)]]))).toMatchObject({ t: MsgType.ACK, cid: 14, seq: 1 });
    const r = c.replicas[0]!;
    await within(r.waitFor(1), WAIT_MS, "replica applies seq 1");
    expect(repStats(r).halted).toBeNull();
  });

  it("a replica meeting an undecodable record halts at its seq, says so everywhere, keeps serving, and halts again on restart", async () => {
    const c = new TestCluster();
    track(() => c.stop());
    // [seq, epoch, tsUs, account, type 1 (limit), instrument, orderId, side, price, qty, tif, postOnly, stp]
    const j = Journal.open({ dir: join(c.dir, "journal"), segmentBytesMax: 1 << 20, fsync: { mode: "none" }, retainSegmentsMax: 0 });
    j.append(1, msgpackrPack([1, 1, 4, 3, 1, 1, 1, 0, 100, 5, 0, 0, 0]));
    j.append(2, msgpackrPack([2, 1, 5, 3, 1, 1, 2, 0, null, 5, 0, 0, 0]));
    j.append(3, msgpackrPack([3, 1, 6, 3, 1, 1, 3, 0, 101, 5, 0, 0, 0]));
    j.close();
    await c.start(0);
    expect(c.sequencer.lastSeq).toBe(3);

    const first = await c.addReplica("r1");
    await until(() => repStats(first).halted !== null, WAIT_MS);
    expect(first.appliedSeq).toBe(1);
    expect(repStats(first).halted).toMatchObject({ seq: 2, reason: "RECORD_UNDECODABLE" });
    const metrics = await (await fetch(`http://127.0.0.1:${first.port}/metrics`, { signal: AbortSignal.timeout(WAIT_MS) })).text();
    expect(metrics).toContain(`lockstep_replica_halted{replica="r1",reason="RECORD_UNDECODABLE"} 1`);
    await until(() => seqStats(c).halted_replicas.length > 0, WAIT_MS);
    expect(seqStats(c).halted_replicas).toEqual([{ id: "r1", seq: 2, reason: "RECORD_UNDECODABLE" }]);

    // Halted, it still serves what it applied.
    const feed = await Peer.open(c.feedUrl(first));
    expect(await feed.ask({ v, t: MsgType.SUB_BOOK, inst: 1 })).toMatchObject({ t: MsgType.BOOK_SNAPSHOT, inst: 1, seq: 1, bids: [[100, 5]], asks: [] });

    // Restarted on the same data: the same halt, not a crash, not a loop.
    await first.stop();
    const second = await c.addReplica("r1");
    await until(() => repStats(second).halted !== null || repStats(second).forked !== null, WAIT_MS);
    expect(repStats(second)).toMatchObject({ seq: 1, forked: null, halted: { seq: 2, reason: "RECORD_UNDECODABLE" } });
    await until(() => seqStats(c).halted_replicas.length > 0, WAIT_MS);
    expect(seqStats(c).halted_replicas).toEqual([{ id: "r1", seq: 2, reason: "RECORD_UNDECODABLE" }]);
  });
});

// ---- 2 --------------------------------------------------------------------------------------

describe("2. fake followers", () => {
  it("a STATUS beyond what was sent is refused, counted and closes the connection; it releases no replicas:1 ack", async () => {
    const c = await startCluster(0, { ack: { mode: "replicas", count: 1 } });
    const t = await TradingClient.connect(c.tradeUrl, 1, WAIT_MS);
    track(() => t.close());
    const acked = t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 });
    await until(() => c.sequencer.lastSeq === 1, WAIT_MS);

    const fake = await Peer.open(replicateUrl(c));
    fake.send({ v, t: MsgType.SUBSCRIBE, rid: "fake", from: 1, chain: GENESIS });
    expect(await fake.nextOf(MsgType.BATCH)).toMatchObject({ first: 1 });
    fake.send({ v, t: MsgType.STATUS, rid: "fake", seq: Number.MAX_SAFE_INTEGER, ck: 0, ckh: "" });
    expect(await fake.nextOf(MsgType.ERROR)).toMatchObject({ code: WireReason.OUT_OF_RANGE });
    await fake.closedWithin(WAIT_MS);
    expect(seqStats(c).status_refused).toBe(1);

    // The claim released nothing: no ack within 500 ms. A real replica then earns it.
    const early = await Promise.race([acked.then(() => "acked"), new Promise((r) => setTimeout(r, 500, "pending"))]);
    expect(early).toBe("pending");
    await c.addReplica("r1");
    expect(await within(acked, WAIT_MS, "ack once a real replica applied it")).toMatchObject({ seq: 1 });
  });

  it("STATUS before SUBSCRIBE is NOT_SUBSCRIBED; a client message type on /replicate is UNKNOWN_TYPE", async () => {
    const c = await startCluster(0);
    const early = await Peer.open(replicateUrl(c));
    expect(await early.ask({ v, t: MsgType.STATUS, rid: "early", seq: 0, ck: 0, ckh: "" })).toMatchObject({ t: MsgType.ERROR, code: WireReason.NOT_SUBSCRIBED });
    await early.closedWithin(WAIT_MS);
    const confused = await Peer.open(replicateUrl(c));
    expect(await confused.ask({ v, t: MsgType.NEW, cid: 1, inst: 1, side: 0, ord: 0, px: 100, qty: 1 })).toMatchObject({ t: MsgType.ERROR, code: WireReason.UNKNOWN_TYPE });
    await confused.closedWithin(WAIT_MS);
    expect(c.sequencer.lastSeq).toBe(0);
    expect(seqStats(c).replicas).toEqual([]);
  });
});

// ---- 3 --------------------------------------------------------------------------------------

describe("3. idle sockets", () => {
  const DEADLINE_MS = 300;
  /** The gate sweeps every deadline / 4; the rest is scheduling on a loaded machine. */
  const LATE_MS_MAX = DEADLINE_MS / 4 + 400;
  const expectClosedAtDeadline = (closed: { code: number; afterMs: number }): void => {
    expect(closed.code).toBe(CloseCode.LOGIN_DEADLINE);
    expect(closed.afterMs).toBeGreaterThanOrEqual(DEADLINE_MS - 100);
    expect(closed.afterMs).toBeLessThanOrEqual(DEADLINE_MS + LATE_MS_MAX);
  };

  it("/trade: connections that never send a frame are closed with 4002 at the login deadline", async () => {
    const c = await startCluster(0, { limits: { loginDeadlineMs: DEADLINE_MS, unauthenticatedMax: 4, connectionsMax: 2 } });
    const idle = await Promise.all([1, 2, 3].map(() => Peer.open(c.tradeUrl)));
    for (const closed of await Promise.all(idle.map((p) => p.closedWithin(DEADLINE_MS + LATE_MS_MAX + 1000)))) expectClosedAtDeadline(closed);
    expect(seqStats(c).waiting_to_log_in).toBe(0);
  });

  it("/trade: one connection more than unauthenticatedMax closes the longest waiting with 4013", async () => {
    const c = await startCluster(0, { limits: { loginDeadlineMs: 10_000, unauthenticatedMax: 4, connectionsMax: 2 } });
    const idle: Peer[] = [];
    for (let i = 0; i < 5; i++) idle.push(await Peer.open(c.tradeUrl));
    expect((await idle[0]!.closedWithin(WAIT_MS)).code).toBe(CloseCode.TOO_MANY_PENDING);
    expect(idle.slice(1).map((p) => p.open)).toEqual([true, true, true, true]);
    expect(seqStats(c).waiting_to_log_in).toBe(4);
    // The others still wait, and may log in.
    expect(await idle[1]!.ask({ v, t: MsgType.HELLO, acct: 1 })).toMatchObject({ t: MsgType.HELLO_OK });
    expect(seqStats(c).waiting_to_log_in).toBe(3);
  });

  it("/trade: idle strangers neither keep traders out nor count toward connectionsMax; the third trader is OVERLOADED", async () => {
    const c = await startCluster(0, { limits: { loginDeadlineMs: 10_000, unauthenticatedMax: 4, connectionsMax: 2 } });
    const strangers: Peer[] = [];
    for (let i = 0; i < 4; i++) strangers.push(await Peer.open(c.tradeUrl));
    const t1 = await TradingClient.connect(c.tradeUrl, 1, WAIT_MS);
    track(() => t1.close());
    expect(await t1.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 })).toMatchObject({ seq: 1 });
    const t2 = await TradingClient.connect(c.tradeUrl, 2, WAIT_MS);
    track(() => t2.close());
    expect(strangers.filter((s) => s.open).length).toBeGreaterThanOrEqual(2);
    const third = await TradingClient.connect(c.tradeUrl, 3, WAIT_MS).then(() => null, (e: unknown) => e);
    expect(third).toBeInstanceOf(LockstepError);
    expect((third as LockstepError).code).toBe(WireReason.OVERLOADED);
    expect(seqStats(c).logged_in).toBe(2);
    expect(await t2.submit({ instrument: 1, side: "sell", price: 101, quantity: 1 })).toMatchObject({ seq: 2 });
  });

  it("/feed: a connection that sends nothing is closed with 4002; one that subscribed stays open", async () => {
    const c = await startCluster(0);
    const r = await c.addReplica("r1", { loginDeadlineMs: DEADLINE_MS });
    const subscribed = await Peer.open(c.feedUrl(r));
    expect(await subscribed.ask({ v, t: MsgType.SUB_BOOK, inst: 1 })).toMatchObject({ t: MsgType.BOOK_SNAPSHOT });
    const idle = await Peer.open(c.feedUrl(r));
    expectClosedAtDeadline(await idle.closedWithin(DEADLINE_MS + LATE_MS_MAX + 1000));
    // Its deadline passed before the idle one's: still open, still answering.
    expect(await subscribed.ask({ v, t: MsgType.SUB_BOOK, inst: 1 })).toMatchObject({ t: MsgType.BOOK_SNAPSHOT });
    expect(subscribed.open).toBe(true);
  });

  it("/replicate: a connection that never subscribes is closed with 4002; a subscribed replica keeps replicating", async () => {
    const c = await startCluster(1, { limits: { loginDeadlineMs: DEADLINE_MS } });
    const idle = await Peer.open(replicateUrl(c));
    expectClosedAtDeadline(await idle.closedWithin(DEADLINE_MS + LATE_MS_MAX + 1000));
    const t = await TradingClient.connect(c.tradeUrl, 1, WAIT_MS);
    track(() => t.close());
    const ack = await t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 });
    await within(c.replicas[0]!.waitFor(ack.seq), WAIT_MS, "replica applies the order");
    expect(seqStats(c).replicas.map((x) => x.id)).toEqual(["r1"]);
  });
});

// ---- 4 --------------------------------------------------------------------------------------

/** The launcher as built in dist/: it runs bin/lockstep.js relative to its own file. */
async function launcher(): Promise<typeof Launcher> {
  return (await import(pathToFileURL(join(ROOT, "dist", "src", "cluster", "launcher.js")).href)) as typeof Launcher;
}

/** A client frame as a client must send it: binary, final, masked (fixed key: the test replays exactly). */
function maskedFrame(payload: Uint8Array): Buffer {
  expect(payload.length).toBeLessThan(126);
  const key = [0x1b, 0x2c, 0x3d, 0x4e];
  return Buffer.from([0x82, 0x80 | payload.length, ...key, ...payload.map((x, i) => x ^ key[i % 4]!)]);
}

/**
 * A client that completes the WebSocket handshake by hand, sends `frame`, then reads and
 * ignores everything: it answers neither the close frame nor the server's FIN (half-open).
 */
async function stubbornClient(port: number, path: string, frame: Uint8Array): Promise<Socket> {
  const s = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  track(() => s.destroy());
  s.on("error", () => undefined);
  await within(new Promise((ok) => s.once("connect", ok)), WAIT_MS, "tcp connect");
  s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let head = "";
  await within(new Promise<void>((ok) => {
    const onData = (d: Buffer): void => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      s.off("data", onData);
      ok();
    };
    s.on("data", onData);
  }), WAIT_MS, "upgrade");
  expect(head.startsWith("HTTP/1.1 101")).toBe(true);
  s.on("data", () => undefined);
  s.write(maskedFrame(frame));
  return s;
}

/** SIGTERM; resolves with how the process exited and how long it took (failing after `boundMs`). */
async function terminate(n: Launcher.NodeProcess, boundMs: number): Promise<{ code: number | null; signal: string | null; tookMs: number }> {
  const started = performance.now();
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => n.child.once("exit", (code, signal) => r({ code, signal })));
  n.child.kill("SIGTERM");
  const e = await within(exited, boundMs, `${n.name} exits after SIGTERM`);
  return { ...e, tookMs: performance.now() - started };
}

describe("4. stopping is stopping", () => {
  const EXIT_MS_MAX = 5_000;

  it("a sequencer process exits 0 within the bound after SIGTERM, with a client that never answers the close", async () => {
    const { spawnNode, killNode, getJson } = await launcher();
    const dir = tempDir("stop-seq");
    const node = await spawnNode("sequencer", ["sequencer", "--config", LOCAL_CONFIG, "--data", dir, "--port", "0"], dir);
    track(() => killNode(node));
    const port = Number(node.ready.port);
    await stubbornClient(port, "/trade", encode({ v, t: MsgType.HELLO, acct: 7 }));
    const polite = await Peer.open(String(node.ready.trade));
    expect(await polite.ask({ v, t: MsgType.HELLO, acct: 8 })).toMatchObject({ t: MsgType.HELLO_OK });
    const loggedIn = async (): Promise<number> => (await getJson<{ logged_in: number }>(String(node.ready.stats))).logged_in;
    const deadline = performance.now() + WAIT_MS;
    while ((await loggedIn()) < 2) if (performance.now() > deadline) throw new Error("the stubborn client never logged in");

    const exit = await terminate(node, EXIT_MS_MAX + 2_000);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.tookMs).toBeLessThan(EXIT_MS_MAX);
    expect((await polite.closedWithin(WAIT_MS)).code).toBe(CloseCode.GOING_AWAY);
  });

  it("a replica process exits 0 within the bound after SIGTERM, with a feed client that never answers the close", async () => {
    const c = await startCluster(0);
    const { spawnNode, killNode } = await launcher();
    const dir = tempDir("stop-replica");
    const node = await spawnNode("r1", ["replica", "--config", LOCAL_CONFIG, "--id", "r1", "--data", dir, "--sequencer", replicateUrl(c), "--port", "0"], dir);
    track(() => killNode(node));
    await until(() => seqStats(c).replicas.length === 1, WAIT_MS);
    await stubbornClient(Number(node.ready.port), "/feed", encode({ v, t: MsgType.SUB_BOOK, inst: 1 }));
    const polite = await Peer.open(String(node.ready.feed));
    expect(await polite.ask({ v, t: MsgType.SUB_BOOK, inst: 1 })).toMatchObject({ t: MsgType.BOOK_SNAPSHOT });

    const exit = await terminate(node, EXIT_MS_MAX + 2_000);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.tookMs).toBeLessThan(EXIT_MS_MAX);
    expect((await polite.closedWithin(WAIT_MS)).code).toBe(CloseCode.GOING_AWAY);
  });
});

// ---- 5 --------------------------------------------------------------------------------------

/** Runs `lockstep ARGS…` to completion, bounded; never throws on a non-zero exit. */
function lockstep(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: timeoutMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("5. lockstep start with an auth section", () => {
  const SECRETS = { LOCKSTEP_TB_TRADER: "trader-42-secret-0123456789", LOCKSTEP_TB_REPLICAS: "replica-secret-0123456789" };

  /** config/local.json plus auth: one client key, for account 42 (not one of 1..clients), and one replica key per replica. */
  function authConfig(): string {
    const cfg = JSON.parse(readFileSync(LOCAL_CONFIG, "utf8")) as { replicas: { id: string }[]; auth?: unknown };
    cfg.auth = {
      clientKeys: [{ keyId: "trader42", account: 42, secretEnv: "LOCKSTEP_TB_TRADER" }],
      replicaKeys: cfg.replicas.map((r) => ({ keyId: `rk-${r.id}`, secretEnv: "LOCKSTEP_TB_REPLICAS" })),
    };
    cfg.replicas = cfg.replicas.map((r) => ({ ...r, key: `rk-${r.id}` }));
    const file = join(tempDir("start-auth"), "auth.json");
    writeFileSync(file, JSON.stringify(cfg));
    return file;
  }
  const startArgs = (file: string): string[] => ["start", "--config", file, "--duration", "3", "--json", "--ephemeral", "--no-dashboard"];

  it("trades as the configured client key's account, and the replicas agree", async () => {
    const r = await lockstep(startArgs(authConfig()), { ...process.env, ...SECRETS }, 40_000);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { orders_acked: number; hashes_agree: boolean };
    expect(summary.orders_acked).toBeGreaterThan(0);
    expect(summary.hashes_agree).toBe(true);
  });

  it("a missing secret is a one-line user error, exit 1", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...SECRETS };
    delete env.LOCKSTEP_TB_TRADER;
    const r = await lockstep(startArgs(authConfig()), env, 20_000);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/^lockstep: /);
    expect(r.stderr).not.toMatch(/internal error/);
  });
});

// ---- 6 --------------------------------------------------------------------------------------

/**
 * Prices beyond 32 bits, so every message carrying them needs 64-bit integers (quantities stay
 * below 2^19: the engine refuses an instrument whose qtyMax × priceMax could pass 2^53 − 1).
 */
const BIG: InstrumentConfig = { id: 1, symbol: "BIG", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 2 ** 18, priceMin: 1, priceMax: 2 ** 34 };

describe("6. integers on the wire", () => {
  it("inbound: floats where integers belong are REJECTed with OUT_OF_RANGE naming the field", async () => {
    const c = await startCluster(0);
    const p = await Peer.open(c.tradeUrl);
    const hello = await p.ask(MP.map([["v", MP.uint(v)], ["t", MP.uint(MsgType.HELLO)], ["acct", MP.f64(1.0)]]));
    expect(hello).toMatchObject({ t: MsgType.REJECT, code: WireReason.OUT_OF_RANGE });
    expect(hello.msg).toMatch(/"acct"/);
    expect(await p.ask({ v, t: MsgType.HELLO, acct: 1 })).toMatchObject({ t: MsgType.HELLO_OK });
    const negZero = await p.ask(newOrderFrame(21, [["px", MP.uint(100)], ["qty", MP.f64(-0.0)]]));
    expect(negZero).toMatchObject({ t: MsgType.REJECT, cid: 21, code: WireReason.OUT_OF_RANGE });
    expect(negZero.msg).toMatch(/"qty"/);
    const float32 = await p.ask(newOrderFrame(22, [["qty", MP.uint(5)], ["px", MP.f32(100.0)]]));
    expect(float32).toMatchObject({ t: MsgType.REJECT, cid: 22, code: WireReason.OUT_OF_RANGE });
    expect(float32.msg).toMatch(/"px"/);
    expect(c.sequencer.lastSeq).toBe(0);
  });

  it("outbound: no float anywhere in any message type or record, and integers beyond 32 bits are uint64/int64", async () => {
    const c = await startCluster(0, { instruments: [BIG] });
    const r = await c.addReplica("r1", { instruments: [BIG] });
    const [seller, buyer] = [2 ** 33 + 1, 2 ** 34 + 3];
    const px = 2 ** 33 + 5;
    const qty = 2 ** 17 + 7;
    const cid = 2 ** 40;

    const sell = await trader(c, seller);
    const rested = await sell.ask({ v, t: MsgType.NEW, cid, inst: 1, side: 1, ord: 0, px, qty });
    expect(rested).toMatchObject({ t: MsgType.ACK, cid });
    await within(r.waitFor(rested.seq as number), WAIT_MS, "replica applies the sell");
    expect(await sell.ask({ v, t: MsgType.NEW, cid: cid + 1, inst: 99, side: 1, ord: 0, px, qty })).toMatchObject({ t: MsgType.REJECT, cid: cid + 1 });

    const feed = await Peer.open(c.feedUrl(r));
    expect(await feed.ask({ v, t: MsgType.SUB_BOOK, inst: 1 })).toMatchObject({ t: MsgType.BOOK_SNAPSHOT, asks: [[px, qty]] });
    expect(await feed.ask({ v, t: MsgType.SUB_REPORTS, acct: seller, from: 0 })).toMatchObject({ t: MsgType.REPORT, acct: seller, k: 0 });
    expect(await feed.ask({ v, t: MsgType.SUB_BOOK, inst: 99 })).toMatchObject({ t: MsgType.ERROR });

    const buy = await trader(c, buyer);
    expect(await buy.ask({ v, t: MsgType.NEW, cid: cid + 2, inst: 1, side: 0, ord: 0, px, qty })).toMatchObject({ t: MsgType.ACK, cid: cid + 2 });
    expect(await feed.nextOf(MsgType.TRADE)).toMatchObject({ px, qty });
    await feed.nextOf(MsgType.BOOK_UPDATE);
    expect(await feed.nextOf(MsgType.REPORT)).toMatchObject({ acct: seller, k: 2, qty });

    const follower = await Peer.open(replicateUrl(c));
    follower.send({ v, t: MsgType.SUBSCRIBE, rid: "walker", from: 1, chain: GENESIS });
    expect(await follower.nextOf(MsgType.BATCH)).toMatchObject({ first: 1 });
    follower.send({ v, t: MsgType.PING, t1: nowUs() });
    await follower.nextOf(MsgType.PONG);
    const stranger = await Peer.open(replicateUrl(c));
    expect(await stranger.ask({ v, t: MsgType.STATUS, rid: "x", seq: 0, ck: 0, ckh: "" })).toMatchObject({ t: MsgType.ERROR });

    // Every frame every peer received, read strictly.
    const frames = [sell, buy, feed, follower, stranger].flatMap((p) => p.received).map((f) => strictRead(f));
    const byType = new Map<number, { value: Record<string, unknown>; ints: IntAt[] }[]>();
    for (const f of frames) {
      const m = f.value as Record<string, unknown>;
      byType.set(m.t as number, [...(byType.get(m.t as number) ?? []), { value: m, ints: f.ints }]);
    }
    const T = MsgType;
    expect([...byType.keys()].sort((a, b) => a - b)).toEqual([T.HELLO_OK, T.ACK, T.REJECT, T.BATCH, T.ERROR, T.PONG, T.BOOK_SNAPSHOT, T.BOOK_UPDATE, T.REPORT, T.TRADE]);
    const U64 = 0xcf;
    // The smallest encoding that holds 2^17 + 7: uint32.
    const U32 = 0xce;
    const one = (t: number): { value: Record<string, unknown>; ints: IntAt[] } => byType.get(t)![0]!;
    expect(opsOf(one(T.HELLO_OK), "acct")).toEqual({ acct: U64 });
    for (const a of byType.get(T.ACK)!) expect(opsOf(a, "cid")).toEqual({ cid: U64 });
    expect(opsOf(one(T.REJECT), "cid")).toEqual({ cid: U64 });
    expect(opsOf(one(T.PONG), "t1", "t2", "t3")).toEqual({ t1: U64, t2: U64, t3: U64 });
    expect(opsOf(one(T.BOOK_SNAPSHOT), "asks.0.0", "asks.0.1")).toEqual({ "asks.0.0": U64, "asks.0.1": U32 });
    expect(opsOf(one(T.BOOK_UPDATE), "ch.0.1")).toEqual({ "ch.0.1": U64 });
    expect(opsOf(one(T.TRADE), "px", "qty")).toEqual({ px: U64, qty: U32 });
    for (const rep of byType.get(T.REPORT)!) expect(opsOf(rep, "acct")).toEqual({ acct: U64 });
    const fill = byType.get(T.REPORT)!.find((x) => x.value.k === 2)!;
    expect(opsOf(fill, "px", "qty")).toEqual({ px: U64, qty: U32 });

    // BATCH, and each record inside it: [seq, epoch, tsUs, account, 1, instrument, orderId, side, price, qty, …].
    const batches = byType.get(T.BATCH)!;
    for (const b of batches) expect(opsOf(b, "ts")).toEqual({ ts: U64 });
    const records = batches.flatMap((b) => b.value.recs as Uint8Array[]).map((rec) => strictRead(rec));
    expect(records.map((x) => (x.value as number[])[0])).toEqual([1, 2]);
    for (const rec of records) {
      expect((rec.value as number[])[2]).toBeGreaterThanOrEqual(TWO_32);
      expect(opsOf(rec, "2", "3", "8", "9")).toEqual({ 2: U64, 3: U64, 8: U64, 9: U32 });
    }
    // Whatever else is beyond 32 bits, anywhere, is a 64-bit integer too.
    for (const x of [...frames, ...records].flatMap((f) => f.ints)) if (Math.abs(x.value) >= TWO_32) expect([0xcf, 0xd3], x.path).toContain(x.op);
  });
});
