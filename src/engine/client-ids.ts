/**
 * The client order ids of one account: the live ones, each held by one live order, and a FIFO
 * of recently finished ones, so that a resent new order is recognised after the original has
 * filled, been cancelled or been rejected. The maps are only ever looked up, never iterated;
 * the FIFO is an array in the order orders finished (data order), and snapshot and state hash
 * walk that array.
 */
import type { Order } from "./book.js";
import type { OrderStatus } from "./types.js";

/** What a finished order's client id still tells: which order it was and how it ended. */
export interface FinishedOrder {
  readonly coid: string;
  readonly orderId: number;
  readonly status: OrderStatus;
  readonly cum: number;
  readonly notional: number;
}

/** The FIFO is compacted once this many evicted slots sit at its front and they are at least half of it. */
const COMPACT_SLOTS_MIN = 64;

export class ClientIds {
  /** coid → the live order holding it (for an OCO pair with both legs live, the limit leg). */
  readonly live = new Map<string, Order>();
  private readonly finishedByCoid = new Map<string, FinishedOrder>();
  private fifo: (FinishedOrder | null)[] = [];
  private head = 0;

  has(coid: string): boolean {
    return this.live.has(coid) || this.finishedByCoid.has(coid);
  }

  finished(coid: string): FinishedOrder | undefined {
    return this.finishedByCoid.get(coid);
  }

  get recentCount(): number {
    return this.fifo.length - this.head;
  }

  get empty(): boolean {
    return this.live.size === 0 && this.recentCount === 0;
  }

  /** Remembers a finished order, forgetting the oldest ones beyond `recentMax`. */
  remember(f: FinishedOrder, recentMax: number): void {
    this.fifo.push(f);
    this.finishedByCoid.set(f.coid, f);
    while (this.recentCount > recentMax) {
      const old = this.fifo[this.head]!;
      this.fifo[this.head++] = null;
      this.finishedByCoid.delete(old.coid);
    }
    if (this.head >= COMPACT_SLOTS_MIN && this.head * 2 >= this.fifo.length) {
      this.fifo = this.fifo.slice(this.head);
      this.head = 0;
    }
  }

  /** Visits the remembered finished orders, oldest first. */
  forEachRecent(visit: (f: FinishedOrder) => void): void {
    for (let i = this.head; i < this.fifo.length; i++) visit(this.fifo[i]!);
  }
}
