/**
 * Reference data and the REST reads of a replica (docs/protocol.md, "REST"), against a real
 * sequencer and replicas on loopback. It proves: INSTRUMENTS on /feed and GET /v1/instruments
 * give every instrument's reference data, and the feed refuses a malformed request; a book
 * taken from REST in the middle of traffic, plus the feed's deltas after its seq, reproduces
 * every later checksum of the feed and ends equal to the book REST gives at the end; trades
 * come newest last, bounded by `limit` and by the replica's ring, equal to the feed's TRADEs;
 * an account's open orders are what its execution reports say, and two replicas answer the
 * same; with authentication the orders need a fresh signature for that account; and every bad
 * input (unknown symbol or path, bad %-escapes, bad or repeated parameters, a huge query,
 * missing or bad headers) gets the documented status and JSON error, never a crash.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { LocalBook, orderFromDecimal, RestClient, RestError, TradingClient, FeedClient, levelsToDecimal } from "../src/client/index.js";
import { runTraffic } from "../src/client/traffic.js";
import { OrderStatus } from "../src/engine/index.js";
import { Authenticator, proveRequest } from "../src/protocol/auth.js";
import { bookChecksum } from "../src/protocol/checksum.js";
import { decode, encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, ReportKind, WIRE_REASON_NAME, WireReason, type BookUpdate, type Report, type TradeMsg } from "../src/protocol/messages.js";
import { instrumentRef, type InstrumentSpec } from "../src/protocol/reference.js";
import { RestHeader, RestLimits, type BookResponse, type OrdersResponse, type TradesResponse } from "../src/protocol/rest.js";
import type { Replica } from "../src/replica/replica.js";
import { TestCluster, until } from "./cluster-helpers.js";

/** Prices in cents and quantities in 10^-4 of the base, as a real venue states them. */
const SPECS: InstrumentSpec[] = [
  { id: 1, symbol: "BTC-USD", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 100_000_000, priceScale: 2, qtyScale: 4 },
  { id: 2, symbol: "ETH-USD", tickSize: 5, lotSize: 10, qtyMin: 10, qtyMax: 1_000_000, priceMin: 5, priceMax: 10_000_000, priceScale: 2, qtyScale: 3 },
];

process.env.LOCKSTEP_TEST_REST_K1 = "rest-k1-secret-0123456789";
const K1 = { keyId: "rk1", secret: process.env.LOCKSTEP_TEST_REST_K1 };
const SKEW_US = 30_000_000;

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});

async function startCluster(replicas: number, over: Parameters<TestCluster["addReplica"]>[1] = {}): Promise<TestCluster> {
  const c = (cluster = new TestCluster());
  await c.start(0, { instruments: SPECS });
  for (let i = 1; i <= replicas; i++) await c.addReplica(`r${i}`, { instruments: SPECS, ...over });
  return c;
}

const base = (r: Replica): string => `http://127.0.0.1:${r.port}`;

interface Got { status: number; type: string | null; body: Record<string, unknown> }
async function get(r: Replica, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Got> {
  const res = await fetch(`${base(r)}${path}`, { method, headers });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), body: JSON.parse(text) as Record<string, unknown> };
}

/** A raw /feed connection that keeps every frame it receives. */
async function rawFeed(r: Replica): Promise<{ ws: WebSocket; frames: Record<string, unknown>[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${r.port}/feed`, { perMessageDeflate: false });
  const frames: Record<string, unknown>[] = [];
  ws.on("message", (d: Buffer) => frames.push(decode(d) as Record<string, unknown>));
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  return { ws, frames };
}

function signedHeaders(account: number, nowUs = Date.now() * 1000, key = K1): Record<string, string> {
  const p = proveRequest(key.keyId, key.secret, account, nowUs, "GET", "/v1/orders");
  return { [RestHeader.account]: String(account), [RestHeader.key]: p.key, [RestHeader.ts]: String(p.ts), [RestHeader.nonce]: p.nonce, [RestHeader.signature]: Buffer.from(p.sig).toString("hex") };
}

describe("reference data", () => {
  it("INSTRUMENTS on /feed and GET /v1/instruments list every instrument; a malformed INSTRUMENTS is refused", async () => {
    const c = await startCluster(1);
    const r = c.replicas[0]!;
    const want = SPECS.map(instrumentRef);
    expect(want[0]).toMatchObject({ symbol: "BTC-USD", tickSize: "0.01", lotSize: "0.0001", priceMax: "1000000", qtyMax: "100" });
    const feed = await rawFeed(r);
    feed.ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.INSTRUMENTS }));
    feed.ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.INSTRUMENTS, inst: 1 }));
    await until(() => feed.frames.length === 2);
    expect(feed.frames[0]).toEqual({ v: PROTOCOL_VERSION, t: MsgType.INSTRUMENTS, insts: want });
    expect(feed.frames[1]).toMatchObject({ t: MsgType.ERROR, code: WireReason.UNKNOWN_FIELD });
    feed.ws.close();

    const rest = await get(r, "/v1/instruments");
    expect(rest).toEqual({ status: 200, type: "application/json", body: { instruments: want } });
    expect(await new RestClient({ urls: [base(r)] }).instruments()).toEqual(want);

    const fromFeed = await new Promise<unknown>((resolve) => {
      const f = new FeedClient({ urls: [`ws://127.0.0.1:${r.port}/feed`], onInstruments: (list) => { f.close(); resolve(list); } });
      void f.connect();
    });
    expect(fromFeed).toEqual(want);
  });

  it("the SDK turns decimal strings into exact wire units and back", () => {
    const btc = instrumentRef(SPECS[0]!);
    expect(orderFromDecimal(btc, { side: "buy", price: "64250.17", quantity: "0.0150" })).toMatchObject({ instrument: 1, price: 6_425_017, quantity: 150 });
    expect(() => orderFromDecimal(btc, { side: "buy", price: "0.001", quantity: "1" })).toThrow(/decimal places/);
    expect(levelsToDecimal(btc, [[6_425_017, 150]])).toEqual([["64250.17", "0.015"]]);
  });
});

describe("REST book and trades", () => {
  it("a REST book taken mid-traffic plus the feed's deltas after its seq reproduces every later checksum", async () => {
    const c = await startCluster(1, { tradesRecentMax: 50 });
    const r = c.replicas[0]!;
    const feed = await rawFeed(r);
    feed.ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUB_BOOK, inst: 1 }));
    await until(() => feed.frames.length === 1);
    const traders = await Promise.all([1, 2].map((a) => TradingClient.connect(c.tradeUrl, a)));
    const traffic = Promise.all(traders.map((t, i) => runTraffic(t, { instrument: 1, commands: 3_000, seed: 40 + i, windowMax: 32, mid: 10_000 })));
    await until(() => r.appliedSeq >= 1_500);
    const mid = (await get(r, `/v1/book/BTC-USD?depth=${RestLimits.bookDepthLevelsMax}`)).body as unknown as BookResponse;
    await traffic;
    // A last order that surely changes the book: once the feed has its update, it has them all.
    const sentinel = await traders[0]!.submit({ instrument: 1, side: "buy", price: 1, quantity: 1 });
    const updates = (): BookUpdate[] => feed.frames.filter((f) => f.t === MsgType.BOOK_UPDATE) as unknown as BookUpdate[];
    await until(() => updates().at(-1)?.seq === sentinel.seq);
    const end = (await get(r, `/v1/book/BTC-USD?depth=${RestLimits.bookDepthLevelsMax}`)).body as unknown as BookResponse;

    expect(mid.seq).toBeGreaterThanOrEqual(1_500);
    expect(mid.seq).toBeLessThan(end.seq);
    expect(end.seq).toBe(sentinel.seq);
    expect(mid.checksum).toBe(bookChecksum(mid.bids, mid.asks));
    // The feed's own checksum at the REST seq, when that command changed the book, is the same number.
    const at = updates().find((u) => u.seq === mid.seq);
    if (at !== undefined) expect(at.cs).toBe(mid.checksum);
    const book = new LocalBook();
    book.reset({ v: 1, t: MsgType.BOOK_SNAPSHOT, inst: 1, seq: mid.seq, bids: mid.bids, asks: mid.asks, cs: mid.checksum });
    let applied = 0;
    for (const u of updates()) {
      if (u.seq <= book.seq) continue;
      book.apply(u);
      expect(book.checksum(), `checksum after seq ${u.seq}`).toBe(u.cs);
      applied++;
    }
    // One update per batch that changed the book (net changes), so fewer than the commands.
    expect(applied).toBeGreaterThan(10);
    expect(book.top()).toEqual({ bids: end.bids, asks: end.asks });
    expect(end.checksum).toBe(book.checksum());

    // Trades: newest last, `limit` of them, the ring's 50 at most, equal to the feed's TRADEs (with the sequencer stamp).
    const feedTrades = feed.frames.filter((f) => f.t === MsgType.TRADE) as unknown as TradeMsg[];
    expect(feedTrades.length).toBeGreaterThan(50);
    const asRest = feedTrades.map((t) => ({ seq: t.seq, tid: t.tid, px: t.px, qty: t.qty, side: t.side === 0 ? "buy" : "sell", ts: t.ts }));
    const five = (await get(r, "/v1/trades/BTC-USD?limit=5")).body as unknown as TradesResponse;
    expect(five).toEqual({ symbol: "BTC-USD", instrument: 1, seq: r.appliedSeq, trades: asRest.slice(-5) });
    expect(five.trades[0]!.ts).toBeGreaterThan(1_600_000_000_000_000);
    const all = await new RestClient({ urls: [base(r)] }).trades("BTC-USD", RestLimits.tradesLimitMax);
    expect(all.trades).toEqual(asRest.slice(-50));
    expect((await get(r, "/v1/trades/ETH-USD")).body).toEqual({ symbol: "ETH-USD", instrument: 2, seq: r.appliedSeq, trades: [] });
    expect(((await get(r, "/v1/book/BTC-USD?depth=3")).body as unknown as BookResponse).bids).toEqual(end.bids.slice(0, 3));
    for (const t of traders) await t.close();
    feed.ws.close();
  });
});

/** Live orders as an account's execution reports describe them (REJECTED reports change nothing). */
function liveFromReports(reports: Report[]): Map<number, { px: number; left: number; cum: number; ntl: number; st: number; coid: string | null }> {
  const live = new Map<number, { px: number; left: number; cum: number; ntl: number; st: number; coid: string | null }>();
  for (const r of reports) {
    if (r.st === undefined || r.k === ReportKind.REJECTED) continue;
    const was = live.get(r.oid);
    const px = r.k === ReportKind.ACCEPTED || r.k === ReportKind.MODIFIED ? r.px! : was?.px ?? 0;
    if (r.st === OrderStatus.NEW || r.st === OrderStatus.PARTIALLY_FILLED || r.st === OrderStatus.PENDING_TRIGGER) {
      live.set(r.oid, { px, left: r.left!, cum: r.cum!, ntl: r.ntl!, st: r.st, coid: r.coid ?? null });
    } else live.delete(r.oid);
  }
  return live;
}

describe("REST open orders", () => {
  it("are what the account's execution reports say, on every replica alike", async () => {
    const c = await startCluster(2);
    const [r1, r2] = c.replicas as [Replica, Replica];
    const reports = new Map<number, Report[]>([[1, []], [2, []]]);
    const feeds = [1, 2].map((a) => new FeedClient({ urls: [c.feedUrl(r1)], account: a, onReport: (rep) => reports.get(a)!.push(rep) }));
    await Promise.all(feeds.map((f) => f.connect()));
    const traders = await Promise.all([1, 2].map((a) => TradingClient.connect(c.tradeUrl, a)));
    const results = await Promise.all(traders.map((t, i) => runTraffic(t, { instrument: 1, commands: 2_000, seed: 70 + i, windowMax: 32, mid: 10_000 })));
    // A stop, an OCO pair with a client order id, a post-only IOC-free limit on the other instrument.
    const eth = instrumentRef(SPECS[1]!);
    await traders[0]!.submit({ instrument: 1, side: "buy", type: "stop", stopPrice: 20_000, price: 20_100, quantity: 7, timeInForce: "IOC" });
    await traders[0]!.submit({ instrument: 1, side: "sell", type: "oco", price: 30_000, stopPrice: 100, quantity: 4, clientOrderId: "pair-1" });
    const last = await traders[0]!.submit(orderFromDecimal(eth, { side: "buy", price: "12.35", quantity: "0.5", postOnly: true, clientOrderId: "eth-1" }));
    const lastSeq = Math.max(last.seq, ...results.map((x) => x.lastSeq));
    await Promise.all([r1.waitFor(lastSeq), r2.waitFor(lastSeq), feeds[0]!.caughtUp(last.seq), feeds[1]!.caughtUp(results[1]!.lastSeq)]);

    for (const account of [1, 2]) {
      const got = (await get(r1, "/v1/orders", { [RestHeader.account]: String(account) })).body as unknown as OrdersResponse;
      expect(got.account).toBe(account);
      expect(got.seq).toBe(lastSeq);
      const want = liveFromReports(reports.get(account)!);
      expect(got.orders.length).toBeGreaterThan(10);
      expect(got.orders.map((o) => o.oid)).toEqual([...want.keys()].sort((a, b) => a - b));
      for (const o of got.orders) {
        const w = want.get(o.oid)!;
        expect({ px: o.px, left: o.left, cum: o.cum, ntl: o.ntl, coid: o.coid, qty: o.qty }, `order ${o.oid}`).toEqual({ px: w.px, left: w.left, cum: w.cum, ntl: w.ntl, coid: w.coid, qty: w.cum + w.left });
        expect(o.status).toBe({ [OrderStatus.NEW]: "NEW", [OrderStatus.PARTIALLY_FILLED]: "PARTIALLY_FILLED", [OrderStatus.PENDING_TRIGGER]: "PENDING_TRIGGER" }[w.st]);
      }
      // Any replica answers the same at the same seq.
      expect((await get(r2, "/v1/orders", { [RestHeader.account]: String(account) })).body).toEqual(got);
    }
    const mine = (await new RestClient({ urls: [base(r2)], account: 1 }).openOrders()).orders;
    const stop = mine.find((o) => o.type === "stop-limit" && o.coid === null && o.stopPx === 20_000)!;
    expect(stop).toMatchObject({ side: "buy", px: 20_100, qty: 7, left: 7, status: "PENDING_TRIGGER", tif: "IOC", peer: null, symbol: "BTC-USD" });
    const legs = mine.filter((o) => o.coid === "pair-1");
    expect(legs.map((o) => [o.type, o.peer])).toEqual([["limit", legs[1]!.oid], ["stop-market", legs[0]!.oid]]);
    expect(mine.find((o) => o.oid === last.oid)).toMatchObject({ oid: last.oid, instrument: 2, symbol: "ETH-USD", px: 1235, qty: 500, postOnly: true, tif: "GTC", stopPx: null, coid: "eth-1" });
    expect((await get(r1, "/v1/orders", { [RestHeader.account]: "99" })).body).toEqual({ account: 99, seq: lastSeq, orders: [] });
    for (const t of traders) await t.close();
    feeds.forEach((f) => f.close());
  });

  it("with authentication, need a fresh signature by the account's own key", async () => {
    const auth = new Authenticator([{ keyId: "rk1", account: 1, secretEnv: "LOCKSTEP_TEST_REST_K1" }], SKEW_US);
    const c = await startCluster(1, { auth });
    const r = c.replicas[0]!;
    const t = await TradingClient.connect(c.tradeUrl, 1);
    const a = await t.submit({ instrument: 1, side: "sell", price: 10_500, quantity: 3 });
    await r.waitFor(a.seq);

    const good = signedHeaders(1);
    expect((await get(r, "/v1/orders", good)).body).toMatchObject({ account: 1, orders: [{ oid: a.oid, left: 3 }] });
    const refused = async (headers: Record<string, string>, why: RegExp): Promise<void> => {
      const g = await get(r, "/v1/orders", headers);
      expect(g.status, JSON.stringify(headers)).toBe(401);
      expect(g.body).toMatchObject({ code: WireReason.NOT_AUTHENTICATED, reason: "NOT_AUTHENTICATED" });
      expect(g.body.message).toMatch(why);
    };
    await refused(good, /nonce already used/);
    await refused({ [RestHeader.account]: "1" }, /headers .* are required/);
    const fresh = signedHeaders(1);
    await refused({ ...fresh, [RestHeader.signature]: "00".repeat(32) }, /bad signature/);
    await refused({ ...signedHeaders(1), [RestHeader.signature]: "xyz" }, /64 hex digits/);
    await refused({ ...signedHeaders(1), [RestHeader.account]: "2" }, /not for that account/);
    await refused(signedHeaders(1, Date.now() * 1000 - 2 * SKEW_US), /outside the accepted window/);
    await refused({ ...signedHeaders(1), [RestHeader.ts]: "soon" }, /µs since the epoch/);
    await refused({ ...signedHeaders(1), [RestHeader.nonce]: "has:colon" }, /base64url/);
    // A login proof (HELLO's signature) does not sign a request.
    const { sign } = await import("../src/protocol/auth.js");
    const ts = Date.now() * 1000;
    await refused({ ...fresh, [RestHeader.ts]: String(ts), [RestHeader.nonce]: "login-nonce", [RestHeader.signature]: sign("rk1", K1.secret, 1, ts, "login-nonce").toString("hex") }, /bad signature/);

    const sdk = new RestClient({ urls: [base(r)], account: 1, credentials: K1 });
    expect((await sdk.openOrders()).orders.map((o) => o.oid)).toEqual([a.oid]);
    expect((await sdk.openOrders()).orders.map((o) => o.oid)).toEqual([a.oid]);
    await expect(new RestClient({ urls: [base(r)], account: 1 }).openOrders()).rejects.toMatchObject({ name: "RestError", status: 401, code: WireReason.NOT_AUTHENTICATED });
    // Public reads stay public.
    expect((await get(r, "/v1/book/BTC-USD")).body).toMatchObject({ asks: [[10_500, 3]] });
    await t.close();
  });
});

describe("REST bad input", () => {
  it("gets the documented status and JSON error for every bad request, and the replica keeps serving", async () => {
    const c = await startCluster(1);
    const r = c.replicas[0]!;
    const A = { [RestHeader.account]: "1" };
    const cases: [path: string, headers: Record<string, string>, status: number, code: number, method?: string][] = [
      ["/v1/book/NOPE", {}, 404, WireReason.UNKNOWN_INSTRUMENT],
      ["/v1/trades/btc-usd", {}, 404, WireReason.UNKNOWN_INSTRUMENT],
      ["/v1/book/%E2%82%AC", {}, 404, WireReason.UNKNOWN_INSTRUMENT],
      ["/v1/book/%zz", {}, 400, WireReason.MALFORMED],
      ["/v1/book/%C0%AF", {}, 400, WireReason.MALFORMED],
      [`/v1/book/${"X".repeat(5_000)}`, {}, 404, WireReason.UNKNOWN_INSTRUMENT],
      ["/v1/book/", {}, 404, WireReason.NOT_FOUND],
      ["/v1/book", {}, 404, WireReason.NOT_FOUND],
      ["/v1/book/BTC-USD/x", {}, 404, WireReason.NOT_FOUND],
      ["/v1/trades/", {}, 404, WireReason.NOT_FOUND],
      ["/v1/nothing", {}, 404, WireReason.NOT_FOUND],
      ["/", {}, 404, WireReason.NOT_FOUND],
      ["/v1/instruments", {}, 404, WireReason.NOT_FOUND, "POST"],
      ["/v1/instruments", {}, 404, WireReason.NOT_FOUND, "DELETE"],
      ["/v1/instruments?x=1", {}, 400, WireReason.UNKNOWN_FIELD],
      ...["0", "-1", "abc", "1.5", "1e3", "", "+5", "0x10", "01", String(RestLimits.bookDepthLevelsMax + 1), "9".repeat(40)].map((d) => [`/v1/book/BTC-USD?depth=${d}`, {}, 400, WireReason.OUT_OF_RANGE] as [string, Record<string, string>, number, number]),
      ["/v1/book/BTC-USD?depth=5&depth=6", {}, 400, WireReason.MALFORMED],
      ["/v1/book/BTC-USD?depth=%zz", {}, 400, WireReason.MALFORMED],
      ["/v1/book/BTC-USD?limit=5", {}, 400, WireReason.UNKNOWN_FIELD],
      [`/v1/book/BTC-USD?depth=${"1".repeat(300)}`, {}, 400, WireReason.OUT_OF_RANGE],
      [`/v1/book/BTC-USD?depth=1&${"a=b&".repeat(700)}`, {}, 400, WireReason.OUT_OF_RANGE],
      ["/v1/trades/BTC-USD?limit=0", {}, 400, WireReason.OUT_OF_RANGE],
      [`/v1/trades/BTC-USD?limit=${RestLimits.tradesLimitMax + 1}`, {}, 400, WireReason.OUT_OF_RANGE],
      ["/v1/orders", {}, 400, WireReason.MISSING_FIELD],
      ...["0", "abc", "1.5", "-3", "9007199254740993", "1, 2"].map((a) => ["/v1/orders", { [RestHeader.account]: a }, 400, WireReason.OUT_OF_RANGE] as [string, Record<string, string>, number, number]),
      ["/v1/orders?account=1", A, 400, WireReason.UNKNOWN_FIELD],
    ];
    for (const [path, headers, status, code, method] of cases) {
      const what = `${method ?? "GET"} ${path.slice(0, 60)} ${JSON.stringify(headers)}`;
      const g = await get(r, path, headers, method).catch((err: Error) => { throw new Error(`${what}: ${err.message}`, { cause: err }); });
      expect(g.status, what).toBe(status);
      expect(g.type, what).toBe("application/json");
      expect(Object.keys(g.body).sort(), what).toEqual(["code", "message", "reason"]);
      expect(g.body.code, what).toBe(code);
      expect(g.body.reason, what).toBe(WIRE_REASON_NAME[code as WireReason]);
      expect(String(g.body.message).length, what).toBeGreaterThan(10);
      expect(String(g.body.message), what).not.toMatch(/ at .*\.(js|ts):\d+/);
    }
    // A request head beyond what uWebSockets.js buffers (4 KiB when it does not arrive in one read)
    // may be cut by the HTTP layer before the replica sees it; either way the replica serves on.
    for (const path of [`/v1/book/BTC-USD?depth=1&${"a=b&".repeat(20_000)}`, `/v1/book/${"%".repeat(60_000)}`]) {
      const g = await get(r, path).catch((err: Error) => ({ status: 0, type: null, body: { closed: (err.cause as NodeJS.ErrnoException | undefined)?.code } }));
      if (g.status !== 0) expect(g.status).toBe(400);
      else expect(g.body).toEqual({ closed: "ECONNRESET" });
    }
    // %-escapes of a real symbol's characters name it.
    expect((await get(r, "/v1/book/%42TC-USD")).body).toMatchObject({ symbol: "BTC-USD" });
    expect((await get(r, "/v1/book/BTC-USD?")).status).toBe(200);
    expect((await get(r, "/v1/instruments")).status).toBe(200);
    await expect(new RestClient({ urls: [base(r)] }).book("NOPE")).rejects.toBeInstanceOf(RestError);
    await expect(new RestClient({ urls: [base(r)] }).book("BTC-USD", 0)).rejects.toMatchObject({ code: WireReason.OUT_OF_RANGE });
    // A replica that is not there is skipped for the next.
    expect((await new RestClient({ urls: ["http://127.0.0.1:1", base(r)] }).instruments()).length).toBe(2);
    const stats = r.stats();
    expect(stats.rest_rejects.NOT_FOUND).toBeGreaterThanOrEqual(8);
    expect(stats.rest_rejects.OUT_OF_RANGE).toBeGreaterThanOrEqual(10);
  });
});
