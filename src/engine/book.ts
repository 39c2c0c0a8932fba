/**
 * The data structures behind one instrument's book. Orders are pooled objects linked
 * intrusively into a FIFO per price level; each side keeps its levels in an array sorted so
 * that the best level is last, which makes "best", "pop best" and "insert near the touch"
 * O(1) in the common case. Bids and asks share one code path through a direction sign:
 * a level's rank is `dir * price`, ascending, with dir = +1 for bids and -1 for asks.
 */
import { InstrumentMode, OrderKind, Side, Stp, Tif, type InstrumentConfig } from "./types.js";

export class Order {
  id = 0;
  account = 0;
  side: Side = Side.BUY;
  kind: OrderKind = OrderKind.LIMIT;
  tif: Tif = Tif.GTC;
  stp: Stp = Stp.NONE;
  postOnly = false;
  /** Limit price; 0 for market and stop-market orders. */
  price = 0;
  /** Trigger price of a pending stop order; 0 otherwise. */
  stopPrice = 0;
  /** Open quantity. */
  leaves = 0;
  /** Quantity filled so far. cum + leaves never exceeds the instrument's qtyMax. */
  cum = 0;
  /** Sum of price × qty over this order's fills; at most qtyMax × priceMax, a safe integer. */
  notional = 0;
  /** The client's own id for this order, "" when it has none. */
  coid = "";
  book: Book | null = null;
  level: Level | null = null;
  prev: Order | null = null;
  next: Order | null = null;
  /** The other leg of a one-cancels-other pair. While resting, a peer is always a pending stop. */
  peer: Order | null = null;
  /** While its book is IMPORTING: the order's id on the shard it is moving from; 0 otherwise. */
  fromId = 0;
}

export class Level {
  price = 0;
  qty = 0;
  count = 0;
  head: Order | null = null;
  tail: Order | null = null;

  append(o: Order): void {
    o.level = this;
    o.prev = this.tail;
    o.next = null;
    if (this.tail === null) this.head = o;
    else this.tail.next = o;
    this.tail = o;
    this.qty += o.leaves;
    this.count++;
  }

  /** Unlinks `o`; the caller removes the level from its side when count reaches 0. */
  unlink(o: Order): void {
    if (o.prev === null) this.head = o.next;
    else o.prev.next = o.next;
    if (o.next === null) this.tail = o.prev;
    else o.next.prev = o.prev;
    this.qty -= o.leaves;
    this.count--;
    o.prev = null;
    o.next = null;
    o.level = null;
  }
}

export class SideBook {
  readonly dir: 1 | -1;
  /** Ascending by rank (dir * price): the best level is last. */
  readonly levels: Level[] = [];
  readonly byPrice = new Map<number, Level>();

  constructor(readonly side: Side) {
    this.dir = side === Side.BUY ? 1 : -1;
  }

  best(): Level | undefined {
    return this.levels[this.levels.length - 1];
  }

  /** Index of the first level whose rank is >= `rank`. */
  private lowerBound(rank: number): number {
    const levels = this.levels;
    let lo = 0;
    let hi = levels.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.dir * levels[mid]!.price < rank) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(level: Level): void {
    const levels = this.levels;
    const rank = this.dir * level.price;
    const n = levels.length;
    if (n === 0 || this.dir * levels[n - 1]!.price < rank) levels.push(level);
    else levels.splice(this.lowerBound(rank), 0, level);
    this.byPrice.set(level.price, level);
  }

  remove(level: Level): void {
    const levels = this.levels;
    const n = levels.length;
    if (levels[n - 1] === level) levels.pop();
    else {
      const i = this.lowerBound(this.dir * level.price);
      if (levels[i] !== level) throw new Error("engine invariant: level missing from its side");
      levels.splice(i, 1);
    }
    this.byPrice.delete(level.price);
  }
}

/**
 * Pending stop orders of one side, kept so that the next one to trigger is last.
 * A buy stop triggers when the last trade price rises to its stop price, so the lowest stop
 * triggers first; a sell stop triggers on a fall, so the highest first. Among equal stop
 * prices the earlier order triggers first. Sorting by key = -stop (buy) or +stop (sell),
 * ascending, with new orders inserted before equal keys, gives exactly that.
 */
export class StopSide {
  readonly orders: Order[] = [];
  private readonly sign: 1 | -1;

  constructor(readonly side: Side) {
    this.sign = side === Side.BUY ? -1 : 1;
  }

  top(): Order | undefined {
    return this.orders[this.orders.length - 1];
  }

  /** True when the last trade price has reached this side's stop `stopPrice`. */
  reached(lastPrice: number, stopPrice: number): boolean {
    return lastPrice > 0 && this.sign * (lastPrice - stopPrice) <= 0;
  }

  private lowerBound(key: number): number {
    const orders = this.orders;
    let lo = 0;
    let hi = orders.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sign * orders[mid]!.stopPrice < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(o: Order): void {
    this.orders.splice(this.lowerBound(this.sign * o.stopPrice), 0, o);
  }

  /** True when a stop at `stopPrice` may be appended (push) without breaking the trigger order. */
  appendable(stopPrice: number): boolean {
    const last = this.top();
    return last === undefined || this.sign * stopPrice >= this.sign * last.stopPrice;
  }

  /** Appends in storage order; used only by snapshot restore and imports (which check appendable). */
  push(o: Order): void {
    this.orders.push(o);
  }

  remove(o: Order): void {
    const orders = this.orders;
    let i = this.lowerBound(this.sign * o.stopPrice);
    while (i < orders.length && orders[i] !== o) i++;
    if (i === orders.length) throw new Error("engine invariant: stop order missing from its side");
    orders.splice(i, 1);
  }
}

export class Book {
  readonly bids = new SideBook(Side.BUY);
  readonly asks = new SideBook(Side.SELL);
  readonly buyStops = new StopSide(Side.BUY);
  readonly sellStops = new StopSide(Side.SELL);
  /** Price of the last trade, 0 before the first. Stops trigger on it. */
  lastPrice = 0;
  /** Only an ACTIVE book trades (see InstrumentMode); the fields below describe a move under way. */
  mode: InstrumentMode = InstrumentMode.ACTIVE;
  /** HALTED: the seq of the HALT that froze the book. */
  haltSeq = 0;
  /** IMPORTING: the shard it comes from; AWAY: the shard it went to (or came from, when an import was abandoned); "" otherwise. */
  peerShard = "";
  /** IMPORTING: the order count and book hash the import began with. */
  expectOrders = 0;
  expectHash = "";
  /** The seq of the latest claim of this instrument's moves on this shard (0: never claimed); move steps must name it. */
  moveClaim = 0;

  constructor(readonly config: InstrumentConfig) {}

  get id(): number {
    return this.config.id;
  }

  side(side: Side): SideBook {
    return side === Side.BUY ? this.bids : this.asks;
  }

  opposite(side: Side): SideBook {
    return side === Side.BUY ? this.asks : this.bids;
  }

  stops(side: Side): StopSide {
    return side === Side.BUY ? this.buyStops : this.sellStops;
  }
}
