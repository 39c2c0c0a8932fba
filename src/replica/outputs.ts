/**
 * Turns the engine's events for one command into what a replica publishes: execution reports
 * per account, L2 level changes per instrument, and public trades. One instance is reused for
 * every command: `begin(seq)` resets it, `end()` numbers the command's reports per account and
 * marks the last one of each.
 *
 * Every order report says where the order stands after it, FIX-fashion: status `st`, open
 * quantity `left`, filled quantity `cum`, notional `ntl` (sum of price × qty over its fills) and
 * the order's client id. The status follows from the event (docs/engine.md, "Order status").
 */
import { NullListener, OrderKind, OrderStatus, type CancelReason, type Reason, type Side } from "../engine/index.js";
import { ReportKind as ReportKindOf } from "../protocol/messages.js";

export interface ReportOut {
  acct: number; k: number; oid: number;
  /** Numbers this command's reports to `acct` from 0; set by `end()`. */
  n: number;
  /** True on the last of this command's reports to `acct`; set by `end()`. */
  last?: boolean;
  st?: number; coid?: string; px?: number; qty?: number; left?: number; cum?: number; ntl?: number;
  code?: number; tid?: number; liq?: number; cnt?: number; to?: string; from?: string; foid?: number;
}
/** One public trade of command `seq`: `side` is the taker's, `ts` the command's sequencer stamp (µs). */
export interface TradeOut { seq: number; inst: number; tid: number; px: number; qty: number; side: number; ts: number }

/** The report's coid field: absent when the order has none. */
const coidField = (coid: string): string | undefined => (coid === "" ? undefined : coid);
const workingStatus = (cum: number): OrderStatus => (cum > 0 ? OrderStatus.PARTIALLY_FILLED : OrderStatus.NEW);

export class CommandOutputs extends NullListener {
  seq = 0;
  /** The command's sequencer stamp, µs: carried by its trades, never used to match. */
  tsUs = 0;
  readonly reports: ReportOut[] = [];
  /** instrument → flat [side, price, qty, side, price, qty, …] */
  readonly levels = new Map<number, number[]>();
  readonly trades: TradeOut[] = [];
  /** Reports so far per account, for `end()`; looked up only, cleared per command. */
  private readonly perAccount = new Map<number, number>();

  begin(seq: number, tsUs = 0): void {
    this.seq = seq;
    this.tsUs = tsUs;
    this.reports.length = 0;
    this.trades.length = 0;
    for (const l of this.levels.values()) l.length = 0;
  }

  /** Numbers the reports per account (n = 0, 1, …) and marks each account's last with `last: true`. */
  end(): void {
    const seen = this.perAccount;
    seen.clear();
    for (const r of this.reports) {
      const n = seen.get(r.acct) ?? 0;
      r.n = n;
      seen.set(r.acct, n + 1);
    }
    for (const r of this.reports) if (r.n === seen.get(r.acct)! - 1) r.last = true;
  }

  override accepted(_i: number, orderId: number, account: number, _s: Side, kind: OrderKind, price: number, qty: number, coid: string): void {
    const st = kind === OrderKind.STOP_LIMIT || kind === OrderKind.STOP_MARKET ? OrderStatus.PENDING_TRIGGER : OrderStatus.NEW;
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.ACCEPTED, oid: orderId, st, coid: coidField(coid), px: price, qty, left: qty, cum: 0, ntl: 0 });
  }
  override rejected(orderId: number, account: number, reason: Reason, coid: string, status: OrderStatus, leaves: number, cum: number, notional: number): void {
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.REJECTED, oid: orderId, st: status, coid: coidField(coid), left: leaves, cum, ntl: notional, code: reason });
  }
  override trade(
    instrument: number, tradeId: number, makerId: number, makerAccount: number, takerId: number, takerAccount: number, takerSide: Side, price: number, qty: number,
    makerLeft: number, takerLeft: number, makerCum: number, makerNotional: number, takerCum: number, takerNotional: number, makerCoid: string, takerCoid: string,
  ): void {
    const st = (left: number): OrderStatus => (left === 0 ? OrderStatus.FILLED : OrderStatus.PARTIALLY_FILLED);
    this.reports.push({ n: 0, acct: makerAccount, k: ReportKindOf.FILL, oid: makerId, st: st(makerLeft), coid: coidField(makerCoid), px: price, qty, left: makerLeft, cum: makerCum, ntl: makerNotional, tid: tradeId, liq: 0 });
    this.reports.push({ n: 0, acct: takerAccount, k: ReportKindOf.FILL, oid: takerId, st: st(takerLeft), coid: coidField(takerCoid), px: price, qty, left: takerLeft, cum: takerCum, ntl: takerNotional, tid: tradeId, liq: 1 });
    this.trades.push({ seq: this.seq, inst: instrument, tid: tradeId, px: price, qty, side: takerSide, ts: this.tsUs });
  }
  /** `qty` is what was open and is now cancelled; `left` is 0, the order being done. */
  override cancelled(_i: number, orderId: number, account: number, leftQty: number, reason: CancelReason, cum: number, notional: number, coid: string): void {
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.CANCELLED, oid: orderId, st: OrderStatus.CANCELLED, coid: coidField(coid), qty: leftQty, left: 0, cum, ntl: notional, code: reason });
  }
  override expired(_i: number, orderId: number, account: number, leftQty: number, cum: number, notional: number, coid: string): void {
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.EXPIRED, oid: orderId, st: OrderStatus.EXPIRED, coid: coidField(coid), qty: leftQty, left: 0, cum, ntl: notional });
  }
  override modified(_i: number, orderId: number, account: number, price: number, qty: number, cum: number, notional: number, coid: string): void {
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.MODIFIED, oid: orderId, st: workingStatus(cum), coid: coidField(coid), px: price, qty, left: qty, cum, ntl: notional });
  }
  override triggered(_i: number, orderId: number, account: number, leftQty: number, coid: string): void {
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.TRIGGERED, oid: orderId, st: OrderStatus.NEW, coid: coidField(coid), left: leftQty, cum: 0, ntl: 0 });
  }
  override killed(account: number, cancelledCount: number): void {
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.KILL_DONE, oid: 0, cnt: cancelledCount });
  }
  /** The order left with its instrument; it lives on under a new id on `toShard` (its IMPORTED report there names this id). */
  override movedAway(_i: number, orderId: number, account: number, leftQty: number, cum: number, notional: number, coid: string, toShard: string): void {
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.MOVED, oid: orderId, st: workingStatus(cum), coid: coidField(coid), left: leftQty, cum, ntl: notional, to: toShard });
  }
  /** The order arrived with its instrument: `oid` is its id here from now on, `foid` its id on shard `from`. */
  override imported(_i: number, orderId: number, account: number, fromOrderId: number, status: OrderStatus, leftQty: number, cum: number, notional: number, coid: string, fromShard: string): void {
    this.reports.push({ n: 0, acct: account, k: ReportKindOf.IMPORTED, oid: orderId, st: status, coid: coidField(coid), left: leftQty, cum, ntl: notional, from: fromShard, foid: fromOrderId });
  }
  override level(instrument: number, side: Side, price: number, qty: number): void {
    let l = this.levels.get(instrument);
    if (l === undefined) this.levels.set(instrument, (l = []));
    l.push(side, price, qty);
  }
}
