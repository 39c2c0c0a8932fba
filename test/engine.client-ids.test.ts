/**
 * Proves the engine's client order id rules one by one (docs/engine.md, "Client order ids"): a
 * resend never creates a second order and its reject names the original and where it stands;
 * rejected orders reserve their id too; finished ids are remembered per account, oldest
 * forgotten first; cancel and modify by client id; OCO legs share one id; snapshot and hash
 * carry it all. Also the totals every order report carries (cum, notional), the filled-plus-open
 * bound on modify that keeps them safe, the configuration check against overflow, and the
 * kill switch's closing event.
 */
import { describe, expect, it } from "vitest";
import { CancelReason, Engine, EventRecorder, OrderStatus, Reason, Side, Stp, Tif, type EngineEvent, type EngineSnapshot } from "../src/engine/index.js";
import { INST } from "./helpers.js";

const { BUY, SELL } = Side;

function setup(recentClientOrderIdsMaxPerAccount?: number): { e: Engine; rec: EventRecorder } {
  const rec = new EventRecorder();
  return { e: new Engine([INST], rec, recentClientOrderIdsMaxPerAccount === undefined ? {} : { recentClientOrderIdsMaxPerAccount }), rec };
}
const limit = (e: Engine, id: number, account: number, side: Side, price: number, qty: number, coid = "", tif: Tif = Tif.GTC): Reason =>
  e.placeLimit(1, id, account, side, price, qty, tif, false, Stp.NONE, coid);
const rejects = (events: EngineEvent[]): EngineEvent[] => events.filter((x) => x.e === "rejected");

describe("client order ids: a resend never creates a second order", () => {
  it("a duplicate of a live order is rejected with the original's id, status and totals", () => {
    const { e, rec } = setup();
    limit(e, 1, 5, BUY, 100, 10, "abc");
    limit(e, 2, 6, SELL, 100, 4);
    rec.take();
    expect(limit(e, 3, 5, BUY, 100, 10, "abc")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    expect(rec.take()).toEqual([{ e: "rejected", orderId: 1, account: 5, reason: Reason.DUPLICATE_CLIENT_ORDER_ID, coid: "abc", status: OrderStatus.PARTIALLY_FILLED, leaves: 6, cum: 4, notional: 400 }]);
    expect(e.liveOrders).toBe(1);
  });

  it("a duplicate of a finished order is rejected with how it ended; other accounts may use the same id", () => {
    const { e, rec } = setup();
    limit(e, 1, 6, SELL, 101, 3);
    limit(e, 2, 5, BUY, 101, 3, "abc"); // fills at once
    rec.take();
    expect(e.placeMarket(1, 3, 5, BUY, 1, Stp.NONE, "abc")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    expect(rejects(rec.take())).toEqual([expect.objectContaining({ orderId: 2, status: OrderStatus.FILLED, leaves: 0, cum: 3, notional: 303 })]);
    expect(limit(e, 4, 7, BUY, 95, 1, "abc")).toBe(Reason.OK);
  });

  it("an order rejected on arrival reserves its id: the resend learns it was rejected, not tried again", () => {
    const { e, rec } = setup();
    limit(e, 1, 6, SELL, 100, 3);
    expect(e.placeLimit(1, 2, 5, BUY, 100, 1, Tif.GTC, true, Stp.NONE, "po-1")).toBe(Reason.POST_ONLY_WOULD_CROSS);
    e.cancel(1, 6); // the resend would now rest, were it tried
    rec.take();
    expect(e.placeLimit(1, 3, 5, BUY, 100, 1, Tif.GTC, true, Stp.NONE, "po-1")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    expect(rejects(rec.take())).toEqual([expect.objectContaining({ orderId: 2, status: OrderStatus.REJECTED, cum: 0 })]);
    expect(e.liveOrders).toBe(0);
  });

  it("the duplicate check comes first, whatever else changed", () => {
    const { e } = setup();
    limit(e, 1, 5, BUY, 100, 1, "abc");
    expect(e.placeLimit(9, 2, 5, BUY, 100, 1, Tif.GTC, false, Stp.NONE, "abc")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    expect(limit(e, 1, 5, BUY, 100, 1, "abc")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
  });

  it("a malformed id is INVALID_FIELD and reserves nothing", () => {
    const { e } = setup();
    for (const bad of ["has space", "x".repeat(37), "tab\t", "é"]) expect(limit(e, 1, 5, BUY, 100, 1, bad)).toBe(Reason.INVALID_FIELD);
    expect(limit(e, 1, 5, BUY, 100, 1, "x".repeat(36))).toBe(Reason.OK);
  });

  it("each account remembers its finished ids up to the limit, forgetting the oldest first", () => {
    const { e, rec } = setup(2);
    for (const [id, coid] of [[1, "a"], [2, "b"], [3, "c"]] as const) {
      limit(e, id, 5, BUY, 100, 1, coid);
      e.cancel(id, 5);
    }
    // Another account's churn does not push account 5's ids out.
    for (let id = 10; id < 20; id++) limit(e, id, 6, BUY, 95, 1, `z${id}`, Tif.IOC);
    rec.take();
    expect(limit(e, 4, 5, BUY, 100, 1, "a")).toBe(Reason.OK); // forgotten: usable again
    expect(limit(e, 5, 5, BUY, 100, 1, "b")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    expect(limit(e, 6, 5, BUY, 100, 1, "c")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    expect(e.snapshot().recentClientOrderIds).toEqual([
      { account: 5, orders: [["b", 2, OrderStatus.CANCELLED, 0, 0], ["c", 3, OrderStatus.CANCELLED, 0, 0]] },
      { account: 6, orders: [["z18", 18, OrderStatus.EXPIRED, 0, 0], ["z19", 19, OrderStatus.EXPIRED, 0, 0]] },
    ]);
  });

  it("with a limit of 0 only live orders reserve their ids", () => {
    const { e } = setup(0);
    limit(e, 1, 5, BUY, 100, 1, "a");
    expect(limit(e, 2, 5, BUY, 100, 1, "a")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    e.cancel(1, 5);
    expect(limit(e, 3, 5, BUY, 100, 1, "a")).toBe(Reason.OK);
  });
});

describe("cancel and modify by client order id", () => {
  it("cancel and modify find the sender's own live order by its client id", () => {
    const { e, rec } = setup();
    limit(e, 1, 5, BUY, 99, 5, "mine");
    rec.take();
    expect(e.apply({ type: "modify", clientOrderId: "mine", account: 5, price: 98, qty: 4 })).toBe(Reason.OK);
    expect(e.order(1)).toMatchObject({ price: 98, leaves: 4, clientOrderId: "mine" });
    expect(e.apply({ type: "cancel", clientOrderId: "mine", account: 6 })).toBe(Reason.UNKNOWN_ORDER); // ids are per account
    expect(e.apply({ type: "cancel", clientOrderId: "mine", account: 5 })).toBe(Reason.OK);
    expect(rec.take().filter((x) => x.e !== "level").map((x) => x.e)).toEqual(["modified", "rejected", "cancelled"]);
  });

  it("too late: a client id of a finished order is UNKNOWN_ORDER with the order's end", () => {
    const { e, rec } = setup();
    limit(e, 1, 6, SELL, 100, 2);
    limit(e, 2, 5, BUY, 100, 2, "gone");
    rec.take();
    expect(e.apply({ type: "cancel", clientOrderId: "gone", account: 5 })).toBe(Reason.UNKNOWN_ORDER);
    expect(e.apply({ type: "cancel", clientOrderId: "never", account: 5 })).toBe(Reason.UNKNOWN_ORDER);
    expect(rec.take()).toEqual([
      { e: "rejected", orderId: 2, account: 5, reason: Reason.UNKNOWN_ORDER, coid: "gone", status: OrderStatus.FILLED, leaves: 0, cum: 2, notional: 200 },
      { e: "rejected", orderId: 0, account: 5, reason: Reason.UNKNOWN_ORDER, coid: "never", status: OrderStatus.REJECTED, leaves: 0, cum: 0, notional: 0 },
    ]);
  });

  it("naming the order both ways is INVALID_FIELD; a refused modify of a live order reports it unchanged", () => {
    const { e, rec } = setup();
    limit(e, 1, 5, BUY, 99, 5, "mine");
    rec.take();
    expect(e.apply({ type: "cancel", orderId: 1, clientOrderId: "mine", account: 5 })).toBe(Reason.INVALID_FIELD);
    expect(e.apply({ type: "modify", clientOrderId: "mine", account: 5, price: 111, qty: 5 })).toBe(Reason.PRICE_OUT_OF_BAND);
    expect(rejects(rec.take()).map((x) => x.e === "rejected" && [x.reason, x.orderId, x.status, x.leaves])).toEqual([
      [Reason.INVALID_FIELD, 1, OrderStatus.REJECTED, 0], [Reason.PRICE_OUT_OF_BAND, 1, OrderStatus.NEW, 5],
    ]);
  });
});

describe("OCO legs share one client id", () => {
  const oco = (e: Engine, coid: string): Reason =>
    e.placeOco({ instrument: 1, account: 3, side: SELL, qty: 4, limitId: 20, price: 105, stopId: 21, stopPrice: 96, stopLimitPrice: 95, clientOrderId: coid });

  it("both legs carry it; cancel by it cancels both; a resend is one reject naming the limit leg", () => {
    const { e, rec } = setup();
    expect(oco(e, "pair")).toBe(Reason.OK);
    expect(rec.take().filter((x) => x.e === "accepted").map((x) => x.e === "accepted" && [x.orderId, x.coid])).toEqual([[21, "pair"], [20, "pair"]]);
    expect(oco(e, "pair")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    expect(rejects(rec.take())).toEqual([expect.objectContaining({ orderId: 20, status: OrderStatus.NEW })]);
    expect(e.apply({ type: "cancel", clientOrderId: "pair", account: 3 })).toBe(Reason.OK);
    expect(rec.take().filter((x) => x.e === "cancelled").map((x) => x.e === "cancelled" && [x.orderId, x.reason, x.coid])).toEqual([[20, CancelReason.USER, "pair"], [21, CancelReason.OCO, "pair"]]);
    expect(e.liveOrders).toBe(0);
  });

  it("once the stop leg triggers, the id names it; the pair's end is the triggered leg's", () => {
    const { e, rec } = setup();
    limit(e, 1, 1, BUY, 100, 1);
    limit(e, 2, 2, SELL, 100, 1); // last 100
    oco(e, "pair");
    limit(e, 3, 1, BUY, 96, 1);
    e.placeMarket(1, 4, 5, SELL, 1, Stp.NONE); // last 96: the stop leg triggers, rests 4 at 95
    expect(e.orderByClientId(3, "pair")).toMatchObject({ id: 21, price: 95, leaves: 4, status: OrderStatus.NEW });
    const snap = JSON.parse(JSON.stringify(e.snapshot())) as EngineSnapshot;
    const restored = Engine.restore(snap, new EventRecorder());
    expect(restored.stateHash()).toBe(e.stateHash());
    expect(restored.orderByClientId(3, "pair")?.id).toBe(21);
    rec.take();
    expect(e.apply({ type: "cancel", clientOrderId: "pair", account: 3 })).toBe(Reason.OK);
    expect(oco(e, "pair")).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);
    expect(rejects(rec.take())).toEqual([expect.objectContaining({ orderId: 21, status: OrderStatus.CANCELLED })]);
  });

  it("a restored pair with both legs pending still cancels as one", () => {
    const { e } = setup();
    oco(e, "pair");
    const restored = Engine.restore(JSON.parse(JSON.stringify(e.snapshot())) as EngineSnapshot, new EventRecorder());
    expect(restored.orderByClientId(3, "pair")?.id).toBe(20);
    expect(restored.apply({ type: "cancel", clientOrderId: "pair", account: 3 })).toBe(Reason.OK);
    expect(restored.liveOrders).toBe(0);
  });
});

describe("snapshot and hash carry the client id state", () => {
  it("restore preserves live and finished ids and the hash; the ids change the hash", () => {
    const { e } = setup(3);
    limit(e, 1, 5, BUY, 99, 5, "live");
    limit(e, 2, 5, BUY, 98, 5, "done");
    e.cancel(2, 5);
    const restored = Engine.restore(JSON.parse(JSON.stringify(e.snapshot())) as EngineSnapshot, new EventRecorder(), { recentClientOrderIdsMaxPerAccount: 3 });
    expect(restored.stateHash()).toBe(e.stateHash());
    for (const coid of ["live", "done"]) expect(limit(restored, 9, 5, BUY, 97, 1, coid)).toBe(Reason.DUPLICATE_CLIENT_ORDER_ID);

    const other = setup(3).e;
    limit(other, 1, 5, BUY, 99, 5, "live");
    limit(other, 2, 5, BUY, 98, 5, "dune");
    other.cancel(2, 5);
    expect(other.stateHash()).not.toBe(e.stateHash());
    expect(setup(3).e.stateHash()).not.toBe(setup(4).e.stateHash());
  });

  it("a smaller limit on restore forgets the oldest ids, the same on every replica", () => {
    const { e } = setup(3);
    for (const [id, coid] of [[1, "a"], [2, "b"], [3, "c"]] as const) limit(e, id, 5, BUY, 100, 1, coid, Tif.IOC);
    const restored = Engine.restore(JSON.parse(JSON.stringify(e.snapshot())) as EngineSnapshot, new EventRecorder(), { recentClientOrderIdsMaxPerAccount: 1 });
    expect(restored.snapshot().recentClientOrderIds).toEqual([{ account: 5, orders: [["c", 3, OrderStatus.EXPIRED, 0, 0]] }]);
  });

  it("refuses a format 1 snapshot", () => {
    const snap = { ...setup().e.snapshot(), format: 1 } as unknown as EngineSnapshot;
    expect(() => Engine.restore(snap, new EventRecorder())).toThrow(/format 1/);
  });
});

describe("cumulative quantity and notional", () => {
  it("every event carries the order's totals; the average price is notional / cum", () => {
    const { e, rec } = setup();
    limit(e, 1, 1, SELL, 100, 2);
    limit(e, 2, 1, SELL, 103, 2);
    rec.take();
    limit(e, 3, 2, BUY, 103, 5, "", Tif.IOC);
    const ev = rec.take();
    expect(ev.filter((x) => x.e === "trade").map((x) => x.e === "trade" && [x.makerCum, x.makerNotional, x.takerCum, x.takerNotional])).toEqual([[2, 200, 2, 200], [2, 206, 4, 406]]);
    expect(ev.at(-1)).toEqual({ e: "expired", instrument: 1, orderId: 3, account: 2, leftQty: 1, cum: 4, notional: 406, coid: "" });
  });

  it("modify keeps filled plus open within qtyMax, so the totals stay bounded", () => {
    const { e } = setup();
    limit(e, 1, 1, SELL, 100, 600);
    limit(e, 2, 2, BUY, 100, 1000); // fills 600, rests 400
    expect(e.modify(2, 2, 100, 401)).toBe(Reason.QTY_TOO_LARGE);
    expect(e.modify(2, 2, 99, 400)).toBe(Reason.OK);
    expect(e.order(2)).toMatchObject({ leaves: 400, cum: 600, notional: 60_000, status: OrderStatus.PARTIALLY_FILLED });
  });

  it("refuses an instrument whose qtyMax × priceMax could overflow a safe integer", () => {
    expect(() => new Engine([{ ...INST, qtyMax: 2 ** 26, priceMax: 2 ** 27 }], new EventRecorder())).toThrow(/qtyMax × priceMax/);
    expect(() => new Engine([{ ...INST, qtyMax: 2 ** 26, priceMax: 2 ** 27 - 1 }], new EventRecorder())).not.toThrow();
  });
});

describe("the kill switch says when it is done", () => {
  it("killed follows the cancels, with their count, and comes with 0 when nothing was open", () => {
    const { e, rec } = setup();
    limit(e, 1, 5, BUY, 95, 1);
    limit(e, 2, 5, BUY, 96, 1);
    rec.take();
    e.apply({ type: "cancel-all", account: 5 });
    expect(rec.take().filter((x) => x.e !== "level").map((x) => x.e)).toEqual(["cancelled", "cancelled", "killed"]);
    e.apply({ type: "cancel-all", account: 5 });
    expect(rec.take()).toEqual([{ e: "killed", account: 5, cancelledCount: 0 }]);
  });

  it("cancel and modify by client id with an instrument touch only an order on that instrument: one elsewhere is UNKNOWN_ORDER and stays; an instrument with an order id is INVALID_FIELD", () => {
    const rec = new EventRecorder();
    const e = new Engine([INST, { ...INST, id: 2, symbol: "TWO" }], rec);
    limit(e, 1, 5, BUY, 100, 10, "mine");
    rec.take();
    const hash = e.stateHash();
    expect(e.apply({ type: "cancel", account: 5, instrument: 2, clientOrderId: "mine" })).toBe(Reason.UNKNOWN_ORDER);
    expect(e.apply({ type: "modify", account: 5, instrument: 2, clientOrderId: "mine", price: 101, qty: 5 })).toBe(Reason.UNKNOWN_ORDER);
    expect(rejects(rec.take())).toEqual([
      { e: "rejected", orderId: 0, account: 5, reason: Reason.UNKNOWN_ORDER, coid: "mine", status: OrderStatus.REJECTED, leaves: 0, cum: 0, notional: 0 },
      { e: "rejected", orderId: 0, account: 5, reason: Reason.UNKNOWN_ORDER, coid: "mine", status: OrderStatus.REJECTED, leaves: 0, cum: 0, notional: 0 },
    ]);
    expect(e.stateHash()).toBe(hash);
    expect(e.apply({ type: "cancel", account: 5, orderId: 1, instrument: 1 })).toBe(Reason.INVALID_FIELD);
    expect(e.apply({ type: "modify", account: 5, orderId: 1, instrument: 1, price: 101, qty: 5 })).toBe(Reason.INVALID_FIELD);
    expect(e.stateHash()).toBe(hash);
    expect(e.apply({ type: "modify", account: 5, instrument: 1, clientOrderId: "mine", price: 101, qty: 5 })).toBe(Reason.OK);
    expect(e.apply({ type: "cancel", account: 5, instrument: 1, clientOrderId: "mine" })).toBe(Reason.OK);
    expect(rec.take().filter((x) => x.e === "modified" || x.e === "cancelled").map((x) => x.e)).toEqual(["modified", "cancelled"]);
  });
});
