/**
 * Turns the engine's events for one command into what a replica publishes: execution reports
 * per account, L2 level changes per instrument, and public trades. One instance is reused for
 * every command; `begin(seq)` resets it.
 */
import { NullListener, type CancelReason, type OrderKind, type Reason, type Side } from "../engine/index.js";
import { ReportKind as ReportKindOf } from "../protocol/messages.js";

export interface ReportOut { acct: number; k: number; oid: number; px?: number; qty?: number; left?: number; code?: number; tid?: number; liq?: number }
export interface TradeOut { inst: number; tid: number; px: number; qty: number; side: number }

export class CommandOutputs extends NullListener {
  seq = 0;
  readonly reports: ReportOut[] = [];
  /** instrument → flat [side, price, qty, side, price, qty, …] */
  readonly levels = new Map<number, number[]>();
  readonly trades: TradeOut[] = [];

  begin(seq: number): void {
    this.seq = seq;
    this.reports.length = 0;
    this.trades.length = 0;
    for (const l of this.levels.values()) l.length = 0;
  }

  override accepted(_i: number, orderId: number, account: number, _s: Side, _k: OrderKind, price: number, qty: number): void {
    this.reports.push({ acct: account, k: ReportKindOf.ACCEPTED, oid: orderId, px: price, qty });
  }
  override rejected(orderId: number, account: number, reason: Reason): void {
    this.reports.push({ acct: account, k: ReportKindOf.REJECTED, oid: orderId, code: reason });
  }
  override trade(instrument: number, tradeId: number, makerId: number, makerAccount: number, takerId: number, takerAccount: number, takerSide: Side, price: number, qty: number, makerLeft: number, takerLeft: number): void {
    this.reports.push({ acct: makerAccount, k: ReportKindOf.FILL, oid: makerId, px: price, qty, left: makerLeft, tid: tradeId, liq: 0 });
    this.reports.push({ acct: takerAccount, k: ReportKindOf.FILL, oid: takerId, px: price, qty, left: takerLeft, tid: tradeId, liq: 1 });
    this.trades.push({ inst: instrument, tid: tradeId, px: price, qty, side: takerSide });
  }
  override cancelled(_i: number, orderId: number, account: number, leftQty: number, reason: CancelReason): void {
    this.reports.push({ acct: account, k: ReportKindOf.CANCELLED, oid: orderId, left: leftQty, code: reason });
  }
  override expired(_i: number, orderId: number, account: number, leftQty: number): void {
    this.reports.push({ acct: account, k: ReportKindOf.EXPIRED, oid: orderId, left: leftQty });
  }
  override modified(_i: number, orderId: number, account: number, price: number, qty: number): void {
    this.reports.push({ acct: account, k: ReportKindOf.MODIFIED, oid: orderId, px: price, qty });
  }
  override triggered(_i: number, orderId: number, account: number): void {
    this.reports.push({ acct: account, k: ReportKindOf.TRIGGERED, oid: orderId });
  }
  override level(instrument: number, side: Side, price: number, qty: number): void {
    let l = this.levels.get(instrument);
    if (l === undefined) this.levels.set(instrument, (l = []));
    l.push(side, price, qty);
  }
}
