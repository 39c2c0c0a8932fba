/**
 * Proves the engine's documented matching rules one by one: price-time priority, each order
 * type, modify priority rules, self-trade prevention, stops, OCO, and that every reject
 * carries its reason code and leaves the state (hash) unchanged.
 */
import { describe, expect, it } from "vitest";
import { CancelReason, Engine, EventRecorder, OrderKind, Reason, Side, Stp, Tif } from "../src/engine/index.js";
import { INST, newEngine } from "./helpers.js";

const { BUY, SELL } = Side;
const limit = (e: Engine, id: number, account: number, side: Side, price: number, qty: number, tif: Tif = Tif.GTC, postOnly = false, stp: Stp = Stp.NONE): Reason =>
  e.placeLimit(1, id, account, side, price, qty, tif, postOnly, stp);
const trades = (rec: EventRecorder) => rec.take().filter((x) => x.e === "trade").map((t) => t.e === "trade" && [t.makerId, t.takerId, t.price, t.qty]);

describe("price-time priority", () => {
  it("fills the best price first, then the earliest order at that price", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, SELL, 101, 5);
    limit(engine, 2, 1, SELL, 100, 5);
    limit(engine, 3, 2, SELL, 100, 5);
    rec.take();
    limit(engine, 4, 3, BUY, 101, 12);
    expect(trades(rec)).toEqual([[2, 4, 100, 5], [3, 4, 100, 5], [1, 4, 101, 2]]);
    expect(engine.depth(1)).toEqual({ bids: [], asks: [[101, 3]] });
  });

  it("rests the remainder of a GTC limit and reports level changes", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, SELL, 100, 4);
    rec.take();
    limit(engine, 2, 2, BUY, 100, 10);
    const ev = rec.take();
    expect(ev.map((x) => x.e)).toEqual(["accepted", "trade", "level", "level"]);
    expect(ev[2]).toMatchObject({ e: "level", side: SELL, price: 100, qty: 0 });
    expect(ev[3]).toMatchObject({ e: "level", side: BUY, price: 100, qty: 6 });
    expect(engine.order(2)?.leaves).toBe(6);
  });
});

describe("time in force and order types", () => {
  it("IOC trades what it can and expires the rest", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, SELL, 100, 3);
    rec.take();
    expect(limit(engine, 2, 2, BUY, 100, 5, Tif.IOC)).toBe(Reason.OK);
    expect(rec.take().filter((x) => x.e === "expired")).toEqual([{ e: "expired", instrument: 1, orderId: 2, account: 2, leftQty: 2, cum: 3, notional: 300, coid: "" }]);
    expect(engine.order(2)).toBeUndefined();
  });

  it("FOK is rejected unless it can fill completely, and then fills completely", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, SELL, 100, 3);
    limit(engine, 2, 1, SELL, 102, 3);
    const h = engine.stateHash();
    expect(limit(engine, 3, 2, BUY, 101, 5, Tif.FOK)).toBe(Reason.FOK_NOT_FILLABLE);
    expect(engine.stateHash()).toBe(h);
    rec.take();
    expect(limit(engine, 4, 2, BUY, 102, 5, Tif.FOK)).toBe(Reason.OK);
    expect(trades(rec)).toEqual([[1, 4, 100, 3], [2, 4, 102, 2]]);
  });

  it("post-only is rejected (not repriced) when it would cross, and rests otherwise", () => {
    const { engine } = newEngine();
    limit(engine, 1, 1, SELL, 100, 3);
    expect(limit(engine, 2, 2, BUY, 100, 1, Tif.GTC, true)).toBe(Reason.POST_ONLY_WOULD_CROSS);
    expect(limit(engine, 3, 2, BUY, 99, 1, Tif.GTC, true)).toBe(Reason.OK);
    expect(engine.depth(1).bids).toEqual([[99, 1]]);
  });

  it("market sweeps levels, expires its remainder, and is rejected on an empty side", () => {
    const { engine, rec } = newEngine();
    expect(engine.placeMarket(1, 9, 1, BUY, 5, Stp.NONE)).toBe(Reason.NO_LIQUIDITY);
    limit(engine, 1, 1, SELL, 100, 2);
    limit(engine, 2, 1, SELL, 105, 2);
    rec.take();
    engine.placeMarket(1, 3, 2, BUY, 5, Stp.NONE);
    const ev = rec.take();
    expect(ev.filter((x) => x.e === "trade").map((t) => t.e === "trade" && t.price)).toEqual([100, 105]);
    expect(ev.at(-1)).toEqual({ e: "expired", instrument: 1, orderId: 3, account: 2, leftQty: 1, cum: 4, notional: 2 * 100 + 2 * 105, coid: "" });
  });
});

describe("cancel and modify", () => {
  it("cancels own orders, refuses foreign ones, lets the operator (account 0) cancel any", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, BUY, 99, 5);
    expect(engine.cancel(1, 2)).toBe(Reason.NOT_OWNER);
    expect(engine.cancel(77, 1)).toBe(Reason.UNKNOWN_ORDER);
    rec.take();
    expect(engine.cancel(1, 0)).toBe(Reason.OK);
    expect(rec.take()).toEqual([
      { e: "level", instrument: 1, side: BUY, price: 99, qty: 0 },
      { e: "cancelled", instrument: 1, orderId: 1, account: 1, leftQty: 5, reason: CancelReason.USER, cum: 0, notional: 0, coid: "" },
    ]);
  });

  it("qty down keeps priority; qty up and price change lose it", () => {
    const { engine } = newEngine();
    for (const id of [1, 2, 3]) limit(engine, id, 1, BUY, 99, 5);
    engine.modify(1, 1, 99, 4);
    expect(engine.levelOrders(1, BUY, 99)).toEqual([1, 2, 3]);
    engine.modify(2, 1, 99, 6);
    expect(engine.levelOrders(1, BUY, 99)).toEqual([1, 3, 2]);
    engine.modify(1, 1, 98, 4);
    engine.modify(1, 1, 99, 4);
    expect(engine.levelOrders(1, BUY, 99)).toEqual([3, 2, 1]);
    expect(engine.depth(1).bids).toEqual([[99, 15]]);
  });

  it("a re-priced order that crosses trades at once; a post-only one is rejected and unchanged", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, SELL, 101, 5);
    limit(engine, 2, 2, BUY, 99, 5);
    limit(engine, 3, 2, BUY, 98, 5, Tif.GTC, true);
    rec.take();
    engine.modify(2, 2, 101, 3);
    expect(trades(rec)).toEqual([[1, 2, 101, 3]]);
    const h = engine.stateHash();
    expect(engine.modify(3, 2, 101, 5)).toBe(Reason.POST_ONLY_WOULD_CROSS);
    expect(engine.stateHash()).toBe(h);
    expect(engine.order(3)).toMatchObject({ price: 98, leaves: 5 });
  });
});

describe("self-trade prevention", () => {
  const setup = () => {
    const r = newEngine();
    limit(r.engine, 1, 7, SELL, 100, 5);
    limit(r.engine, 2, 8, SELL, 100, 5);
    r.rec.take();
    return r;
  };
  it("cancel-newest cancels the incoming order and keeps the resting one", () => {
    const { engine, rec } = setup();
    limit(engine, 3, 7, BUY, 100, 8, Tif.GTC, false, Stp.CANCEL_NEWEST);
    expect(rec.take().filter((x) => x.e === "cancelled" || x.e === "trade")).toEqual([
      { e: "cancelled", instrument: 1, orderId: 3, account: 7, leftQty: 8, reason: CancelReason.STP, cum: 0, notional: 0, coid: "" },
    ]);
    expect(engine.levelOrders(1, SELL, 100)).toEqual([1, 2]);
  });
  it("cancel-oldest cancels the resting order and keeps matching", () => {
    const { engine, rec } = setup();
    limit(engine, 3, 7, BUY, 100, 8, Tif.GTC, false, Stp.CANCEL_OLDEST);
    const ev = rec.take().filter((x) => x.e === "cancelled" || x.e === "trade");
    expect(ev.map((x) => [x.e, x.e === "trade" ? x.makerId : (x as { orderId: number }).orderId])).toEqual([["cancelled", 1], ["trade", 2]]);
    expect(engine.depth(1)).toEqual({ bids: [[100, 3]], asks: [] });
  });
  it("cancel-both cancels both", () => {
    const { engine, rec } = setup();
    limit(engine, 3, 7, BUY, 100, 8, Tif.GTC, false, Stp.CANCEL_BOTH);
    expect(rec.take().filter((x) => x.e === "cancelled").map((x) => x.e === "cancelled" && x.orderId)).toEqual([1, 3]);
    expect(engine.levelOrders(1, SELL, 100)).toEqual([2]);
  });
});

describe("stop orders", () => {
  it("a buy stop-market triggers when the last trade reaches its stop price", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, SELL, 100, 1);
    limit(engine, 2, 1, SELL, 103, 5);
    expect(engine.placeStop(1, 10, 2, BUY, 100, 0, 2, Tif.GTC, Stp.NONE)).toBe(Reason.OK);
    expect(engine.order(10)?.kind).toBe(OrderKind.STOP_MARKET);
    rec.take();
    limit(engine, 3, 3, BUY, 100, 1);
    const ev = rec.take();
    expect(ev.map((x) => x.e)).toEqual(["accepted", "trade", "level", "triggered", "trade", "level"]);
    expect(ev[4]).toMatchObject({ makerId: 2, takerId: 10, price: 103, qty: 2 });
  });

  it("is rejected when the last trade price already reached the stop", () => {
    const { engine } = newEngine();
    limit(engine, 1, 1, SELL, 100, 1);
    limit(engine, 2, 2, BUY, 100, 1);
    expect(engine.placeStop(1, 10, 2, SELL, 101, 0, 1, Tif.GTC, Stp.NONE)).toBe(Reason.STOP_WOULD_TRIGGER);
    expect(engine.placeStop(1, 11, 2, SELL, 99, 98, 1, Tif.GTC, Stp.NONE)).toBe(Reason.OK);
  });

  it("a sell stop-limit triggers on a fall, rests its remainder, and cascades into other stops", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, BUY, 100, 1);
    limit(engine, 2, 1, BUY, 98, 1);
    limit(engine, 9, 4, SELL, 101, 1);
    limit(engine, 8, 5, BUY, 101, 1); // last price 101
    engine.placeStop(1, 10, 2, SELL, 100, 97, 3, Tif.GTC, Stp.NONE);
    engine.placeStop(1, 11, 3, SELL, 98, 0, 5, Tif.GTC, Stp.NONE);
    rec.take();
    engine.placeMarket(1, 4, 6, SELL, 1, Stp.NONE); // trades at 100: triggers 10
    const ev = rec.take();
    expect(ev.filter((x) => x.e === "triggered").map((x) => x.e === "triggered" && x.orderId)).toEqual([10, 11]);
    // 10 sells 1 at 98 and rests 2 at 97; the last price 98 then triggers 11, which finds no bids and expires.
    expect(engine.depth(1)).toEqual({ bids: [], asks: [[97, 2]] });
    expect(ev.slice(-3)).toEqual([
      { e: "level", instrument: 1, side: SELL, price: 97, qty: 2 },
      { e: "triggered", instrument: 1, orderId: 11, account: 3, leftQty: 5, coid: "" },
      { e: "expired", instrument: 1, orderId: 11, account: 3, leftQty: 5, cum: 0, notional: 0, coid: "" },
    ]);
  });
});

describe("OCO", () => {
  it("a fill of the limit leg cancels the stop leg", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, BUY, 100, 1);
    limit(engine, 2, 2, SELL, 100, 1); // last 100
    expect(engine.placeOco({ instrument: 1, account: 3, side: SELL, qty: 4, limitId: 20, price: 105, stopId: 21, stopPrice: 95 })).toBe(Reason.OK);
    rec.take();
    limit(engine, 5, 4, BUY, 105, 1);
    expect(rec.take().filter((x) => x.e === "cancelled")).toEqual([{ e: "cancelled", instrument: 1, orderId: 21, account: 3, leftQty: 4, reason: CancelReason.OCO, cum: 0, notional: 0, coid: "" }]);
    expect(engine.order(21)).toBeUndefined();
    expect(engine.order(20)?.leaves).toBe(3);
  });

  it("triggering the stop leg cancels the limit leg; cancelling one leg cancels both", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 1, BUY, 100, 1);
    limit(engine, 2, 2, SELL, 100, 1);
    engine.placeOco({ instrument: 1, account: 3, side: SELL, qty: 4, limitId: 20, price: 105, stopId: 21, stopPrice: 96, stopLimitPrice: 95 });
    engine.placeOco({ instrument: 1, account: 3, side: SELL, qty: 1, limitId: 30, price: 106, stopId: 31, stopPrice: 90 });
    limit(engine, 3, 1, BUY, 96, 1);
    rec.take();
    engine.placeMarket(1, 4, 5, SELL, 1, Stp.NONE); // last 96 → triggers 21
    const ev = rec.take();
    expect(ev.filter((x) => x.e === "triggered" || x.e === "cancelled").map((x) => [x.e, (x as { orderId: number }).orderId])).toEqual([["triggered", 21], ["cancelled", 20]]);
    engine.cancel(31, 3);
    expect(engine.order(30)).toBeUndefined();
    expect(engine.depth(1).asks).toEqual([[95, 4]]);
  });

  it("rejects a pair with equal ids or a stop leg already reached, touching nothing", () => {
    const { engine } = newEngine();
    limit(engine, 1, 1, BUY, 100, 1);
    limit(engine, 2, 2, SELL, 100, 1);
    const h = engine.stateHash();
    expect(engine.placeOco({ instrument: 1, account: 3, side: SELL, qty: 1, limitId: 7, price: 105, stopId: 7, stopPrice: 95 })).toBe(Reason.INVALID_OCO);
    expect(engine.placeOco({ instrument: 1, account: 3, side: SELL, qty: 1, limitId: 7, price: 105, stopId: 8, stopPrice: 101 })).toBe(Reason.STOP_WOULD_TRIGGER);
    expect(engine.stateHash()).toBe(h);
  });
});

describe("rejects", () => {
  const cases: [string, (e: Engine) => Reason, Reason][] = [
    ["unknown instrument", (e) => e.placeLimit(9, 1, 1, BUY, 100, 1, Tif.GTC, false, Stp.NONE), Reason.UNKNOWN_INSTRUMENT],
    ["float price", (e) => limit(e, 1, 1, BUY, 100.5, 1), Reason.INVALID_FIELD],
    ["zero id", (e) => limit(e, 0, 1, BUY, 100, 1), Reason.INVALID_FIELD],
    ["negative account", (e) => limit(e, 1, -1, BUY, 100, 1), Reason.INVALID_FIELD],
    ["bad side", (e) => limit(e, 1, 1, 2 as Side, 100, 1), Reason.INVALID_FIELD],
    ["bad tif", (e) => limit(e, 1, 1, BUY, 100, 1, 7 as Tif), Reason.INVALID_FIELD],
    ["price below band", (e) => limit(e, 1, 1, BUY, 89, 1), Reason.PRICE_OUT_OF_BAND],
    ["price above band", (e) => limit(e, 1, 1, BUY, 111, 1), Reason.PRICE_OUT_OF_BAND],
    ["qty zero", (e) => limit(e, 1, 1, BUY, 100, 0), Reason.QTY_TOO_SMALL],
    ["qty too large", (e) => limit(e, 1, 1, BUY, 100, 1001), Reason.QTY_TOO_LARGE],
    ["duplicate live id", (e) => limit(e, 50, 1, BUY, 100, 1), Reason.DUPLICATE_ORDER_ID],
    ["modify unknown", (e) => e.modify(77, 1, 100, 1), Reason.UNKNOWN_ORDER],
    ["modify foreign", (e) => e.modify(50, 2, 100, 1), Reason.NOT_OWNER],
    ["modify a stop", (e) => e.modify(51, 1, 100, 1), Reason.NOT_MODIFIABLE],
    ["modify to a bad qty", (e) => e.modify(50, 1, 95, 0), Reason.QTY_TOO_SMALL],
  ];
  it.each(cases)("%s gets its reason code and leaves the state unchanged", (_name, act, reason) => {
    const { engine, rec } = newEngine();
    limit(engine, 50, 1, BUY, 95, 1);
    engine.placeStop(1, 51, 1, BUY, 105, 0, 1, Tif.GTC, Stp.NONE);
    const h = engine.stateHash();
    rec.take();
    expect(act(engine)).toBe(reason);
    expect(rec.take()).toEqual([expect.objectContaining({ e: "rejected", reason })]);
    expect(engine.stateHash()).toBe(h);
  });

  it("tick and lot rules apply per instrument", () => {
    const e = new Engine([{ ...INST, tickSize: 5, lotSize: 10, qtyMax: 1000 }], new EventRecorder());
    expect(limit(e, 1, 1, BUY, 101, 10)).toBe(Reason.PRICE_NOT_ON_TICK);
    expect(limit(e, 1, 1, BUY, 100, 15)).toBe(Reason.QTY_NOT_ON_LOT);
    expect(limit(e, 1, 1, BUY, 100, 20)).toBe(Reason.OK);
  });

  it("refuses an invalid instrument configuration at construction", () => {
    expect(() => new Engine([{ ...INST, tickSize: 0 }], new EventRecorder())).toThrow(/tickSize/);
    expect(() => new Engine([INST, INST], new EventRecorder())).toThrow(/twice/);
  });
});

describe("kill switch and open-order cap", () => {
  it("cancel-all cancels every live order of one account, stops and OCO peers included, and nothing else", () => {
    const { engine, rec } = newEngine();
    limit(engine, 1, 5, BUY, 95, 1);
    limit(engine, 2, 6, BUY, 95, 1);
    limit(engine, 3, 5, SELL, 105, 1);
    engine.placeStop(1, 4, 5, BUY, 108, 0, 1, Tif.GTC, Stp.NONE);
    engine.placeOco({ instrument: 1, account: 5, side: SELL, qty: 1, limitId: 7, price: 107, stopId: 8, stopPrice: 92 });
    rec.take();
    expect(engine.apply({ type: "cancel-all", account: 5 })).toBe(Reason.OK);
    const ev = rec.take().filter((x) => x.e === "cancelled");
    expect(ev.map((x) => x.e === "cancelled" && [x.orderId, x.reason])).toEqual([[1, CancelReason.KILL], [3, CancelReason.KILL], [7, CancelReason.KILL], [8, CancelReason.OCO], [4, CancelReason.KILL]]);
    expect(engine.liveOrders).toBe(1);
    expect(engine.order(2)?.account).toBe(6);
    expect(engine.apply({ type: "cancel-all", account: 0 })).toBe(Reason.INVALID_FIELD);
  });

  it("an account at its open-order cap cannot add resting orders, but can still trade IOC; the cap survives snapshot/restore", () => {
    const rec = new EventRecorder();
    const e = new Engine([INST], rec, { openOrdersMaxPerAccount: 2 });
    expect(limit(e, 1, 5, BUY, 95, 1)).toBe(Reason.OK);
    expect(limit(e, 2, 5, BUY, 94, 1)).toBe(Reason.OK);
    expect(limit(e, 3, 5, BUY, 93, 1)).toBe(Reason.TOO_MANY_OPEN_ORDERS);
    expect(e.placeStop(1, 4, 5, BUY, 108, 0, 1, Tif.GTC, Stp.NONE)).toBe(Reason.TOO_MANY_OPEN_ORDERS);
    expect(e.placeOco({ instrument: 1, account: 5, side: SELL, qty: 1, limitId: 9, price: 107, stopId: 10, stopPrice: 92 })).toBe(Reason.TOO_MANY_OPEN_ORDERS);
    expect(limit(e, 5, 6, SELL, 96, 1)).toBe(Reason.OK);
    expect(limit(e, 6, 5, BUY, 96, 1, Tif.IOC)).toBe(Reason.OK);
    const restored = Engine.restore(JSON.parse(JSON.stringify(e.snapshot())), new EventRecorder(), { openOrdersMaxPerAccount: 2 });
    expect(restored.stateHash()).toBe(e.stateHash());
    expect(restored.placeLimit(1, 7, 5, BUY, 93, 1, Tif.GTC, false, Stp.NONE)).toBe(Reason.TOO_MANY_OPEN_ORDERS);
    e.cancel(1, 5);
    expect(limit(e, 8, 5, BUY, 93, 1)).toBe(Reason.OK);
    // Differently configured engines hash differently, so a misconfigured replica shows as divergent.
    expect(new Engine([INST], new EventRecorder(), { openOrdersMaxPerAccount: 3 }).stateHash()).not.toBe(new Engine([INST], new EventRecorder()).stateHash());
  });
});

describe("open orders of an account", () => {
  it("lists the account's resting orders and pending stops, id ascending, the same after snapshot/restore, and nothing of others", () => {
    const { engine } = newEngine();
    limit(engine, 5, 1, BUY, 95, 4);
    limit(engine, 2, 1, SELL, 105, 3, Tif.GTC, true);
    limit(engine, 3, 2, SELL, 104, 2);
    expect(engine.placeStop(1, 9, 1, BUY, 108, 0, 6, Tif.GTC, Stp.NONE, "s-9")).toBe(Reason.OK);
    limit(engine, 7, 1, BUY, 104, 1);
    const mine = engine.openOrders(1);
    expect(mine.map((o) => o.id)).toEqual([2, 5, 9]);
    expect(mine[0]).toMatchObject({ side: SELL, kind: OrderKind.LIMIT, price: 105, leaves: 3, postOnly: true, tif: Tif.GTC });
    expect(mine[2]).toMatchObject({ kind: OrderKind.STOP_MARKET, stopPrice: 108, leaves: 6, clientOrderId: "s-9" });
    // Order 7 filled against order 3 at once: it is gone, order 3 is partly filled.
    expect(engine.openOrders(2)).toMatchObject([{ id: 3, account: 2, leaves: 1, cum: 1, notional: 104 }]);
    expect(engine.openOrders(3)).toEqual([]);
    const restored = Engine.restore(engine.snapshot(), new EventRecorder());
    expect(restored.openOrders(1)).toEqual(mine);
  });
});
