/**
 * Bad input never crashes a node or changes state. Against a live sequencer and replica on
 * loopback: malformed MessagePack, unknown type, wrong version, missing and out-of-range fields,
 * an oversize frame, an unknown instrument and orders before HELLO each get a REJECT with
 * their reason code and are not sequenced; cancels of unknown and foreign orders are
 * sequenced, and the engine answers them with a REJECTED report (UNKNOWN_ORDER, NOT_OWNER)
 * while every replica's state hash stays the same. The node keeps serving throughout.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { FeedClient, LockstepError, TradingClient } from "../src/client/index.js";
import { Reason } from "../src/engine/index.js";
import { encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WireReason, type Report } from "../src/protocol/messages.js";
import { TestCluster } from "./cluster-helpers.js";

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});

const v = PROTOCOL_VERSION;
const order = { v, t: MsgType.NEW, cid: 0, inst: 1, side: 0, ord: 0, px: 100, qty: 1 };

describe("bad input", () => {
  it("each malformed frame gets its reason code, nothing is sequenced, the node keeps serving", async () => {
    cluster = new TestCluster();
    await cluster.start(1);
    const c = await TradingClient.connect(cluster.tradeUrl, 1);
    await c.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 });
    const seqBefore = cluster.sequencer.lastSeq;
    const hashBefore = cluster.replicas[0]!.stateHash();
    const cases: [string, Uint8Array, WireReason][] = [
      ["not MessagePack", Buffer.from([0xc1, 0xff, 0x00]), WireReason.MALFORMED],
      ["not a map", encode([1, 2, 3]), WireReason.MALFORMED],
      ["unknown type", encode({ ...order, t: 77 }), WireReason.UNKNOWN_TYPE],
      ["wrong version", encode({ ...order, v: 9 }), WireReason.BAD_VERSION],
      ["missing qty", encode({ ...order, qty: undefined }), WireReason.MISSING_FIELD],
      ["negative price", encode({ ...order, px: -5 }), WireReason.OUT_OF_RANGE],
      ["float qty", encode({ ...order, qty: 0.5 }), WireReason.OUT_OF_RANGE],
      ["huge id", encode({ v, t: MsgType.CANCEL, cid: 0, oid: 2 ** 60 }), WireReason.OUT_OF_RANGE],
      ["unknown instrument", encode({ ...order, inst: 42 }), WireReason.UNKNOWN_INSTRUMENT],
      ["oversize frame", encode({ ...order, pad: "x".repeat(10_000) }), WireReason.FRAME_TOO_LARGE],
      ["second HELLO", encode({ v, t: MsgType.HELLO, acct: 2 }), WireReason.ALREADY_LOGGED_IN],
    ];
    for (const [name, bytes, code] of cases) {
      const err = await c.sendRaw(bytes).then(() => null, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(LockstepError);
      expect((err as LockstepError).code, name).toBe(code);
    }
    expect(cluster.sequencer.lastSeq).toBe(seqBefore);
    const rejects = (cluster.sequencer.stats() as { rejects: Record<string, number> }).rejects;
    expect(rejects.MALFORMED).toBe(2);
    expect(rejects.FRAME_TOO_LARGE).toBe(1);

    // An order before HELLO on a fresh connection.
    const raw = new WebSocket(cluster.tradeUrl);
    raw.binaryType = "nodebuffer";
    await new Promise((r) => raw.once("open", r));
    const reply = new Promise<Buffer>((r) => raw.once("message", r));
    raw.send(encode({ ...order, cid: 5 }));
    const { decode } = await import("../src/protocol/codec.js");
    expect(decode(await reply)).toMatchObject({ t: MsgType.REJECT, cid: 5, code: WireReason.NOT_LOGGED_IN });
    raw.close();

    // Still serving: a valid order is acked and applied; the earlier state was untouched.
    expect(cluster.replicas[0]!.stateHash()).toBe(hashBefore);
    const ack = await c.submit({ instrument: 1, side: "buy", price: 99, quantity: 1 });
    expect(ack.seq).toBe(seqBefore + 1);
    await c.close();
  });

  it("cancels of unknown and foreign orders are refused by the engine, with reports, and change no state", async () => {
    cluster = new TestCluster();
    await cluster.start(2);
    const reports: Report[] = [];
    const feed = new FeedClient({ urls: [cluster.feedUrl(cluster.replicas[0]!)], account: 2, onReport: (r) => reports.push(r) });
    await feed.connect();
    const owner = await TradingClient.connect(cluster.tradeUrl, 1);
    const other = await TradingClient.connect(cluster.tradeUrl, 2);
    const placed = await owner.submit({ instrument: 1, side: "sell", price: 105, quantity: 4 });
    await Promise.all(cluster.replicas.map((r) => r.waitFor(placed.seq)));
    const hashes = cluster.replicas.map((r) => r.stateHash());
    const foreign = await other.cancel(placed.oid);
    const unknown = await other.cancel(999_999);
    const foreignModify = await other.modify(placed.oid, 104, 1);
    await Promise.all(cluster.replicas.map((r) => r.waitFor(foreignModify.seq)));
    expect(cluster.replicas.map((r) => r.stateHash())).toEqual(hashes);
    const rejected = (): Report[] => reports.filter((r) => r.k === 1);
    await new Promise<void>((resolve) => { const check = (): void => { if (rejected().length === 3) resolve(); else setImmediate(check); }; check(); });
    expect(rejected().map((r) => [r.seq, r.code])).toEqual([[foreign.seq, Reason.NOT_OWNER], [unknown.seq, Reason.UNKNOWN_ORDER], [foreignModify.seq, Reason.NOT_OWNER]]);
    for (const r of cluster.replicas) expect((r.stats() as { engine_rejects: object }).engine_rejects).toEqual({ NOT_OWNER: 2, UNKNOWN_ORDER: 1 });
    await owner.close();
    await other.close();
    feed.close();
  });
});

describe("kill switch", () => {
  it("KILL cancels every live order of the account on every replica, reported with reason KILL", async () => {
    cluster = new TestCluster();
    await cluster.start(2);
    const reports: Report[] = [];
    const feed = new FeedClient({ urls: [cluster.feedUrl(cluster.replicas[0]!)], account: 4, onReport: (r) => reports.push(r) });
    await feed.connect();
    const t = await TradingClient.connect(cluster.tradeUrl, 4);
    const other = await TradingClient.connect(cluster.tradeUrl, 5);
    for (const px of [90, 91, 92]) await t.submit({ instrument: 1, side: "buy", price: px, quantity: 1 });
    await other.submit({ instrument: 1, side: "buy", price: 93, quantity: 1 });
    const kill = await t.cancelAll();
    await Promise.all(cluster.replicas.map((r) => r.waitFor(kill.seq)));
    await feed.caughtUp(kill.seq);
    // Three CANCELLED (reason 3, kill switch), then KILL_DONE with the count; numbered for this account, the last marked.
    expect(reports.filter((r) => r.seq === kill.seq).map((r) => [r.k, r.code, r.n, r.last === true])).toEqual([[3, 3, 0, false], [3, 3, 1, false], [3, 3, 2, false], [7, undefined, 3, true]]);
    expect(reports.find((r) => r.seq === kill.seq && r.k === 7)).toMatchObject({ oid: 0, cnt: 3 });
    // With nothing left to cancel the kill switch still answers, with a count of 0.
    const again = await t.cancelAll();
    await feed.caughtUp(again.seq);
    expect(reports.filter((r) => r.seq === again.seq)).toEqual([expect.objectContaining({ k: 7, n: 0, last: true, cnt: 0 })]);
    expect(new Set(cluster.replicas.map((r) => r.stateHash())).size).toBe(1);
    feed.close();
    await t.close();
    await other.close();
  });
});

describe("bad input on a replica's feed", () => {
  it("bad subscriptions get an ERROR with their code, are counted, and the feed keeps serving", async () => {
    cluster = new TestCluster();
    await cluster.start(1);
    const { decode } = await import("../src/protocol/codec.js");
    const ws = new WebSocket(cluster.feedUrl(cluster.replicas[0]!));
    ws.binaryType = "nodebuffer";
    await new Promise((r) => ws.once("open", r));
    const ask = async (bytes: Uint8Array): Promise<Record<string, unknown>> => {
      const reply = new Promise<Buffer>((r) => ws.once("message", r));
      ws.send(bytes);
      return decode(await reply) as Record<string, unknown>;
    };
    expect(await ask(Buffer.from([0xc1]))).toMatchObject({ t: MsgType.ERROR, code: WireReason.MALFORMED });
    expect(await ask(encode({ v, t: MsgType.SUB_BOOK, inst: 99 }))).toMatchObject({ t: MsgType.ERROR, code: WireReason.UNKNOWN_INSTRUMENT });
    expect(await ask(encode({ v, t: MsgType.SUB_REPORTS, acct: -1, from: 0 }))).toMatchObject({ t: MsgType.ERROR, code: WireReason.OUT_OF_RANGE });
    expect(await ask(encode({ v, t: MsgType.SUB_BOOK, inst: 1 }))).toMatchObject({ t: MsgType.BOOK_SNAPSHOT, inst: 1 });
    expect((cluster.replicas[0]!.stats() as { feed_rejects: object }).feed_rejects).toEqual({ MALFORMED: 1, UNKNOWN_INSTRUMENT: 1, OUT_OF_RANGE: 1 });
    ws.close();
  });
});
