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
/**
 * Every report the listener makes is one of these, with every field a report may have, in the
 * order the ring and the wire list them (undefined where the kind has none; the writer leaves
 * those out). One shape for every kind of report: with an object literal per kind (and `last`
 * added to some afterwards) each hot reader of reports (the ring's push, `end()`, the replica's
 * publish) saw some twenty shapes, and V8 turns a property read over that many into a slow
 * generic lookup. Measured in one process over the bench's order mix (engine, outputs and ring,
 * 1,000,000 orders, 5 alternating runs each): 3.2–4.3 µs per order with a literal per kind,
 * 2.6–3.0 with this class.
 */
class Report implements ReportOut {
  n = 0;
  acct: number;
  k: number;
  oid: number;
  st: number | undefined = undefined;
  coid: string | undefined = undefined;
  px: number | undefined = undefined;
  qty: number | undefined = undefined;
  left: number | undefined = undefined;
  cum: number | undefined = undefined;
  ntl: number | undefined = undefined;
  code: number | undefined = undefined;
  tid: number | undefined = undefined;
  liq: number | undefined = undefined;
  cnt: number | undefined = undefined;
  to: string | undefined = undefined;
  from: string | undefined = undefined;
  foid: number | undefined = undefined;
  last: boolean | undefined = undefined;
  constructor(acct: number, k: number, oid: number) {
    this.acct = acct;
    this.k = k;
    this.oid = oid;
  }
}

/** One public trade of command `seq`: `side` is the taker's, `ts` the command's sequencer stamp (µs). */
export interface TradeOut { seq: number; inst: number; tid: number; px: number; qty: number; side: number; ts: number }

/** Up to this many reports a command's are numbered by comparing them pairwise; more (a sweep, a kill switch) through a Map. */
const END_SCAN_REPORTS_MAX = 16;

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
    const rs = this.reports;
    if (rs.length <= END_SCAN_REPORTS_MAX) {
      // A command's few reports compared pairwise: no Map to clear (V8's Map.clear() allocates a
      // new table) and no hashing, for every command a replica applies.
      for (let i = 0; i < rs.length; i++) {
        const acct = rs[i]!.acct;
        let n = 0;
        for (let j = 0; j < i; j++) if (rs[j]!.acct === acct) n++;
        rs[i]!.n = n;
        let last = true;
        for (let j = i + 1; j < rs.length; j++) if (rs[j]!.acct === acct) { last = false; break; }
        if (last) rs[i]!.last = true;
      }
      return;
    }
    const seen = this.perAccount;
    seen.clear();
    for (const r of this.reports) {
      const n = seen.get(r.acct) ?? 0;
      r.n = n;
      seen.set(r.acct, n + 1);
    }
    for (const r of this.reports) if (r.n === seen.get(r.acct)! - 1) r.last = true;
  }

  /** A new report of this command, in order; the caller sets the fields its kind has. */
  private add(acct: number, k: number, oid: number): Report {
    const r = new Report(acct, k, oid);
    this.reports.push(r);
    return r;
  }

  override accepted(_i: number, orderId: number, account: number, _s: Side, kind: OrderKind, price: number, qty: number, coid: string): void {
    const st = kind === OrderKind.STOP_LIMIT || kind === OrderKind.STOP_MARKET ? OrderStatus.PENDING_TRIGGER : OrderStatus.NEW;
    const r = this.add(account, ReportKindOf.ACCEPTED, orderId);
    r.st = st; r.coid = coidField(coid); r.px = price; r.qty = qty; r.left = qty; r.cum = 0; r.ntl = 0;
  }
  override rejected(orderId: number, account: number, reason: Reason, coid: string, status: OrderStatus, leaves: number, cum: number, notional: number): void {
    const r = this.add(account, ReportKindOf.REJECTED, orderId);
    r.st = status; r.coid = coidField(coid); r.left = leaves; r.cum = cum; r.ntl = notional; r.code = reason;
  }
  override trade(
    instrument: number, tradeId: number, makerId: number, makerAccount: number, takerId: number, takerAccount: number, takerSide: Side, price: number, qty: number,
    makerLeft: number, takerLeft: number, makerCum: number, makerNotional: number, takerCum: number, takerNotional: number, makerCoid: string, takerCoid: string,
  ): void {
    const st = (left: number): OrderStatus => (left === 0 ? OrderStatus.FILLED : OrderStatus.PARTIALLY_FILLED);
    const m = this.add(makerAccount, ReportKindOf.FILL, makerId);
    m.st = st(makerLeft); m.coid = coidField(makerCoid); m.px = price; m.qty = qty; m.left = makerLeft; m.cum = makerCum; m.ntl = makerNotional; m.tid = tradeId; m.liq = 0;
    const t = this.add(takerAccount, ReportKindOf.FILL, takerId);
    t.st = st(takerLeft); t.coid = coidField(takerCoid); t.px = price; t.qty = qty; t.left = takerLeft; t.cum = takerCum; t.ntl = takerNotional; t.tid = tradeId; t.liq = 1;
    this.trades.push({ seq: this.seq, inst: instrument, tid: tradeId, px: price, qty, side: takerSide, ts: this.tsUs });
  }
  /** `qty` is what was open and is now cancelled; `left` is 0, the order being done. */
  override cancelled(_i: number, orderId: number, account: number, leftQty: number, reason: CancelReason, cum: number, notional: number, coid: string): void {
    const r = this.add(account, ReportKindOf.CANCELLED, orderId);
    r.st = OrderStatus.CANCELLED; r.coid = coidField(coid); r.qty = leftQty; r.left = 0; r.cum = cum; r.ntl = notional; r.code = reason;
  }
  override expired(_i: number, orderId: number, account: number, leftQty: number, cum: number, notional: number, coid: string): void {
    const r = this.add(account, ReportKindOf.EXPIRED, orderId);
    r.st = OrderStatus.EXPIRED; r.coid = coidField(coid); r.qty = leftQty; r.left = 0; r.cum = cum; r.ntl = notional;
  }
  override modified(_i: number, orderId: number, account: number, price: number, qty: number, cum: number, notional: number, coid: string): void {
    const r = this.add(account, ReportKindOf.MODIFIED, orderId);
    r.st = workingStatus(cum); r.coid = coidField(coid); r.px = price; r.qty = qty; r.left = qty; r.cum = cum; r.ntl = notional;
  }
  override triggered(_i: number, orderId: number, account: number, leftQty: number, coid: string): void {
    const r = this.add(account, ReportKindOf.TRIGGERED, orderId);
    r.st = OrderStatus.NEW; r.coid = coidField(coid); r.left = leftQty; r.cum = 0; r.ntl = 0;
  }
  override killed(account: number, cancelledCount: number): void {
    const r = this.add(account, ReportKindOf.KILL_DONE, 0);
    r.cnt = cancelledCount;
  }
  /** The order left with its instrument; it lives on under a new id on `toShard` (its IMPORTED report there names this id). */
  override movedAway(_i: number, orderId: number, account: number, leftQty: number, cum: number, notional: number, coid: string, toShard: string): void {
    const r = this.add(account, ReportKindOf.MOVED, orderId);
    r.st = workingStatus(cum); r.coid = coidField(coid); r.left = leftQty; r.cum = cum; r.ntl = notional; r.to = toShard;
  }
  /** The order arrived with its instrument: `oid` is its id here from now on, `foid` its id on shard `from`. */
  override imported(_i: number, orderId: number, account: number, fromOrderId: number, status: OrderStatus, leftQty: number, cum: number, notional: number, coid: string, fromShard: string): void {
    const r = this.add(account, ReportKindOf.IMPORTED, orderId);
    r.st = status; r.coid = coidField(coid); r.left = leftQty; r.cum = cum; r.ntl = notional; r.from = fromShard; r.foid = fromOrderId;
  }
  override level(instrument: number, side: Side, price: number, qty: number): void {
    let l = this.levels.get(instrument);
    if (l === undefined) this.levels.set(instrument, (l = []));
    l.push(side, price, qty);
  }
}
