/**
 * The gateway (src/gateway/gateway.ts) in front of two groups in this process, each holding only
 * its own instruments, so an ACK proves the command reached the right shard. Through one
 * endpoint, with the SDK's unchanged TradingClient and FeedClient: commands route by instrument
 * and by the shard number in the order id; ids round-trip and are unique across shards; an
 * account's reports of both shards and the books of instruments on both arrive merged; the
 * kill switch reaches every shard and says so per shard; bad input gets its reason code; a newer
 * map moves routing and one that renumbers shards is refused; a client moves to another gateway
 * and resumes its reports per shard, losing and repeating none; logins are checked by the
 * gateway, which logs in to the shards with proofs of its own.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { FeedClient, LockstepError, TradingClient } from "../src/client/index.js";
import { spawnNode, stopNode } from "../src/cluster/launcher.js";
import type { InstrumentConfig } from "../src/engine/index.js";
import { Gateway, type GatewayOptions } from "../src/gateway/gateway.js";
import { gatewayOrderId, shardOrderOf } from "../src/gateway/ids.js";
import { LatencyProxy } from "../src/tools/netsim/proxy.js";
import { Authenticator } from "../src/protocol/auth.js";
import { decode, encode } from "../src/protocol/codec.js";
import { OCO_STOP_LEG_ID_OFFSET } from "../src/protocol/command.js";
import { MsgType, ReportKind, WireReason, type Ack, type Report, type TradeMsg } from "../src/protocol/messages.js";
import type { ShardMap } from "../src/shard/map.js";
import { TestCluster, until } from "./cluster-helpers.js";
import { client, lockstep, noStack } from "./lockstep-cli.js";

const silent = pino({ level: "silent" });
const inst = (id: number): InstrumentConfig => ({ id, symbol: `I${id}`, tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 });

async function group(instruments: readonly number[], over: Parameters<TestCluster["start"]>[1] = {}): Promise<TestCluster> {
  const c = new TestCluster();
  const insts = instruments.map(inst);
  await c.start(0, { instruments: insts, ...over });
  await c.addReplica("r1", { instruments: insts });
  return c;
}

const clusters: Record<"a" | "b", TestCluster> = {} as Record<"a" | "b", TestCluster>;
const entry = (id: "a" | "b", instruments: number[]) => ({
  id, weight: 1, endpoints: { trade: [clusters[id].tradeUrl], feed: [clusters[id].feedUrl(clusters[id].replicas[0]!)] }, instruments,
});
/** Shard a (number 0) holds 1 and 3, shard b (number 1) 2 and 4; version 2 moves 3 to b (b's group holds 3 too). */
const mapV1 = (): ShardMap => ({ version: 1, shards: [entry("a", [1, 3]), entry("b", [2, 4])], pins: {} });
const mapV2 = (): ShardMap => ({ version: 2, shards: [entry("a", [1]), entry("b", [2, 3, 4])], pins: {} });

const gateways: Gateway[] = [];
async function gateway(map: ShardMap, over: Partial<GatewayOptions> = {}): Promise<{ gw: Gateway; trade: string; feed: string }> {
  const gw = new Gateway({ host: "127.0.0.1", port: 0, map, log: silent, ...over });
  const port = await gw.start();
  gateways.push(gw);
  return { gw, trade: `ws://127.0.0.1:${port}/trade`, feed: `ws://127.0.0.1:${port}/feed` };
}

beforeAll(async () => {
  clusters.a = await group([1, 3]);
  clusters.b = await group([2, 3, 4]);
});
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  clusters.a?.stop();
  clusters.b?.stop();
});

/** A raw WebSocket to a gateway endpoint: send maps, read the next frames decoded. */
async function raw(url: string): Promise<{ send: (m: object | Uint8Array) => void; next: () => Promise<Record<string, unknown>>; closed: Promise<number>; ws: WebSocket }> {
  const ws = new WebSocket(url);
  ws.binaryType = "nodebuffer";
  const queue: Record<string, unknown>[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  ws.on("message", (d: Buffer) => {
    const m = decode(d) as Record<string, unknown>;
    const w = waiters.shift();
    if (w !== undefined) w(m);
    else queue.push(m);
  });
  const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
  await new Promise((r, j) => { ws.once("open", r); ws.once("error", j); });
  return {
    ws, closed,
    send: (m) => ws.send(m instanceof Uint8Array ? m : encode({ v: 1, ...m })),
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
  };
}

async function refused(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LockstepError) return err.code;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("gateway: trading through one endpoint", () => {
  it("routes by instrument; ids carry the shard and round-trip; cancel, modify and client order ids reach the order's shard", async () => {
    const { trade } = await gateway(mapV1());
    const t = await TradingClient.connect(trade, 1);
    try {
      const onA = await t.submit({ instrument: 1, side: "buy", price: 100, quantity: 5, clientOrderId: "g1" });
      const onB = await t.submit({ instrument: 2, side: "buy", price: 100, quantity: 5, clientOrderId: "g1" });
      expect([onA.sh, onB.sh]).toEqual([0, 1]);
      expect(clusters.a.sequencer.lastSeq).toBe(onA.seq);
      expect(clusters.b.sequencer.lastSeq).toBe(onB.seq);
      expect(shardOrderOf(onA.oid)).toEqual({ shard: 0, raw: onA.seq });
      expect(shardOrderOf(onB.oid)).toEqual({ shard: 1, raw: onB.seq });
      expect(onA.oid).not.toBe(onB.oid);
      const oco = await t.submit({ instrument: 4, side: "sell", type: "oco", price: 300, stopPrice: 50, quantity: 1 });
      expect(shardOrderOf(oco.oid2!)).toEqual({ shard: 1, raw: oco.seq + OCO_STOP_LEG_ID_OFFSET });

      const modified = await t.modify(onB.oid, 101, 4);
      expect([modified.sh, modified.oid]).toEqual([1, onB.oid]);
      expect(clusters.b.sequencer.lastSeq).toBe(modified.seq);
      const byCoid = await t.cancel({ clientOrderId: "g1" });
      // The client order id was last sent to shard b: the gateway remembers the newest.
      expect([byCoid.sh, byCoid.oid]).toEqual([1, 0]);
      const byId = await t.cancel(onA.oid);
      expect(byId.sh).toBe(0);
      expect(clusters.a.sequencer.lastSeq).toBe(byId.seq);
      expect((await t.cancel(oco.oid2!)).sh).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("a cancel or modify by client order id with its instrument routes alike on every gateway; without it, a gateway that never saw the NEW refuses UNROUTABLE", async () => {
    const [first, second] = [await gateway(mapV1()), await gateway(mapV1())];
    const [t1, t2] = [await TradingClient.connect(first.trade, 13), await TradingClient.connect(second.trade, 13)];
    try {
      const placed = await t1.submit({ instrument: 2, side: "buy", price: 100, quantity: 5, clientOrderId: "other-gw" });
      expect(placed.sh).toBe(1);
      const unroutable = await refused(t2.cancel({ clientOrderId: "other-gw" }));
      expect(unroutable).toBe(WireReason.UNROUTABLE);
      const modified = await t2.modify({ clientOrderId: "other-gw", instrument: 2 }, 101, 4);
      expect(modified.sh).toBe(1);
      expect(clusters.b.sequencer.lastSeq).toBe(modified.seq);
      const cancelled = await t2.cancel({ clientOrderId: "other-gw", instrument: 2 });
      expect([cancelled.sh, cancelled.oid]).toEqual([1, 0]);
      expect(clusters.b.sequencer.lastSeq).toBe(cancelled.seq);
      // The instrument routes, whatever this gateway remembers: instrument 1 is on shard a.
      expect((await t1.cancel({ clientOrderId: "other-gw", instrument: 1 })).sh).toBe(0);
      // An instrument no shard holds is refused as for a NEW; with an oid it does not apply.
      expect(await refused(t2.cancel({ clientOrderId: "other-gw", instrument: 99 }))).toBe(WireReason.UNKNOWN_INSTRUMENT);
    } finally {
      await Promise.all([t1.close(), t2.close()]);
    }
  });

  it("merges an account's reports from both shards (ids mapped, each with its shard) and serves books and trades of instruments on both", async () => {
    const { trade, feed } = await gateway(mapV1());
    const reports: Report[] = [];
    const trades: TradeMsg[] = [];
    const f = new FeedClient({ urls: [feed], account: 2, instrument: 2, onReport: (r) => reports.push(r), onTrade: (x) => trades.push(x) });
    const book1 = new FeedClient({ urls: [feed], instrument: 1 });
    await Promise.all([f.connect(), book1.connect()]);
    const t = await TradingClient.connect(trade, 2);
    try {
      const a = await t.submit({ instrument: 1, side: "sell", price: 120, quantity: 3 });
      const b = await t.submit({ instrument: 2, side: "sell", price: 110, quantity: 3 });
      const taker = await t.submit({ instrument: 2, side: "buy", price: 110, quantity: 1, selfTradePrevention: "none" });
      await Promise.all([f.caughtUp(a.seq, 5_000, 0), f.caughtUp(taker.seq, 5_000, 1)]);
      const accepted = reports.filter((r) => r.k === ReportKind.ACCEPTED);
      expect(accepted.map((r) => [r.sh, r.oid])).toEqual(expect.arrayContaining([[0, a.oid], [1, b.oid], [1, taker.oid]]));
      const fills = reports.filter((r) => r.k === ReportKind.FILL);
      expect(fills.map((r) => r.oid).sort()).toEqual([b.oid, taker.oid].sort());
      await until(() => trades.length > 0 && f.book.seq >= taker.seq && book1.book.seq >= 1, 5_000);
      expect(trades[0]).toMatchObject({ inst: 2, px: 110, qty: 1, seq: taker.seq });
      expect(f.book.top().asks).toEqual([[110, 2]]);
      expect(book1.book.top().asks).toEqual([[120, 3]]);
      expect(f.duplicatesDropped).toBe(0);
    } finally {
      f.close();
      book1.close();
      await t.close();
    }
  });

  it("the kill switch reaches every shard: one ACK listing each shard's seq, and each shard's cancels and KILL_DONE on the feed", async () => {
    const { trade, feed } = await gateway(mapV1());
    const reports: Report[] = [];
    const f = new FeedClient({ urls: [feed], account: 3, onReport: (r) => reports.push(r) });
    await f.connect();
    const t = await TradingClient.connect(trade, 3);
    try {
      const orders = [await t.submit({ instrument: 1, side: "buy", price: 10, quantity: 1 }), await t.submit({ instrument: 4, side: "buy", price: 10, quantity: 1 })];
      const kill = await t.cancelAll();
      expect(kill.shards!.map((s) => [s.sh, s.id])).toEqual([[0, "a"], [1, "b"]]);
      for (const s of kill.shards!) {
        expect(s.seq).toBeGreaterThan(0);
        await f.caughtUp(s.seq!, 5_000, s.sh);
      }
      expect(reports.filter((r) => r.k === ReportKind.KILL_DONE).map((r) => [r.sh, r.cnt]).sort()).toEqual([[0, 1], [1, 1]]);
      expect(reports.filter((r) => r.k === ReportKind.CANCELLED).map((r) => r.oid).sort()).toEqual(orders.map((o) => o.oid).sort());
    } finally {
      f.close();
      await t.close();
    }
  });

  it("a newer map routes new commands by it; an older one is ignored; one that puts another shard at a shard's position is refused", async () => {
    const { gw, trade } = await gateway(mapV1());
    const t = await TradingClient.connect(trade, 4);
    try {
      expect((await t.submit({ instrument: 3, side: "buy", price: 100, quantity: 1 })).sh).toBe(0);
      expect(gw.setMap(mapV2())).toEqual({ ok: true });
      const moved = await t.submit({ instrument: 3, side: "buy", price: 100, quantity: 1 });
      expect(moved.sh).toBe(1);
      expect(clusters.b.sequencer.lastSeq).toBe(moved.seq);
      expect(gw.setMap(mapV1()).ok).toBe(false);
      const swapped = { ...mapV2(), version: 3, shards: [...mapV2().shards].reverse() };
      const r = gw.setMap(swapped);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.why).toContain("shards may only be appended or removed from the end");
      expect((await t.submit({ instrument: 3, side: "buy", price: 100, quantity: 1 })).sh).toBe(1);
      expect(gw.stats().map_refusals).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("after a map change a book follows its instrument to its new shard, and INSTRUMENTS lists each instrument from the shard that holds it", async () => {
    const { gw, trade, feed } = await gateway(mapV1());
    const book3 = new FeedClient({ urls: [feed], instrument: 3 });
    await book3.connect();
    const t = await TradingClient.connect(trade, 13);
    try {
      const onA = await t.submit({ instrument: 3, side: "sell", price: 700, quantity: 1 });
      await until(() => book3.book.seq >= onA.seq, 5_000);
      expect(book3.book.top().asks).toEqual([[700, 1]]);
      expect(gw.setMap(mapV2()).ok).toBe(true);
      const onB = await t.submit({ instrument: 3, side: "sell", price: 800, quantity: 2 });
      expect(onB.sh).toBe(1);
      // Shard b's book of instrument 3: its snapshot, then its update; shard a's resting order is not in it.
      await until(() => book3.book.asks.has(800), 5_000);
      expect(book3.book.top().asks).toEqual([[800, 2]]);
      let listed: number[] = [];
      const refs = new FeedClient({ urls: [feed], onInstruments: (l) => { listed = l.map((i) => i.id); } });
      await refs.connect();
      await until(() => listed.length > 0, 5_000);
      refs.close();
      expect(listed).toEqual([1, 2, 3, 4]);
    } finally {
      book3.close();
      await t.close();
    }
  });
});

describe("gateway: bad input and limits", () => {
  it("refuses with the reason code and a plain message, keeps the connection and goes on serving", async () => {
    const { trade } = await gateway(mapV1());
    const c = await raw(trade);
    c.send({ t: MsgType.NEW, cid: 1, inst: 1, side: 0, ord: 0, qty: 1, px: 100 });
    expect(await c.next()).toMatchObject({ t: MsgType.REJECT, cid: 1, code: WireReason.NOT_LOGGED_IN });
    c.send(new Uint8Array([0xc1, 0x00]));
    expect(await c.next()).toMatchObject({ t: MsgType.REJECT, code: WireReason.MALFORMED });
    c.send({ t: MsgType.HELLO, acct: 5 });
    expect(await c.next()).toMatchObject({ t: MsgType.HELLO_OK, acct: 5 });
    const cases: [object, number, RegExp][] = [
      [{ t: MsgType.NEW, cid: 2, inst: 9, side: 0, ord: 0, qty: 1, px: 100 }, WireReason.UNKNOWN_INSTRUMENT, /no instrument 9/],
      [{ t: MsgType.CANCEL, cid: 3, oid: gatewayOrderId(5, 1)! }, WireReason.UNROUTABLE, /names shard number 5, which shard map version 1 does not have/],
      [{ t: MsgType.CANCEL, cid: 4, coid: "never-sent" }, WireReason.UNROUTABLE, /does not know which shard holds client order id "never-sent"/],
      [{ t: MsgType.NEW, cid: 5, inst: 1, side: 0, ord: 1, qty: 1, tif: 1 }, WireReason.FIELD_NOT_APPLICABLE, /tif/],
      [{ t: MsgType.NEW, cid: 6, inst: 1, side: 0, ord: 0, qty: 1, px: 1.5 }, WireReason.OUT_OF_RANGE, /px/],
      [{ t: MsgType.KILL, cid: 7, x: 1 }, WireReason.UNKNOWN_FIELD, /"x"/],
      [{ t: MsgType.HELLO, acct: 5 }, WireReason.ALREADY_LOGGED_IN, /already/],
    ];
    for (const [m, code, text] of cases) {
      c.send(m);
      const r = await c.next();
      expect(r, JSON.stringify(m)).toMatchObject({ t: MsgType.REJECT, code });
      expect(String(r.msg)).toMatch(text);
    }
    c.send(encode({ v: 1, t: MsgType.KILL, cid: 8, pad: "x".repeat(5_000) }));
    expect(await c.next()).toMatchObject({ code: WireReason.FRAME_TOO_LARGE });
    c.send({ t: MsgType.NEW, cid: 9, inst: 1, side: 0, ord: 0, qty: 1, px: 100 });
    expect(await c.next()).toMatchObject({ t: MsgType.ACK, cid: 9, sh: 0 });
    c.ws.close();

    const fd = await raw(trade.replace("/trade", "/feed"));
    fd.send({ t: MsgType.SUB_REPORTS, acct: 5, from: 0, sh: 7 });
    expect(await fd.next()).toMatchObject({ t: MsgType.ERROR, code: WireReason.UNROUTABLE });
    fd.send({ t: MsgType.SUB_REPORTS, acct: 5, from: 0, sh: 64 });
    expect(await fd.next()).toMatchObject({ t: MsgType.ERROR, code: WireReason.OUT_OF_RANGE });
    fd.send({ t: MsgType.SUB_BOOK, inst: 9 });
    expect(await fd.next()).toMatchObject({ t: MsgType.ERROR, code: WireReason.UNKNOWN_INSTRUMENT });
    fd.ws.close();
  });

  it("a shard with no reachable leader: its commands are refused SHARD_UNAVAILABLE, the kill switch says so for that shard, the other shard trades on", async () => {
    const dead = { id: "c", weight: 1, endpoints: { trade: ["ws://127.0.0.1:1/trade"], feed: ["ws://127.0.0.1:1/feed"] }, instruments: [7] };
    const { trade } = await gateway({ ...mapV1(), shards: [...mapV1().shards, dead] });
    const t = await TradingClient.connect(trade, 6);
    try {
      expect(await refused(t.submit({ instrument: 7, side: "buy", price: 100, quantity: 1 }))).toBe(WireReason.SHARD_UNAVAILABLE);
      // Within the backoff the gateway does not even try: refused at once, saying when to retry.
      const again = await t.submit({ instrument: 7, side: "buy", price: 100, quantity: 1 }).catch((e: Error) => e.message);
      expect(again).toMatch(/SHARD_UNAVAILABLE: shard "c": (no leader reached lately; retry in \d+ ms|.*127\.0\.0\.1:1)/);
      expect((await t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 })).sh).toBe(0);
      const kill = await t.cancelAll();
      expect(kill.shards!.map((s) => [s.id, s.seq === undefined ? s.code : "acked"])).toEqual([["a", "acked"], ["b", "acked"], ["c", WireReason.SHARD_UNAVAILABLE]]);
    } finally {
      await t.close();
    }
  });

  it("a trade URL that does not answer is passed over for the shard's next one, as the SDK does", async () => {
    const v1 = mapV1();
    const first = { ...v1.shards[0]!, endpoints: { ...v1.shards[0]!.endpoints, trade: ["ws://127.0.0.1:1/trade", clusters.a.tradeUrl] } };
    const { trade } = await gateway({ ...v1, shards: [first, v1.shards[1]!] });
    const t = await TradingClient.connect(trade, 17);
    try {
      const a = await t.submit({ instrument: 1, side: "buy", price: 30, quantity: 1 });
      expect(a.sh).toBe(0);
      expect(clusters.a.sequencer.lastSeq).toBe(a.seq);
    } finally {
      await t.close();
    }
  });

  it("a leader's link that goes silent (no FIN, no RST) is dropped within shardSilenceMsMax, and the client with a command in flight on it is closed (4020)", async () => {
    const proxy = LatencyProxy.passThrough(clusters.a.sequencer.port, 1);
    try {
      const v1 = mapV1();
      const viaProxy = { ...v1.shards[0]!, endpoints: { ...v1.shards[0]!.endpoints, trade: [`ws://127.0.0.1:${await proxy.listen()}/trade`] } };
      const { gw, trade } = await gateway({ ...v1, shards: [viaProxy, v1.shards[1]!] }, { limits: { shardSilenceMsMax: 400 } });
      const c = await raw(trade);
      c.send({ t: MsgType.HELLO, acct: 18 });
      await c.next();
      c.send({ t: MsgType.NEW, cid: 1, inst: 1, side: 0, ord: 0, qty: 1, px: 30 });
      expect(await c.next()).toMatchObject({ t: MsgType.ACK, cid: 1, sh: 0 });
      proxy.fault({ down: "blackhole" });
      const cutAt = performance.now();
      c.send({ t: MsgType.NEW, cid: 2, inst: 1, side: 0, ord: 0, qty: 1, px: 31 });
      expect(await c.closed).toBe(4020);
      expect(performance.now() - cutAt).toBeLessThan(400 * 1.25 + 1_000);
      expect(gw.stats().links_lost).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it("commands in flight per connection are bounded: beyond pendingCommandsMax they are refused OVERLOADED, the rest acked", async () => {
    const { trade } = await gateway(mapV1(), { limits: { pendingCommandsMax: 3 } });
    const t = await TradingClient.connect(trade, 7);
    try {
      const all = await Promise.allSettled(Array.from({ length: 20 }, (_, k) => t.submit({ instrument: 1 + (k % 2), side: "buy", price: 50, quantity: 1 })));
      const codes = all.map((r) => (r.status === "fulfilled" ? "ack" : (r.reason as LockstepError).code));
      expect(codes.slice(0, 3)).toEqual(["ack", "ack", "ack"]);
      expect(new Set(codes.slice(3))).toEqual(new Set([WireReason.OVERLOADED]));
      expect((await t.submit({ instrument: 1, side: "buy", price: 50, quantity: 1 })).sh).toBe(0);
    } finally {
      await t.close();
    }
  });
});

describe("gateway: connection limits", () => {
  it("logged-in connections are capped: one more is refused OVERLOADED and closed (1013)", async () => {
    const { trade } = await gateway(mapV1(), { limits: { connectionsMax: 1 } });
    const first = await TradingClient.connect(trade, 14);
    try {
      const second = await raw(trade);
      second.send({ t: MsgType.HELLO, acct: 15 });
      expect(await second.next()).toMatchObject({ t: MsgType.REJECT, code: WireReason.OVERLOADED });
      expect(await second.closed).toBe(1013);
    } finally {
      await first.close();
    }
  });

  it("a client that stops reading is closed as a slow consumer (4001) once more than clientBufferBytesMax waits for it", async () => {
    const { gw, trade, feed } = await gateway(mapV1(), { limits: { clientBufferBytesMax: 64 << 10 } });
    const t = await TradingClient.connect(trade, 16);
    // A book of 300 levels makes each snapshot a few kilobytes.
    await Promise.all(Array.from({ length: 300 }, (_, k) => t.submit({ instrument: 1, side: "sell", price: 1000 + k, quantity: 1 })));
    await t.close();
    const reader = await raw(feed);
    (reader.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    // Asks for a snapshot again and again without reading one: bounded, and far more than the limit plus the kernel's buffers.
    for (let i = 0; i < 4_000 && gw.stats().slow_consumers === 0; i++) {
      reader.send({ t: MsgType.SUB_BOOK, inst: 1 });
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    await until(() => gw.stats().slow_consumers === 1, 10_000);
    (reader.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await reader.closed).toBe(4001);
  });
});

describe("gateway: moving between gateways", () => {
  it("a client whose gateway stops reconnects to another: its order ids still name its orders, and its reports resume per shard, none lost or repeated", async () => {
    const one = await gateway(mapV1());
    const two = await gateway(mapV1());
    const reports: Report[] = [];
    const f = new FeedClient({ urls: [one.feed, two.feed], account: 8, onReport: (r) => reports.push(r) });
    await f.connect();
    let t = await TradingClient.connect(one.trade, 8);
    const before = [await t.submit({ instrument: 1, side: "buy", price: 20, quantity: 1 }), await t.submit({ instrument: 2, side: "buy", price: 20, quantity: 1 })];
    for (const a of before) await f.caughtUp(a.seq, 5_000, a.sh);
    await one.gw.stop();
    await t.closed;
    t = await TradingClient.connect(two.trade, 8);
    try {
      const cancels = [await t.cancel(before[0]!.oid), await t.cancel(before[1]!.oid)];
      const after = await t.submit({ instrument: 4, side: "buy", price: 20, quantity: 1 });
      for (const a of [...cancels, after]) await f.caughtUp(a.seq, 5_000, a.sh);
      const cancelled = reports.filter((r) => r.k === ReportKind.CANCELLED).map((r) => r.oid);
      expect(cancelled.sort()).toEqual(before.map((a) => a.oid).sort());
      expect(reports.some((r) => r.k === ReportKind.ACCEPTED && r.oid === after.oid)).toBe(true);
      const keys = reports.map((r) => `${r.sh}/${r.seq}/${r.n}`);
      expect(new Set(keys).size).toBe(keys.length);
      // Every command of account 8 produced exactly the reports it should: 2 accepted, 2 cancelled, 1 accepted.
      expect(reports.map((r) => r.k).sort()).toEqual([ReportKind.ACCEPTED, ReportKind.ACCEPTED, ReportKind.ACCEPTED, ReportKind.CANCELLED, ReportKind.CANCELLED]);
    } finally {
      f.close();
      await t.close();
    }
  });
});

describe("gateway: authentication", () => {
  const secret = "gw-test-secret-0123456789";
  process.env.LOCKSTEP_TEST_GW_KEY = secret;
  const keys = [{ keyId: "k9", account: 9, secretEnv: "LOCKSTEP_TEST_GW_KEY" }];
  const credentials = { keyId: "k9", secret };
  let secured: TestCluster;
  beforeAll(async () => {
    const replicaKeys = [{ keyId: "rk", account: 0, secretEnv: "LOCKSTEP_TEST_GW_KEY" }];
    const auth = () => ({ clients: new Authenticator(keys, 30_000_000), replicas: new Authenticator(replicaKeys, 30_000_000) });
    secured = new TestCluster();
    await secured.start(0, { instruments: [inst(1)], auth: auth() });
    await secured.addReplica("r1", { instruments: [inst(1)], auth: auth().clients, credentials: { keyId: "rk", secret } });
  });
  afterAll(() => secured?.stop());
  const securedMap = (): ShardMap => ({ version: 1, shards: [{ id: "s", weight: 1, endpoints: { trade: [secured.tradeUrl], feed: [secured.feedUrl(secured.replicas[0]!)] }, instruments: [1] }], pins: {} });

  it("checks the proof itself and logs in to the shard with a proof of its own; refuses a bad one and reports to a stranger", async () => {
    const { trade, feed } = await gateway(securedMap(), { auth: { clients: new Authenticator(keys, 30_000_000), secrets: new Map([["k9", secret]]) } });
    expect(await refused(TradingClient.connect(trade, 9, 5_000, { keyId: "k9", secret: "not-the-secret-000000" }))).toBe(WireReason.NOT_AUTHENTICATED);
    expect(await refused(TradingClient.connect(trade, 9, 5_000))).toBe(WireReason.NOT_AUTHENTICATED);
    const stranger = await raw(feed);
    stranger.send({ t: MsgType.SUB_REPORTS, acct: 9, from: 0 });
    expect(await stranger.next()).toMatchObject({ t: MsgType.ERROR, code: WireReason.NOT_AUTHENTICATED });
    stranger.ws.close();
    const reports: Report[] = [];
    const f = new FeedClient({ urls: [feed], account: 9, credentials, onReport: (r) => reports.push(r) });
    await f.connect();
    const t = await TradingClient.connect(trade, 9, 5_000, credentials);
    try {
      const a: Ack = await t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 });
      expect(a.sh).toBe(0);
      await f.caughtUp(a.seq, 5_000, 0);
      expect(reports.map((r) => [r.k, r.oid])).toEqual([[ReportKind.ACCEPTED, a.oid]]);
    } finally {
      f.close();
      await t.close();
    }
  });

  it("a gateway without the keys cannot trade on a shard that requires them: the shard refuses its login, and the command is refused NOT_AUTHENTICATED", async () => {
    const { trade } = await gateway(securedMap());
    const t = await TradingClient.connect(trade, 9);
    try {
      expect(await refused(t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 }))).toBe(WireReason.NOT_AUTHENTICATED);
      expect(secured.sequencer.lastSeq).toBe(1);
    } finally {
      await t.close();
    }
  });
});

describe("lockstep gateway", () => {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-gateway-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves a map file; `lockstep client --trade --feed` pointed at it trades, reads its book and reports, and its kill switch cancels the order", async () => {
    const file = join(dir, "map.json");
    writeFileSync(file, JSON.stringify(mapV1()));
    const gw = await spawnNode("gateway", ["gateway", "--shard-map", file, "--port", "0"], dir);
    try {
      expect(gw.ready).toMatchObject({ role: "gateway", map_version: 1 });
      const r = await client(["--trade", String(gw.ready.trade), "--feed", String(gw.ready.feed), "--account", "12", "--instrument", "4"], "buy 2 @ 100 id c1\nbook\nkill\nquit\n");
      expect(r.code).toBe(0);
      const ack = /ack seq=(\d+) order=(\d+)/.exec(r.out);
      expect(shardOrderOf(Number(ack![2]))).toEqual({ shard: 1, raw: Number(ack![1]) });
      // Other tests leave orders on instrument 4 below 100; this session's is the best bid.
      expect(r.out).toMatch(/book seq=\d+ bids=\[\[100,2\]/);
      expect(r.out).toContain(`report seq=${ack![1]} accepted order=${ack![2]} coid=c1`);
      expect(r.out).toMatch(new RegExp(`report seq=\\d+ cancelled order=${ack![2]} coid=c1`));
    } finally {
      await stopNode(gw);
    }
  });

  it("`lockstep client` cancels by client order id through a gateway other than the one that took the order: it sends the session's instrument", async () => {
    const file = join(dir, "map-two.json");
    writeFileSync(file, JSON.stringify(mapV1()));
    const [one, two] = [await spawnNode("gateway-one", ["gateway", "--shard-map", file, "--port", "0"], dir), await spawnNode("gateway-two", ["gateway", "--shard-map", file, "--port", "0"], dir)];
    try {
      const placed = await client(["--trade", String(one.ready.trade), "--account", "14", "--instrument", "2"], "buy 2 @ 97 id elsewhere\nquit\n");
      expect(placed.code).toBe(0);
      const order = /ack seq=\d+ order=(\d+)/.exec(placed.out)![1];
      const r = await client(["--trade", String(two.ready.trade), "--feed", String(two.ready.feed), "--account", "14", "--instrument", "2"], "cancel id elsewhere\nquit\n");
      expect(r.code).toBe(0);
      expect(r.out).not.toMatch(/UNROUTABLE/);
      expect(r.out).toMatch(new RegExp(`report seq=\\d+ cancelled order=${order} coid=elsewhere`));
    } finally {
      await Promise.all([stopNode(one), stopNode(two)]);
    }
  });

  it("--config with an auth section: the gateway checks logins with its client keys; a secret it cannot read is one line, exit 1", async () => {
    const local = JSON.parse(readFileSync(join(import.meta.dirname, "..", "config", "local.json"), "utf8")) as Record<string, unknown> & { replicas: object[] };
    const key = (keyId: string, account: number) => ({ keyId, account, secretEnv: "LOCKSTEP_TEST_GW_CLI_KEY" });
    const cfg = { ...local, auth: { clientKeys: [key("k20", 20)], replicaKeys: [key("rk", 0)] }, replicas: local.replicas.map((r) => ({ ...r, key: "rk" })) };
    const cfgFile = join(dir, "auth.json");
    writeFileSync(cfgFile, JSON.stringify(cfg));
    const file = join(dir, "map-auth.json");
    writeFileSync(file, JSON.stringify(mapV1()));
    const secret = "gw-cli-secret-0123456789";
    const gw = await spawnNode("gateway-auth", ["gateway", "--shard-map", file, "--port", "0", "--config", cfgFile], dir, { env: { LOCKSTEP_TEST_GW_CLI_KEY: secret } });
    try {
      expect(await refused(TradingClient.connect(String(gw.ready.trade), 20, 5_000))).toBe(WireReason.NOT_AUTHENTICATED);
      const t = await TradingClient.connect(String(gw.ready.trade), 20, 5_000, { keyId: "k20", secret });
      // The shards have no auth: the proof the gateway makes for them is ignored there, and the order goes in.
      expect((await t.submit({ instrument: 2, side: "buy", price: 40, quantity: 1 })).sh).toBe(1);
      await t.close();
    } finally {
      await stopNode(gw);
    }
    const missing = await lockstep("gateway", "--shard-map", file, "--config", cfgFile);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("LOCKSTEP_TEST_GW_CLI_KEY");
    noStack(missing.stderr);
  });

  it("needs exactly one map source; a file that is not a map is one line, exit 1, no stack", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ version: 1, shards: [] }));
    const [none, both, invalid] = await Promise.all([
      lockstep("gateway", "--port", "0"),
      lockstep("gateway", "--shard-map", bad, "--shards-etcd", "http://127.0.0.1:1"),
      lockstep("gateway", "--shard-map", bad),
    ]);
    expect([none.code, both.code, invalid.code]).toEqual([2, 2, 1]);
    expect(none.stderr).toContain("gateway needs one of --shard-map FILE or --shards-etcd URL");
    expect(invalid.stderr).toContain("is not a valid shard map: shards:");
    for (const x of [none, both, invalid]) noStack(x.stderr);
  });
});
