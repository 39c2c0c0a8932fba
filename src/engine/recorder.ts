/**
 * Turns listener calls into plain event objects. For tests, replay tools and anything off the
 * hot path; the hot path implements EngineListener directly and allocates nothing.
 */
import type { CancelReason, EngineListener, OrderKind, OrderStatus, Reason, Side } from "./types.js";

export type EngineEvent =
  | { readonly e: "accepted"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly side: Side; readonly kind: OrderKind; readonly price: number; readonly qty: number; readonly coid: string }
  | { readonly e: "rejected"; readonly orderId: number; readonly account: number; readonly reason: Reason; readonly coid: string; readonly status: OrderStatus; readonly leaves: number; readonly cum: number; readonly notional: number }
  | {
    readonly e: "trade"; readonly instrument: number; readonly tradeId: number; readonly makerId: number; readonly makerAccount: number; readonly takerId: number; readonly takerAccount: number;
    readonly takerSide: Side; readonly price: number; readonly qty: number; readonly makerLeft: number; readonly takerLeft: number;
    readonly makerCum: number; readonly makerNotional: number; readonly takerCum: number; readonly takerNotional: number; readonly makerCoid: string; readonly takerCoid: string;
  }
  | { readonly e: "cancelled"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly leftQty: number; readonly reason: CancelReason; readonly cum: number; readonly notional: number; readonly coid: string }
  | { readonly e: "expired"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly leftQty: number; readonly cum: number; readonly notional: number; readonly coid: string }
  | { readonly e: "modified"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly price: number; readonly qty: number; readonly cum: number; readonly notional: number; readonly coid: string }
  | { readonly e: "triggered"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly leftQty: number; readonly coid: string }
  | { readonly e: "killed"; readonly account: number; readonly cancelledCount: number }
  | { readonly e: "level"; readonly instrument: number; readonly side: Side; readonly price: number; readonly qty: number }
  | { readonly e: "movedAway"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly leftQty: number; readonly cum: number; readonly notional: number; readonly coid: string; readonly toShard: string }
  | {
    readonly e: "imported"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly fromOrderId: number; readonly status: OrderStatus;
    readonly leftQty: number; readonly cum: number; readonly notional: number; readonly coid: string; readonly fromShard: string;
  };

export class EventRecorder implements EngineListener {
  events: EngineEvent[] = [];

  /** Returns the events recorded so far and starts a fresh list. */
  take(): EngineEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  accepted(instrument: number, orderId: number, account: number, side: Side, kind: OrderKind, price: number, qty: number, coid: string): void {
    this.events.push({ e: "accepted", instrument, orderId, account, side, kind, price, qty, coid });
  }
  rejected(orderId: number, account: number, reason: Reason, coid: string, status: OrderStatus, leaves: number, cum: number, notional: number): void {
    this.events.push({ e: "rejected", orderId, account, reason, coid, status, leaves, cum, notional });
  }
  trade(
    instrument: number, tradeId: number, makerId: number, makerAccount: number, takerId: number, takerAccount: number, takerSide: Side, price: number, qty: number,
    makerLeft: number, takerLeft: number, makerCum: number, makerNotional: number, takerCum: number, takerNotional: number, makerCoid: string, takerCoid: string,
  ): void {
    this.events.push({ e: "trade", instrument, tradeId, makerId, makerAccount, takerId, takerAccount, takerSide, price, qty, makerLeft, takerLeft, makerCum, makerNotional, takerCum, takerNotional, makerCoid, takerCoid });
  }
  cancelled(instrument: number, orderId: number, account: number, leftQty: number, reason: CancelReason, cum: number, notional: number, coid: string): void {
    this.events.push({ e: "cancelled", instrument, orderId, account, leftQty, reason, cum, notional, coid });
  }
  expired(instrument: number, orderId: number, account: number, leftQty: number, cum: number, notional: number, coid: string): void {
    this.events.push({ e: "expired", instrument, orderId, account, leftQty, cum, notional, coid });
  }
  modified(instrument: number, orderId: number, account: number, price: number, qty: number, cum: number, notional: number, coid: string): void {
    this.events.push({ e: "modified", instrument, orderId, account, price, qty, cum, notional, coid });
  }
  triggered(instrument: number, orderId: number, account: number, leftQty: number, coid: string): void {
    this.events.push({ e: "triggered", instrument, orderId, account, leftQty, coid });
  }
  killed(account: number, cancelledCount: number): void {
    this.events.push({ e: "killed", account, cancelledCount });
  }
  level(instrument: number, side: Side, price: number, qty: number): void {
    this.events.push({ e: "level", instrument, side, price, qty });
  }
  movedAway(instrument: number, orderId: number, account: number, leftQty: number, cum: number, notional: number, coid: string, toShard: string): void {
    this.events.push({ e: "movedAway", instrument, orderId, account, leftQty, cum, notional, coid, toShard });
  }
  imported(instrument: number, orderId: number, account: number, fromOrderId: number, status: OrderStatus, leftQty: number, cum: number, notional: number, coid: string, fromShard: string): void {
    this.events.push({ e: "imported", instrument, orderId, account, fromOrderId, status, leftQty, cum, notional, coid, fromShard });
  }
}
