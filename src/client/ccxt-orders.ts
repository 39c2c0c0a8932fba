/**
 * The adapter's book-keeping of the account's orders: what each order is (from the request that
 * created it, or REST's open orders) joined with where it stands (its execution reports), in
 * exact wire units, and the CCXT structures made from them. Reports name an order and its
 * numbers but not its instrument or side, so the request is remembered under its client order
 * id, which every report about the order carries (the adapter gives every order one). Pure:
 * no connections, no clock.
 */
import { OrderStatus as EngineStatus, ORDER_STATUS_NAME } from "../engine/index.js";
import { ReportKind, type Report, type TradeMsg } from "../protocol/messages.js";
import { priceDecimal, qtyDecimal } from "../protocol/reference.js";
import type { RestOrder, RestTrade } from "../protocol/rest.js";
import { averageDecimal, costDecimal } from "./ccxt-numbers.js";
import type { Market, Order, OrderStatus, Side, TimeInForceName, Trade } from "./ccxt-types.js";

/** Orders remembered, oldest finished ones forgotten first: an account's live orders are capped by the engine well below this. */
export const ORDERS_KEPT_MAX = 10_000;
/** Refusals remembered by seq, so a request learns why its command was refused after the fact; oldest forgotten first. */
export const REJECTIONS_KEPT_MAX = 1_024;

/** What the request (or REST) said the order is. */
export interface OrderIntent {
  readonly market: Market;
  readonly side: Side;
  readonly type: "limit" | "market";
  readonly timeInForce: TimeInForceName | undefined;
  readonly postOnly: boolean;
  readonly priceUnits: number | undefined;
  readonly triggerUnits: number | undefined;
  readonly amountUnits: number;
}

/** One order: its intent (when known) and where it stands, all in wire units. */
export interface OrderState {
  readonly oid: number;
  readonly coid: string | undefined;
  intent: OrderIntent | undefined;
  priceUnits: number | undefined;
  amountUnits: number | undefined;
  cum: number;
  left: number;
  ntl: number;
  st: number;
}

/** A command the engine refused: its REJECTED report. */
export interface Rejection { readonly code: number; readonly oid: number; readonly st: number }

const CCXT_STATUS: Readonly<Record<number, OrderStatus>> = {
  [EngineStatus.NEW]: "open", [EngineStatus.PARTIALLY_FILLED]: "open", [EngineStatus.PENDING_TRIGGER]: "open",
  [EngineStatus.FILLED]: "closed", [EngineStatus.CANCELLED]: "canceled", [EngineStatus.EXPIRED]: "expired", [EngineStatus.REJECTED]: "rejected",
};
const isDone = (st: number): boolean => CCXT_STATUS[st] !== "open";

export class OrderBookkeeper {
  readonly orders = new Map<number, OrderState>();
  private readonly intents = new Map<string, OrderIntent>();
  private readonly rejections = new Map<number, Rejection>();

  /** `onOrder`: after each report that changed an order; `onFill`: for each fill of one. */
  constructor(private readonly onOrder: (s: OrderState) => void, private readonly onFill: (s: OrderState, r: Report) => void) {}

  /** Remembers what the order with this client order id is, before it is sent (its reports may beat its ACK). */
  intend(coid: string, intent: OrderIntent): void {
    if (this.intents.has(coid)) return; // the first order with this id keeps it; a resend is refused as a duplicate
    this.intents.set(coid, intent);
    if (this.intents.size > ORDERS_KEPT_MAX) this.intents.delete(this.intents.keys().next().value!);
  }
  /** Forgets an intent whose order was never sequenced (refused before the log). */
  forget(coid: string): void {
    this.intents.delete(coid);
  }

  /** A live order as REST lists it (the state as of REST's seq; reports after it follow). */
  seed(o: RestOrder, market: Market): void {
    const stop = o.type !== "limit";
    const intent: OrderIntent = {
      market, side: o.side, type: o.type === "stop-market" ? "market" : "limit", timeInForce: o.postOnly ? "PO" : o.tif, postOnly: o.postOnly,
      priceUnits: o.px === 0 ? undefined : o.px, triggerUnits: stop ? o.stopPx ?? undefined : undefined, amountUnits: o.qty,
    };
    if (o.coid !== null) this.intend(o.coid, intent);
    const st = EngineStatus[o.status];
    this.put({ oid: o.oid, coid: o.coid ?? undefined, intent, priceUnits: intent.priceUnits, amountUnits: o.qty, cum: o.cum, left: o.left, ntl: o.ntl, st });
  }

  rejectionOf(seq: number): Rejection | undefined {
    return this.rejections.get(seq);
  }

  /** Applies one execution report of the account (docs/protocol.md, "Reports"). */
  apply(r: Report): void {
    if (r.k === ReportKind.KILL_DONE) return;
    if (r.k === ReportKind.REJECTED) return this.applyRejected(r);
    const s = this.orders.get(r.oid) ?? this.put(this.fresh(r.oid, r.coid));
    s.st = r.st ?? s.st;
    s.left = r.left ?? s.left;
    s.cum = r.cum ?? s.cum;
    s.ntl = r.ntl ?? s.ntl;
    switch (r.k) {
      case ReportKind.ACCEPTED:
        s.priceUnits = r.px === 0 ? undefined : r.px;
        s.amountUnits = r.qty;
        break;
      case ReportKind.MODIFIED:
        s.priceUnits = r.px;
        s.amountUnits = s.cum + (r.qty ?? 0);
        break;
      case ReportKind.CANCELLED:
      case ReportKind.EXPIRED:
        s.amountUnits = s.cum + (r.qty ?? 0);
        break;
      default:
        break;
    }
    if (r.k === ReportKind.FILL) this.onFill(s, r);
    this.onOrder(s);
  }

  /**
   * A refusal changes nothing, but for the refused NEW of one's own (its `oid` is the command's
   * seq, its status REJECTED): that order exists, as rejected.
   */
  private applyRejected(r: Report): void {
    this.rejections.set(r.seq, { code: r.code ?? 0, oid: r.oid, st: r.st ?? EngineStatus.REJECTED });
    if (this.rejections.size > REJECTIONS_KEPT_MAX) this.rejections.delete(this.rejections.keys().next().value!);
    if (r.st !== EngineStatus.REJECTED || r.oid !== r.seq) return;
    const s = this.put(this.fresh(r.oid, r.coid));
    s.st = EngineStatus.REJECTED;
    this.onOrder(s);
  }

  private fresh(oid: number, coid: string | undefined): OrderState {
    const intent = coid === undefined ? undefined : this.intents.get(coid);
    return { oid, coid, intent, priceUnits: intent?.priceUnits, amountUnits: intent?.amountUnits, cum: 0, left: 0, ntl: 0, st: EngineStatus.NEW };
  }

  private put(s: OrderState): OrderState {
    this.orders.set(s.oid, s);
    if (this.orders.size > ORDERS_KEPT_MAX) this.evictOne();
    return s;
  }

  private evictOne(): void {
    let victim: OrderState | undefined;
    for (const s of this.orders.values()) {
      if (isDone(s.st)) { victim = s; break; }
      victim ??= s;
    }
    this.orders.delete(victim!.oid);
    if (victim!.coid !== undefined) this.intents.delete(victim!.coid);
  }
}

const num = (text: string | undefined): number | undefined => (text === undefined ? undefined : Number(text));

/** The CCXT order structure of an order's state. */
export function orderOf(s: OrderState): Order {
  const i = s.intent;
  const ref = i?.market.info;
  const price = ref === undefined || s.priceUnits === undefined ? undefined : priceDecimal(ref, s.priceUnits);
  const trigger = ref === undefined || i?.triggerUnits === undefined ? undefined : priceDecimal(ref, i.triggerUnits);
  const amount = ref === undefined || s.amountUnits === undefined ? undefined : qtyDecimal(ref, s.amountUnits);
  const filled = ref === undefined ? undefined : qtyDecimal(ref, s.cum);
  const remaining = ref === undefined ? undefined : qtyDecimal(ref, s.left);
  const cost = ref === undefined ? undefined : costDecimal(ref, BigInt(s.ntl));
  const average = ref === undefined ? undefined : averageDecimal(ref, s.ntl, s.cum);
  return {
    id: String(s.oid), clientOrderId: s.coid, timestamp: undefined, datetime: undefined, lastTradeTimestamp: undefined,
    status: CCXT_STATUS[s.st] ?? "open", symbol: i?.market.symbol, type: i?.type, timeInForce: i?.timeInForce, postOnly: i?.postOnly, side: i?.side,
    price: num(price), triggerPrice: num(trigger), average: num(average), amount: num(amount), filled: num(filled), remaining: num(remaining), cost: num(cost),
    trades: [], fee: undefined, fees: [], reduceOnly: false,
    info: { orderId: s.oid, instrument: ref?.id, status: ORDER_STATUS_NAME[s.st as EngineStatus] ?? String(s.st), price, triggerPrice: trigger, amount, filled, remaining, cost, average },
  };
}

/** One fill of your order (a FILL report) as a CCXT trade; undefined when the order's instrument is unknown. */
export function fillOf(s: OrderState, r: Report): Trade | undefined {
  const i = s.intent;
  if (i === undefined || r.px === undefined || r.qty === undefined || r.tid === undefined) return undefined;
  const t = tradeOf(i.market, r.tid, r.seq, r.px, r.qty, undefined);
  return { ...t, order: String(s.oid), type: i.type, side: i.side, takerOrMaker: r.liq === 0 ? "maker" : "taker" };
}

/** A public trade (the feed's TRADE, REST's trades) as a CCXT trade: `side` is the taker's. */
export function publicTradeOf(market: Market, t: TradeMsg | RestTrade): Trade {
  const side: Side = typeof t.side === "string" ? t.side : t.side === 0 ? "buy" : "sell";
  return { ...tradeOf(market, t.tid, t.seq, t.px, t.qty, t.ts), side };
}

function tradeOf(market: Market, tid: number, seq: number, px: number, qty: number, tsUs: number | undefined): Trade {
  const ref = market.info;
  const price = priceDecimal(ref, px);
  const amount = qtyDecimal(ref, qty);
  const cost = costDecimal(ref, BigInt(px) * BigInt(qty));
  const ms = tsUs === undefined ? undefined : (tsUs - (tsUs % 1000)) / 1000;
  return {
    id: String(tid), order: undefined, symbol: market.symbol, timestamp: ms, datetime: ms === undefined ? undefined : new Date(ms).toISOString(),
    type: undefined, side: undefined, takerOrMaker: undefined, price: Number(price), amount: Number(amount), cost: Number(cost), fee: undefined, fees: [],
    info: { tradeId: tid, seq, price, amount, cost, tsUs },
  };
}
