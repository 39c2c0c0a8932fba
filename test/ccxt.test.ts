/**
 * The CCXT-shaped adapter (src/client/ccxt.ts, docs/ccxt.md) against a real sequencer and
 * replica on loopback, on instruments with decimal scales (BTC-USD: cents and 10^-4 BTC). It
 * proves: markets carry the reference data; createOrder (limit and market, clientOrderId,
 * post-only) resolves with CCXT's order structure once the engine has decided, and
 * fetchOpenOrders lists exactly what is open; editOrder and cancelOrder take effect;
 * watchOrders sees an order go 'open' → 'closed' with filled, remaining, cost and average
 * exact; watchMyTrades and watchTrades deliver the fills and the public trades; watchOrderBook,
 * kept from the feed through traffic with every checksum verified, equals fetchOrderBook at the
 * same seq; bad input raises CCXT's error classes by name with the reason; the number policy
 * converts through the shortest decimal text and never rounds an order; and the example bot
 * runs against a cluster as a child process, places quotes and gets filled.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ccxt, TradingClient } from "../src/client/index.js";
import { averageDecimal, plainDecimal, RoundingMode, toStep } from "../src/client/ccxt-numbers.js";
import { runTraffic } from "../src/client/traffic.js";
import { instrumentRef, type InstrumentSpec } from "../src/protocol/reference.js";
import { TestCluster } from "./cluster-helpers.js";

const SPECS: InstrumentSpec[] = [
  { id: 1, symbol: "BTC-USD", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 100_000_000, priceScale: 2, qtyScale: 4 },
  { id: 2, symbol: "ETH-USD", tickSize: 5, lotSize: 10, qtyMin: 10, qtyMax: 1_000_000, priceMin: 5, priceMax: 10_000_000, priceScale: 2, qtyScale: 3 },
];
const BTC = "BTC/USD";
const ROOT = join(import.meta.dirname, "..");

let cluster: TestCluster | null = null;
const opened: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
  cluster?.stop();
  cluster = null;
});

async function startCluster(): Promise<TestCluster> {
  const c = (cluster = new TestCluster());
  await c.start(0, { instruments: SPECS });
  await c.addReplica("r1", { instruments: SPECS });
  return c;
}

function exchangeFor(c: TestCluster, account: number): ccxt.LockstepExchange {
  const r = c.replicas[0]!;
  const x = new ccxt.LockstepExchange({ trade: c.tradeUrl, feeds: [c.feedUrl(r)], rest: [`http://127.0.0.1:${r.port}`], account, timeoutMs: 5_000 });
  opened.push(x);
  return x;
}

async function trader(c: TestCluster, account: number): Promise<TradingClient> {
  const t = await TradingClient.connect(c.tradeUrl, account);
  opened.push(t);
  return t;
}

/** Calls `watch` until `done` holds for what it has collected; bounded by the caller's test timeout. */
async function collect<T>(watch: () => Promise<T[]>, done: (all: T[]) => boolean): Promise<T[]> {
  const all: T[] = [];
  while (!done(all)) all.push(...(await watch()));
  return all;
}

describe("number policy", () => {
  it("reads numbers through their shortest decimal text, exactly, and rounds only when asked", () => {
    expect(plainDecimal(0.1)).toBe("0.1");
    expect(plainDecimal(1e-7)).toBe("0.0000001");
    expect(plainDecimal(1.5e21)).toBe("1500000000000000000000");
    expect(plainDecimal(0.1 + 0.2)).toBe("0.30000000000000004");
    expect(toStep(63999.985000000004, 2, 1, RoundingMode.ROUND, "price")).toBe("63999.99");
    expect(toStep("100.07", 2, 5, RoundingMode.ROUND, "price")).toBe("100.05");
    expect(toStep("100.08", 2, 5, RoundingMode.ROUND, "price")).toBe("100.1");
    expect(toStep(0.00019, 4, 1, RoundingMode.TRUNCATE, "amount")).toBe("0.0001");
    const btc = instrumentRef(SPECS[0]!);
    expect(averageDecimal(btc, 30_002, 3)).toBe("100.0066666667"); // 100.00 × 0.0001 + 100.01 × 0.0002
    expect(averageDecimal(btc, 6_425_017 * 150, 150)).toBe("64250.17");
    expect(averageDecimal(btc, 0, 0)).toBeUndefined();
  });
});

describe("CCXT adapter against a live cluster", () => {
  it("loadMarkets gives CCXT markets with the reference data; unknown symbols are BadSymbol", async () => {
    const c = await startCluster();
    const x = exchangeFor(c, 1);
    const markets = await x.loadMarkets();
    expect(Object.keys(markets)).toEqual(["BTC/USD", "ETH/USD"]);
    expect(markets[BTC]).toMatchObject({
      id: "BTC-USD", symbol: BTC, base: "BTC", quote: "USD", numericId: 1, active: true, spot: true, type: "spot",
      precision: { price: 0.01, amount: 0.0001 }, limits: { amount: { min: 0.0001, max: 100 }, price: { min: 0.01, max: 1_000_000 } },
      info: instrumentRef(SPECS[0]!),
    });
    expect(markets["ETH/USD"]!.precision).toEqual({ price: 0.05, amount: 0.01 });
    expect(x.market("BTC-USD")).toBe(markets[BTC]);
    await expect(x.fetchOrderBook("DOGE/USD")).rejects.toThrow(ccxt.BadSymbol);
    await expect(x.createOrder("NOPE", "limit", "buy", 1, 1)).rejects.toBeInstanceOf(ccxt.BadSymbol);
    await expect(x.watchOrderBook("__proto__")).rejects.toBeInstanceOf(ccxt.BadSymbol);
  });

  it("createOrder (limit, clientOrderId, post-only), fetchOpenOrders, editOrder and cancelOrder", async () => {
    const c = await startCluster();
    const x = exchangeFor(c, 1);
    const bid = await x.createOrder(BTC, "limit", "buy", 0.015, 64250.17, { clientOrderId: "bid-1", postOnly: true });
    expect(bid).toMatchObject({
      clientOrderId: "bid-1", status: "open", symbol: BTC, type: "limit", side: "buy", timeInForce: "PO", postOnly: true,
      price: 64250.17, amount: 0.015, filled: 0, remaining: 0.015, cost: 0, average: undefined, timestamp: undefined, fee: undefined,
      info: { status: "NEW", price: "64250.17", amount: "0.015", filled: "0", remaining: "0.015", cost: "0" },
    });
    expect(bid.id).toBe(String(bid.info.orderId));
    const ask = await x.createOrder(BTC, "limit", "sell", "0.5", "64300", { timeInForce: "GTC" });
    expect(ask).toMatchObject({ status: "open", price: 64300, amount: 0.5, timeInForce: "GTC", postOnly: false });
    expect(ask.clientOrderId).toMatch(/^ccxt-[A-Za-z0-9_-]{8}-\d+$/); // generated: every order has one

    const open = await x.fetchOpenOrders(BTC);
    expect(open).toEqual([bid, ask]);
    expect(await x.fetchOpenOrders("ETH/USD")).toEqual([]);

    const edited = await x.editOrder(bid.id, BTC, "limit", "buy", 0.02, 64250.1);
    expect(edited).toMatchObject({ id: bid.id, status: "open", price: 64250.1, amount: 0.02, remaining: 0.02 });
    expect((await x.fetchOpenOrders(BTC))[0]).toEqual(edited);

    const cancelled = await x.cancelOrder(bid.id, BTC);
    expect(cancelled).toMatchObject({ id: bid.id, status: "canceled", filled: 0, remaining: 0, amount: 0.02, info: { status: "CANCELLED" } });
    const byCoid = await x.cancelOrder("", BTC, { clientOrderId: ask.clientOrderId! });
    expect(byCoid).toMatchObject({ id: ask.id, status: "canceled" });
    expect(await x.fetchOpenOrders()).toEqual([]);

    await expect(x.cancelOrder(bid.id)).rejects.toThrow(/UNKNOWN_ORDER: order \d+ is not open/);
    // By client order id the engine also says how the order ended.
    await expect(x.cancelOrder("", BTC, { clientOrderId: "bid-1" })).rejects.toThrow("UNKNOWN_ORDER: the order with clientOrderId bid-1 is cancelled: too late to cancel");
    await expect(x.cancelOrder("999999")).rejects.toBeInstanceOf(ccxt.OrderNotFound);
    await expect(x.cancelOrder("not-an-id")).rejects.toBeInstanceOf(ccxt.OrderNotFound);
    await expect(x.editOrder(bid.id, BTC, "limit", "buy", 0.01, 64000)).rejects.toBeInstanceOf(ccxt.OrderNotFound);
  });

  it("watchOrders sees 'open' → 'closed' with filled, remaining, cost and average exact; watchMyTrades and watchTrades the fills", async () => {
    const c = await startCluster();
    const x = exchangeFor(c, 1);
    const other = await trader(c, 2);
    await x.watchOrderBook(BTC); // the snapshot: this symbol's feed is subscribed, so no trade is missed
    const orders = x.watchOrders(BTC); // subscribed from here on
    const mine = x.watchMyTrades();
    const tape = x.watchTrades(BTC);
    const bid = await x.createOrder(BTC, "limit", "buy", 0.0003, 100.01, { clientOrderId: "fill-me" });
    // Two sells: a market sell of 0.0001, then a limit sell of 0.0002 at 100.00; both fill at the bid's 100.01.
    await other.submit({ instrument: 1, side: "sell", type: "market", quantity: 1 });
    await other.submit({ instrument: 1, side: "sell", type: "limit", price: 10_000, quantity: 2 });
    const updates = [...(await orders), ...(await collect(() => x.watchOrders(BTC), (all) => all.some((o) => o.status === "closed")))];
    expect(updates.map((o) => o.status)).toEqual(["open", "open", "closed"]);
    expect(updates.every((o) => o.id === bid.id && o.clientOrderId === "fill-me")).toBe(true);
    expect(updates[1]).toMatchObject({ filled: 0.0001, remaining: 0.0002, average: 100.01, info: { status: "PARTIALLY_FILLED", cost: "0.010001" } });
    expect(updates[2]).toMatchObject({
      filled: 0.0003, remaining: 0, amount: 0.0003, cost: 0.030003, average: 100.01,
      info: { status: "FILLED", filled: "0.0003", remaining: "0", cost: "0.030003", average: "100.01" },
    });

    const fills = [...(await mine), ...(await collect(() => x.watchMyTrades(), (all) => all.length >= 1))];
    const moreFills = fills.length >= 2 ? fills : [...fills, ...(await x.watchMyTrades())];
    expect(moreFills.map((t) => [t.order, t.side, t.price, t.amount, t.takerOrMaker, t.cost])).toEqual([
      [bid.id, "buy", 100.01, 0.0001, "maker", 0.010001], [bid.id, "buy", 100.01, 0.0002, "maker", 0.020002],
    ]);
    const trades = [...(await tape)];
    while (trades.length < 2) trades.push(...(await x.watchTrades(BTC)));
    expect(trades.map((t) => [t.side, t.price, t.amount])).toEqual([["sell", 100.01, 0.0001], ["sell", 100.01, 0.0002]]);
    expect(trades[0]!.timestamp).toBeGreaterThan(Date.UTC(2024, 0, 1));
    expect(trades[0]!.datetime).toBe(new Date(trades[0]!.timestamp!).toISOString());
    expect(trades.map((t) => t.id)).toEqual(moreFills.map((t) => t.id));
    expect(await x.fetchTrades(BTC)).toEqual(trades);
  });

  it("a market order that sweeps two prices has the exact average; post-only crossing and refused orders raise CCXT's classes", async () => {
    const c = await startCluster();
    const x = exchangeFor(c, 1);
    const other = await trader(c, 2);
    await other.submit({ instrument: 1, side: "sell", price: 10_000, quantity: 1 });
    await other.submit({ instrument: 1, side: "sell", price: 10_001, quantity: 2 });
    const done = await x.createOrder(BTC, "market", "buy", 0.0003);
    expect(done).toMatchObject({ status: "closed", type: "market", price: undefined, filled: 0.0003, remaining: 0, cost: 0.030002, info: { average: "100.0066666667", cost: "0.030002" } });
    expect(done.average).toBe(100.0066666667);
    await expect(x.createOrder(BTC, "market", "buy", 0.0001)).rejects.toThrow(ccxt.OrderNotFillable); // nothing left to buy
    await other.submit({ instrument: 1, side: "sell", price: 10_005, quantity: 5 });
    const crossing = x.createOrder(BTC, "limit", "buy", 0.0001, 100.05, { postOnly: true });
    await expect(crossing).rejects.toBeInstanceOf(ccxt.OrderImmediatelyFillable);
    await expect(crossing).rejects.toThrow(/POST_ONLY_WOULD_CROSS/);
    const ioc = await x.createOrder(BTC, "limit", "buy", 0.001, 100.05, { timeInForce: "IOC" });
    expect(ioc).toMatchObject({ status: "expired", filled: 0.0005, remaining: 0, amount: 0.001, timeInForce: "IOC" });
    await x.createOrder(BTC, "limit", "buy", 0.0001, 99, { clientOrderId: "dup" });
    await expect(x.createOrder(BTC, "limit", "buy", 0.0001, 98, { clientOrderId: "dup" })).rejects.toBeInstanceOf(ccxt.DuplicateOrderId);
    await expect(x.createOrder(BTC, "limit", "buy", 200, 99)).rejects.toThrow(/QTY_TOO_LARGE/);
  });

  it("bad input never reaches the wire: off-tick, off-lot, float noise, missing or inapplicable fields", async () => {
    const c = await startCluster();
    const x = exchangeFor(c, 1);
    const refused = async (p: Promise<unknown>, Class: new (...a: never[]) => Error, text: RegExp): Promise<void> => {
      await expect(p).rejects.toBeInstanceOf(Class);
      await expect(p).rejects.toThrow(text);
    };
    await refused(x.createOrder(BTC, "limit", "buy", 0.0001, 100.005), ccxt.InvalidOrder, /100\.005 has 3 decimal places/);
    await refused(x.createOrder("ETH/USD", "limit", "buy", 0.01, 100.07), ccxt.InvalidOrder, /price 100\.07 is not a multiple of 0\.05/);
    await refused(x.createOrder("ETH/USD", "limit", "buy", 0.015, 100.05), ccxt.InvalidOrder, /amount 0\.015 is not a multiple of 0\.01/);
    await refused(x.createOrder(BTC, "limit", "buy", 0.1 + 0.2, 100), ccxt.InvalidOrder, /0\.30000000000000004 has 17 decimal places/);
    await refused(x.createOrder(BTC, "limit", "buy", 0, 100), ccxt.InvalidOrder, /must be positive/);
    await refused(x.createOrder(BTC, "limit", "buy", Number.NaN, 100), ccxt.InvalidOrder, /not a finite number/);
    await refused(x.createOrder(BTC, "limit", "buy", "1e-4", 100), ccxt.InvalidOrder, /not a decimal number/);
    await refused(x.createOrder(BTC, "limit", "buy", 0.0001), ccxt.InvalidOrder, /needs a price/);
    await refused(x.createOrder(BTC, "market", "buy", 0.0001, 100), ccxt.InvalidOrder, /takes no price/);
    await refused(x.createOrder(BTC, "market", "buy", 0.0001, undefined, { timeInForce: "IOC" }), ccxt.InvalidOrder, /always immediate/);
    await refused(x.createOrder(BTC, "limit", "buy", 0.0001, 100, { postOnly: true, timeInForce: "IOC" }), ccxt.InvalidOrder, /cannot be IOC/);
    await refused(x.createOrder(BTC, "stop" as "limit", "buy", 0.0001, 100), ccxt.InvalidOrder, /"limit" and "market"/);
    await refused(x.createOrder(BTC, "limit", "long" as "buy", 0.0001, 100), ccxt.InvalidOrder, /"buy" or "sell"/);
    await refused(x.createOrder(BTC, "limit", "buy", 0.0001, 100, { clientOrderId: "has space" }), ccxt.InvalidOrder, /visible ASCII/);
    await refused(x.createOrder(BTC, "limit", "buy", 0.0001, 100, { reduceOnly: true } as never), ccxt.NotSupported, /reduceOnly.*refused rather than ignored/);
    expect(await x.fetchOpenOrders()).toEqual([]);
    const anonymous = new ccxt.LockstepExchange({ rest: [`http://127.0.0.1:${c.replicas[0]!.port}`] });
    opened.push(anonymous);
    await refused(anonymous.createOrder(BTC, "limit", "buy", 0.0001, 100), ccxt.AuthenticationError, /needs options.account/);
    const nowhere = new ccxt.LockstepExchange({ rest: ["http://127.0.0.1:9"] });
    await expect(nowhere.loadMarkets()).rejects.toBeInstanceOf(ccxt.NetworkError);
  });

  it("watchOrderBook, kept through traffic with every checksum verified, equals fetchOrderBook at the same seq", async () => {
    const c = await startCluster();
    const x = exchangeFor(c, 1);
    const first = await x.watchOrderBook(BTC);
    expect(first).toMatchObject({ symbol: BTC, bids: [], asks: [] });
    const traders = await Promise.all([3, 4].map((a) => trader(c, a)));
    const traffic = Promise.all(traders.map((t, i) => runTraffic(t, { instrument: 1, commands: 1_500, seed: 70 + i, windowMax: 32, mid: 10_000 })));
    let book = first;
    let updates = 0;
    const watching = (async () => {
      for (;;) {
        book = await x.watchOrderBook(BTC);
        updates++;
      }
    })().catch(() => undefined);
    await traffic;
    const last = await traders[0]!.submit({ instrument: 1, side: "buy", price: 1, quantity: 1 }); // surely changes the book
    while (book.nonce < last.seq) await new Promise((r) => setTimeout(r, 5));
    const rest = await x.fetchOrderBook(BTC, 1_000);
    expect(rest.nonce).toBe(last.seq);
    expect(book).toEqual(rest);
    expect(book.bids.at(-1)).toEqual([0.01, 0.0001]);
    expect(book.info.bids.at(-1)).toEqual(["0.01", "0.0001"]);
    expect(updates).toBeGreaterThan(1); // updates between two calls arrive as one: the book as it then stands
    expect(x.stats.checksumMismatches).toBe(0);
    void watching; // ends when the exchange closes (its waiting call rejects)
  });
});

describe("examples/ccxt-bot", () => {
  it("runs against a cluster as a child process, places post-only quotes, gets filled, and exits 0", async () => {
    const c = await startCluster();
    const r = c.replicas[0]!;
    const taker = await trader(c, 2);
    // A counterparty that hits whatever rests, one lot at a time, alternating sides.
    let n = 0;
    const hitting = setInterval(() => {
      taker.submit({ instrument: 1, side: n++ % 2 === 0 ? "sell" : "buy", type: "market", quantity: 1 }).catch(() => undefined);
    }, 100);
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const args = [join(ROOT, "dist/examples/ccxt-bot.js"), "--trade", c.tradeUrl, "--feed", c.feedUrl(r), "--rest", `http://127.0.0.1:${r.port}`, "--account", "7", "--mid", "64000", "--duration", "3", "--json"];
      const child = execFile(process.execPath, args, { timeout: 30_000 }, (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
    }).finally(() => clearInterval(hitting));
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    const summary = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as Record<string, number | string>;
    expect(summary).toMatchObject({ symbol: BTC, account: 7, checksumMismatches: 0 });
    expect(summary.placed).toBeGreaterThanOrEqual(2);
    expect(summary.fills).toBeGreaterThanOrEqual(1);
    expect(summary.edited).toBeGreaterThanOrEqual(1); // a fill leans the quotes a tick: the other side is edited
    expect(summary.cancelled).toBe(summary.openAtEnd);
    const rest = new ccxt.LockstepExchange({ rest: [`http://127.0.0.1:${r.port}`], account: 7 });
    expect(await rest.fetchOpenOrders()).toEqual([]); // it cleaned up after itself
  });
});
