/**
 * The SDK's words ↔ the wire's. Callers of the SDK say `clientOrderId`, `timeInForce: "IOC"`,
 * `postOnly`, `stopPrice`; the wire says `coid`, `tif: 1`, `po`, `spx` (docs/protocol.md). This
 * module is the only place that knows both, in both directions: order requests out, execution
 * reports in.
 */
import { CancelReason, ORDER_STATUS_NAME, REASON_NAME, type OrderStatus, type Reason } from "../engine/index.js";
import { OrdType, ReportKind, type NewOrder, type Report } from "../protocol/messages.js";

export const OrderSide = { buy: 0, sell: 1 } as const;
export type OrderSide = keyof typeof OrderSide;

/**
 * limit; market; stop (a stop-market, or with `price` a stop-limit); oco (a GTC limit leg at
 * `price` and a stop leg triggered at `stopPrice`, one cancelling the other).
 */
export const OrderType = { limit: OrdType.LIMIT, market: OrdType.MARKET, stop: OrdType.STOP, oco: OrdType.OCO } as const;
export type OrderType = keyof typeof OrderType;

/** Good till cancelled, immediate or cancel, fill or kill. */
export const TimeInForce = { GTC: 0, IOC: 1, FOK: 2 } as const;
export type TimeInForce = keyof typeof TimeInForce;

/** What happens when the order would trade with a resting order of the same account (docs/engine.md). */
export const SelfTradePrevention = { none: 0, cancelNewest: 1, cancelOldest: 2, cancelBoth: 3 } as const;
export type SelfTradePrevention = keyof typeof SelfTradePrevention;

/**
 * A new order. Prices are integers in the instrument's price unit, quantities in lots. Which
 * optional fields each type takes is the table in docs/protocol.md; one that does not apply is
 * refused (FIELD_NOT_APPLICABLE), never dropped.
 */
export interface OrderRequest {
  readonly instrument: number;
  readonly side: OrderSide;
  /** Default "limit". */
  readonly type?: OrderType;
  readonly quantity: number;
  /** Limit price: of a limit order, of a stop-limit once triggered, of an OCO's limit leg. */
  readonly price?: number;
  /** Trigger price of a stop, or of an OCO's stop leg. */
  readonly stopPrice?: number;
  /** OCO only: the stop leg's limit price once triggered (absent: the stop leg is a stop-market). */
  readonly stopLimitPrice?: number;
  /** limit and stop-limit only; default GTC. */
  readonly timeInForce?: TimeInForce;
  /** limit and OCO (its limit leg) only: rejected rather than trade on arrival. */
  readonly postOnly?: boolean;
  /** Default: the account's (none). */
  readonly selfTradePrevention?: SelfTradePrevention;
  /** Your own id for the order: 1–36 visible ASCII characters, unique among your live and recent orders. Resending it never creates a second order. */
  readonly clientOrderId?: string;
}

/**
 * An order to cancel or modify: its order id, or your client order id for it, optionally with
 * the instrument it is on (then only an order there is meant, and any gateway routes it).
 */
export type OrderRef = number | { readonly clientOrderId: string; readonly instrument?: number };

/** The NEW message's fields for `o` (fields not given stay absent). */
export function newOrderFields(o: OrderRequest): Omit<NewOrder, "v" | "t" | "cid"> {
  const enumOf = <T extends Record<string, number>>(table: T, key: string | undefined): number | undefined => (key === undefined ? undefined : table[key] ?? -1);
  return {
    inst: o.instrument, side: OrderSide[o.side] ?? -1, ord: OrderType[o.type ?? "limit"] ?? -1, qty: o.quantity,
    px: o.price, spx: o.stopPrice, slpx: o.stopLimitPrice, tif: enumOf(TimeInForce, o.timeInForce), po: o.postOnly,
    stp: enumOf(SelfTradePrevention, o.selfTradePrevention), coid: o.clientOrderId,
  };
}

/** CANCEL's or MODIFY's way of naming the order. */
export function orderRefFields(ref: OrderRef): { oid: number } | { coid: string; inst?: number } {
  if (typeof ref === "number") return { oid: ref };
  return ref.instrument === undefined ? { coid: ref.clientOrderId } : { coid: ref.clientOrderId, inst: ref.instrument };
}

export const REPORT_KIND_NAME = {
  [ReportKind.ACCEPTED]: "accepted", [ReportKind.REJECTED]: "rejected", [ReportKind.FILL]: "fill", [ReportKind.CANCELLED]: "cancelled",
  [ReportKind.EXPIRED]: "expired", [ReportKind.MODIFIED]: "modified", [ReportKind.TRIGGERED]: "triggered", [ReportKind.KILL_DONE]: "killDone",
  [ReportKind.MOVED]: "moved", [ReportKind.IMPORTED]: "imported",
} as const;
export type ExecutionKind = (typeof REPORT_KIND_NAME)[keyof typeof REPORT_KIND_NAME];

const CANCEL_REASON_NAME: Readonly<Record<number, string>> = {
  [CancelReason.USER]: "USER", [CancelReason.STP]: "SELF_TRADE_PREVENTION", [CancelReason.OCO]: "OCO", [CancelReason.KILL]: "KILL_SWITCH",
};

/**
 * One execution report in the SDK's words. `seq`, `account` and `n` identify it on every
 * replica; `last` marks the last report of command `seq` for this account. Order reports say
 * where the order stands after them: `status`, `leavesQty` (open), `cumQty` (filled) and
 * `notional` (sum of price × quantity over its fills), so `averagePrice` = notional / cumQty.
 */
export interface ExecutionReport {
  readonly seq: number;
  readonly n: number;
  readonly last: boolean;
  readonly account: number;
  /** "unknown" for a kind this SDK does not know (a newer server). */
  readonly kind: ExecutionKind | "unknown";
  /** 0 for killDone, and for a refused cancel or modify that names no order. */
  readonly orderId: number;
  readonly clientOrderId?: string;
  /** Absent for killDone (not about one order). */
  readonly status?: string;
  /** accepted, modified: the order's price; fill: the fill's. */
  readonly price?: number;
  /** accepted: the order's quantity; fill: the fill's; modified: the new open quantity; cancelled, expired: the quantity that was open. */
  readonly quantity?: number;
  readonly leavesQty?: number;
  readonly cumQty?: number;
  readonly notional?: number;
  /** notional / cumQty, when something has filled. A float: for display, not for bookkeeping. */
  readonly averagePrice?: number;
  /** rejected: the engine's reason name (docs/engine.md); cancelled: why (USER, SELF_TRADE_PREVENTION, OCO, KILL_SWITCH). */
  readonly reason?: string;
  readonly tradeId?: number;
  readonly liquidity?: "maker" | "taker";
  /** killDone: how many orders the kill switch cancelled. */
  readonly cancelledCount?: number;
  /** moved: the shard the order went to with its instrument (its new id comes in the imported report there). */
  readonly toShard?: string;
  /** imported: the shard the order came from, and its id there (orderId is its id on this shard from now on). */
  readonly fromShard?: string;
  readonly fromOrderId?: number;
}

/** A wire REPORT in the SDK's words (fields the report does not carry stay absent). */
export function executionReportOf(r: Report): ExecutionReport {
  const reason = r.code === undefined ? undefined : r.k === ReportKind.REJECTED ? REASON_NAME[r.code as Reason] : r.k === ReportKind.CANCELLED ? CANCEL_REASON_NAME[r.code] : undefined;
  return {
    seq: r.seq, n: r.n, last: r.last === true, account: r.acct, kind: REPORT_KIND_NAME[r.k as ReportKind] ?? "unknown", orderId: r.oid,
    clientOrderId: r.coid, status: r.st === undefined ? undefined : ORDER_STATUS_NAME[r.st as OrderStatus], price: r.px, quantity: r.qty,
    leavesQty: r.left, cumQty: r.cum, notional: r.ntl, averagePrice: r.cum !== undefined && r.cum > 0 && r.ntl !== undefined ? r.ntl / r.cum : undefined,
    reason: reason ?? (r.code === undefined ? undefined : String(r.code)), tradeId: r.tid, liquidity: r.liq === undefined ? undefined : r.liq === 0 ? "maker" : "taker",
    cancelledCount: r.cnt, toShard: r.to, fromShard: r.from, fromOrderId: r.foid,
  };
}
