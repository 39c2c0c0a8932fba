/**
 * The SDK's codec: an OrderRequest in the user's words becomes exactly the NEW fields of
 * docs/protocol.md (and nothing the user did not give), an order reference becomes `oid` or
 * `coid`, and a wire REPORT reads back in the user's words with its average price.
 */
import { describe, expect, it } from "vitest";
import { executionReportOf, newOrderFields, orderRefFields } from "../src/client/codec.js";
import { OrderStatus, Reason } from "../src/engine/index.js";
import { MsgType, PROTOCOL_VERSION, ReportKind } from "../src/protocol/messages.js";
import { newOrderProblem } from "../src/protocol/validate.js";

const defined = (o: object): object => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined));

describe("SDK codec", () => {
  it("maps each order type to its wire fields, leaving out what was not given", () => {
    expect(defined(newOrderFields({ instrument: 1, side: "buy", price: 100, quantity: 5 }))).toEqual({ inst: 1, side: 0, ord: 0, qty: 5, px: 100 });
    expect(defined(newOrderFields({ instrument: 1, side: "sell", type: "limit", price: 100, quantity: 5, timeInForce: "FOK", postOnly: true, selfTradePrevention: "cancelBoth", clientOrderId: "x" })))
      .toEqual({ inst: 1, side: 1, ord: 0, qty: 5, px: 100, tif: 2, po: true, stp: 3, coid: "x" });
    expect(defined(newOrderFields({ instrument: 1, side: "buy", type: "stop", stopPrice: 105, price: 106, quantity: 1, timeInForce: "IOC" }))).toEqual({ inst: 1, side: 0, ord: 2, qty: 1, spx: 105, px: 106, tif: 1 });
    expect(defined(newOrderFields({ instrument: 1, side: "sell", type: "oco", price: 110, stopPrice: 90, stopLimitPrice: 89, quantity: 4 }))).toEqual({ inst: 1, side: 1, ord: 3, qty: 4, px: 110, spx: 90, slpx: 89 });
  });

  it("what the codec writes passes the same applicability check the sequencer runs, and a misfit fails it", () => {
    expect(newOrderProblem(newOrderFields({ instrument: 1, side: "buy", type: "oco", price: 110, stopPrice: 90, quantity: 4, postOnly: true }))).toBeNull();
    expect(newOrderProblem(newOrderFields({ instrument: 1, side: "buy", type: "stop", stopPrice: 90, quantity: 4, timeInForce: "IOC" }))?.text).toMatch(/"tif" does not apply to a stop-market order/);
    expect(newOrderProblem(newOrderFields({ instrument: 1, side: "buy", type: "limit", quantity: 4 }))?.text).toMatch(/"px" is required/);
  });

  it("names an order by id or by client order id", () => {
    expect(orderRefFields(42)).toEqual({ oid: 42 });
    expect(orderRefFields({ clientOrderId: "abc" })).toEqual({ coid: "abc" });
  });

  it("reads a report in the user's words", () => {
    const base = { v: PROTOCOL_VERSION, t: MsgType.REPORT, seq: 9, acct: 3 } as const;
    expect(executionReportOf({ ...base, n: 1, last: true, k: ReportKind.FILL, oid: 7, st: OrderStatus.PARTIALLY_FILLED, coid: "x", px: 102, qty: 2, left: 1, cum: 3, ntl: 304, tid: 5, liq: 0 })).toEqual({
      seq: 9, n: 1, last: true, account: 3, kind: "fill", orderId: 7, clientOrderId: "x", status: "PARTIALLY_FILLED", price: 102, quantity: 2,
      leavesQty: 1, cumQty: 3, notional: 304, averagePrice: 304 / 3, reason: undefined, tradeId: 5, liquidity: "maker", cancelledCount: undefined,
    });
    expect(executionReportOf({ ...base, n: 0, k: ReportKind.REJECTED, oid: 0, st: OrderStatus.REJECTED, left: 0, cum: 0, ntl: 0, code: Reason.DUPLICATE_CLIENT_ORDER_ID }))
      .toMatchObject({ kind: "rejected", last: false, status: "REJECTED", reason: "DUPLICATE_CLIENT_ORDER_ID", averagePrice: undefined });
    expect(executionReportOf({ ...base, n: 0, k: ReportKind.CANCELLED, oid: 4, st: OrderStatus.CANCELLED, qty: 2, left: 0, cum: 0, ntl: 0, code: 3 })).toMatchObject({ kind: "cancelled", reason: "KILL_SWITCH" });
    expect(executionReportOf({ ...base, n: 2, last: true, k: ReportKind.KILL_DONE, oid: 0, cnt: 2 })).toMatchObject({ kind: "killDone", cancelledCount: 2, status: undefined });
  });
});
