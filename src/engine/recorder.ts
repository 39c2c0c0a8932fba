/**
 * Turns listener calls into plain event objects. For tests, replay tools and anything off the
 * hot path; the hot path implements EngineListener directly and allocates nothing.
 */
import type { CancelReason, EngineListener, OrderKind, Reason, Side } from "./types.js";

export type EngineEvent =
  | { readonly e: "accepted"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly side: Side; readonly kind: OrderKind; readonly price: number; readonly qty: number }
  | { readonly e: "rejected"; readonly orderId: number; readonly account: number; readonly reason: Reason }
  | { readonly e: "trade"; readonly instrument: number; readonly tradeId: number; readonly makerId: number; readonly makerAccount: number; readonly takerId: number; readonly takerAccount: number; readonly takerSide: Side; readonly price: number; readonly qty: number; readonly makerLeft: number; readonly takerLeft: number }
  | { readonly e: "cancelled"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly leftQty: number; readonly reason: CancelReason }
  | { readonly e: "expired"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly leftQty: number }
  | { readonly e: "modified"; readonly instrument: number; readonly orderId: number; readonly account: number; readonly price: number; readonly qty: number }
  | { readonly e: "triggered"; readonly instrument: number; readonly orderId: number; readonly account: number }
  | { readonly e: "level"; readonly instrument: number; readonly side: Side; readonly price: number; readonly qty: number };

export class EventRecorder implements EngineListener {
  events: EngineEvent[] = [];

  /** Returns the events recorded so far and starts a fresh list. */
  take(): EngineEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  accepted(instrument: number, orderId: number, account: number, side: Side, kind: OrderKind, price: number, qty: number): void {
    this.events.push({ e: "accepted", instrument, orderId, account, side, kind, price, qty });
  }
  rejected(orderId: number, account: number, reason: Reason): void {
    this.events.push({ e: "rejected", orderId, account, reason });
  }
  trade(instrument: number, tradeId: number, makerId: number, makerAccount: number, takerId: number, takerAccount: number, takerSide: Side, price: number, qty: number, makerLeft: number, takerLeft: number): void {
    this.events.push({ e: "trade", instrument, tradeId, makerId, makerAccount, takerId, takerAccount, takerSide, price, qty, makerLeft, takerLeft });
  }
  cancelled(instrument: number, orderId: number, account: number, leftQty: number, reason: CancelReason): void {
    this.events.push({ e: "cancelled", instrument, orderId, account, leftQty, reason });
  }
  expired(instrument: number, orderId: number, account: number, leftQty: number): void {
    this.events.push({ e: "expired", instrument, orderId, account, leftQty });
  }
  modified(instrument: number, orderId: number, account: number, price: number, qty: number): void {
    this.events.push({ e: "modified", instrument, orderId, account, price, qty });
  }
  triggered(instrument: number, orderId: number, account: number): void {
    this.events.push({ e: "triggered", instrument, orderId, account });
  }
  level(instrument: number, side: Side, price: number, qty: number): void {
    this.events.push({ e: "level", instrument, side, price, qty });
  }
}
