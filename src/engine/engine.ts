/**
 * The matching engine: price-time priority over integer prices and quantities, for any
 * number of instruments. It is a pure state machine: given the same commands in the same
 * order it emits the same events and reaches the same state hash, on any machine. It reads no
 * clock, no randomness, no environment and does no I/O; results are reason codes, not
 * exceptions (exceptions are reserved for broken invariants, i.e. bugs).
 */
import { Book, Level, Order, type SideBook } from "./book.js";
import { ClientIds, type FinishedOrder } from "./client-ids.js";
import type { CancelCommand, ClaimCommand, Command, HaltCommand, ImportAbortCommand, ImportBeginCommand, ImportEndCommand, ImportOrderCommand, ImportOrdersCommand, ImportRow, ModifyCommand, ReleaseCommand, ResumeCommand } from "./commands.js";
import { StateHasher } from "./hash.js";
import { IdMap } from "./id-map.js";
import { bookHasher, isBookHash, isShardName, MOVE_ORDERS_MAX, type BookExport, type MoveRow } from "./move.js";
import {
  CancelReason,
  InstrumentMode,
  isClientOrderId,
  OrderKind,
  OrderStatus,
  Reason,
  Side,
  Stp,
  Tif,
  type EngineListener,
  type InstrumentConfig,
} from "./types.js";

/** A resting or pending order as seen from outside (a copy; the engine keeps its own). */
export interface OrderView {
  readonly id: number;
  readonly instrument: number;
  readonly account: number;
  readonly side: Side;
  readonly kind: OrderKind;
  readonly tif: Tif;
  readonly postOnly: boolean;
  readonly price: number;
  readonly stopPrice: number;
  readonly leaves: number;
  readonly cum: number;
  readonly notional: number;
  /** "" when the order has no client order id. */
  readonly clientOrderId: string;
  readonly status: OrderStatus;
  /** Id of the OCO peer, 0 when none. */
  readonly peerId: number;
}

export interface Depth {
  /** [price, qty] best first. */
  readonly bids: [number, number][];
  readonly asks: [number, number][];
}

/** One order per row, in canonical order; see Engine.snapshot. */
export type SnapshotRow = [
  id: number, account: number, side: number, kind: number, tif: number, stp: number,
  postOnly: number, price: number, stopPrice: number, leaves: number, peerId: number,
  cum: number, notional: number, coid: string,
];

/** A recently finished order's client order id, as a snapshot keeps it. */
export type FinishedRow = [coid: string, orderId: number, status: number, cum: number, notional: number];

/** A book's move state in a snapshot, present only when it is not ACTIVE (see InstrumentMode) or has a move claim. */
export interface SnapshotMove {
  readonly mode: InstrumentMode;
  readonly haltSeq: number;
  readonly peerShard: string;
  readonly expectOrders: number;
  readonly expectHash: string;
  /** IMPORTING: each order's id on the shard it comes from, aligned with the book's rows. */
  readonly fromIds: readonly number[];
  /** The seq of the book's latest move claim, when it has one (then the move state is kept even for an ACTIVE book). */
  readonly claim?: number;
}

export interface EngineSnapshot {
  /**
   * 3 since books carry their move state (SnapshotMove); 2 (every book ACTIVE) is read as 3
   * without it; format 1 is refused (its state hashes differently).
   */
  readonly format: 2 | 3;
  readonly tradeSeq: number;
  /** Orders imported by import-orders so far (absent: none); the next one's id is IMPORTED_ID_BASE + this. */
  readonly importedOrders?: number;
  readonly openOrdersMaxPerAccount: number;
  readonly recentClientOrderIdsMaxPerAccount: number;
  readonly instruments: readonly InstrumentConfig[];
  readonly books: readonly { readonly instrument: number; readonly lastPrice: number; readonly orders: SnapshotRow[]; readonly move?: SnapshotMove }[];
  /** Accounts ascending, each with its recently finished client order ids, oldest first. */
  readonly recentClientOrderIds: readonly { readonly account: number; readonly orders: FinishedRow[] }[];
}

/**
 * Ids of orders imported by import-orders: IMPORTED_ID_BASE + the shard's count of them, below
 * IMPORTED_ID_END. Every other order's id is the seq of its command, which the sequencer keeps
 * below IMPORTED_ID_BASE, so the two ranges never meet; both lie below 2^46 (a gateway names
 * any id of that range, src/gateway/ids.ts) and below an OCO stop leg's offset (2^52).
 */
export const IMPORTED_ID_BASE = 2 ** 45;
export const IMPORTED_ID_END = 2 ** 46;

const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;
const isAccount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isEnum = (x: unknown, max: number): boolean => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= max;

export function validateInstrument(c: InstrumentConfig): string | null {
  const positive = ["id", "tickSize", "lotSize", "qtyMin", "qtyMax", "priceMin", "priceMax"] as const;
  for (const k of positive) {
    if (!isId(c[k])) return `instrument ${String(c.id)}: ${k} must be a positive safe integer`;
  }
  if (c.qtyMin > c.qtyMax) return `instrument ${c.id}: qtyMin exceeds qtyMax`;
  if (c.priceMin > c.priceMax) return `instrument ${c.id}: priceMin exceeds priceMax`;
  // An order's notional (sum of price × qty over its fills) is at most qtyMax × priceMax. If
  // that product is a safe integer the floating-point product is exact; if it is not, the
  // product rounds to 2^53 or more, so this comparison is exact either way.
  if (c.qtyMax * c.priceMax > Number.MAX_SAFE_INTEGER) return `instrument ${c.id}: qtyMax × priceMax exceeds 2^53 − 1, so an order's notional could overflow`;
  return null;
}

/** An order's status while it is live: a pending stop, or a resting (or matching) order that has or has not traded. */
function liveStatus(o: Order): OrderStatus {
  if (o.level === null && (o.kind === OrderKind.STOP_LIMIT || o.kind === OrderKind.STOP_MARKET)) return OrderStatus.PENDING_TRIGGER;
  return o.cum > 0 ? OrderStatus.PARTIALLY_FILLED : OrderStatus.NEW;
}

/** Default of EngineOptions.recentClientOrderIdsMaxPerAccount. */
export const RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT = 1000;

export interface EngineOptions {
  /**
   * Live orders (resting limits and pending stops) one account may have; 0 means no limit.
   * Part of the state machine's definition: every replica must use the same value.
   */
  readonly openOrdersMaxPerAccount?: number;
  /**
   * Finished orders whose client order ids each account's new orders may not reuse yet; the
   * oldest is forgotten first. Live orders' ids are always reserved. Part of the state machine's
   * definition like openOrdersMaxPerAccount. Default RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT.
   */
  readonly recentClientOrderIdsMaxPerAccount?: number;
  /**
   * Configured instruments this shard does not hold at the start of its log: their books begin
   * AWAY (empty, refusing orders with INSTRUMENT_MOVED) until a move imports them. Part of the
   * state machine's definition like the limits above.
   */
  readonly awayInstruments?: readonly number[];
}

export class Engine {
  private readonly books = new Map<number, Book>();
  /** Live orders per account, kept in step with the order index. */
  private readonly openByAccount = new Map<number, number>();
  private readonly openOrdersMax: number;
  /** Client order ids by account (looked up, never iterated but for snapshot and hash, sorted). */
  private readonly clientIds = new Map<number, ClientIds>();
  private readonly recentIdsMax: number;
  /** Resting limit orders and pending stops, by id. */
  private readonly orders = new IdMap<Order>();
  private readonly orderPool: Order[] = [];
  private readonly levelPool: Level[] = [];
  private tradeSeq = 0;
  /** Orders import-orders has taken (each row its own id), for the next id. */
  private importedOrders = 0;

  constructor(instruments: readonly InstrumentConfig[], private readonly listener: EngineListener, options: EngineOptions = {}) {
    this.openOrdersMax = options.openOrdersMaxPerAccount ?? 0;
    if (!Number.isSafeInteger(this.openOrdersMax) || this.openOrdersMax < 0) throw new Error("openOrdersMaxPerAccount must be a non-negative integer");
    this.recentIdsMax = options.recentClientOrderIdsMaxPerAccount ?? RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.recentIdsMax) || this.recentIdsMax < 0) throw new Error("recentClientOrderIdsMaxPerAccount must be a non-negative integer");
    for (const c of instruments) {
      const problem = validateInstrument(c);
      if (problem !== null) throw new Error(problem);
      if (this.books.has(c.id)) throw new Error(`instrument ${c.id} is configured twice`);
      this.books.set(c.id, new Book({ ...c }));
    }
    for (const id of options.awayInstruments ?? []) {
      const book = this.books.get(id);
      if (book === undefined) throw new Error(`awayInstruments names instrument ${id}, which is not configured`);
      book.mode = InstrumentMode.AWAY;
    }
  }

  // ---- commands -------------------------------------------------------------------------

  apply(c: Command): Reason {
    switch (c.type) {
      case "limit":
        return this.placeLimit(c.instrument, c.orderId, c.account, c.side, c.price, c.qty, c.tif ?? Tif.GTC, c.postOnly ?? false, c.stp ?? Stp.NONE, c.clientOrderId ?? "");
      case "market":
        return this.placeMarket(c.instrument, c.orderId, c.account, c.side, c.qty, c.stp ?? Stp.NONE, c.clientOrderId ?? "");
      case "stop":
        return this.placeStop(c.instrument, c.orderId, c.account, c.side, c.stopPrice, c.price ?? 0, c.qty, c.tif ?? Tif.GTC, c.stp ?? Stp.NONE, c.clientOrderId ?? "");
      case "oco":
        return this.placeOco(c);
      case "cancel":
        return this.applyCancel(c);
      case "modify":
        return this.applyModify(c);
      case "cancel-all":
        return this.cancelAll(c.account);
      case "claim":
        return this.claim(c);
      case "halt":
        return this.halt(c);
      case "resume":
        return this.resume(c);
      case "release":
        return this.release(c);
      case "import-begin":
        return this.importBegin(c);
      case "import-order":
        return this.importOrder(c);
      case "import-orders":
        return this.importOrders(c);
      case "import-end":
        return this.importEnd(c);
      case "import-abort":
        return this.importAbort(c);
      default:
        return this.reject(0, 0, Reason.INVALID_FIELD);
    }
  }

  /** By order id or by client order id: exactly one of the two; an instrument goes only with a client order id. */
  private applyCancel(c: CancelCommand): Reason {
    if (c.clientOrderId === undefined) return c.instrument !== undefined ? this.reject(c.orderId ?? 0, c.account, Reason.INVALID_FIELD) : this.cancel(c.orderId ?? 0, c.account);
    if (c.orderId !== undefined) return this.reject(c.orderId, c.account, Reason.INVALID_FIELD);
    return this.cancelByClientOrderId(c.clientOrderId, c.account, c.instrument);
  }

  private applyModify(c: ModifyCommand): Reason {
    if (c.clientOrderId === undefined) return c.instrument !== undefined ? this.reject(c.orderId ?? 0, c.account, Reason.INVALID_FIELD) : this.modify(c.orderId ?? 0, c.account, c.price, c.qty);
    if (c.orderId !== undefined) return this.reject(c.orderId, c.account, Reason.INVALID_FIELD);
    return this.modifyByClientOrderId(c.clientOrderId, c.account, c.price, c.qty, c.instrument);
  }

  /** `coid` "" means the order has no client order id. */
  placeLimit(instrument: number, id: number, account: number, side: Side, price: number, qty: number, tif: Tif, postOnly: boolean, stp: Stp, coid = ""): Reason {
    const book = this.books.get(instrument);
    let r: Reason = this.checkClientId(account, coid);
    if (r === Reason.OK) r = book === undefined ? Reason.UNKNOWN_INSTRUMENT : this.checkNew(book, id, account, side, qty, stp);
    if (r === Reason.OK && (!isEnum(tif, Tif.FOK) || typeof postOnly !== "boolean")) r = Reason.INVALID_FIELD;
    if (r === Reason.OK) r = this.checkPrice(book!, price);
    if (r === Reason.OK && postOnly && this.crosses(book!, side, price)) r = Reason.POST_ONLY_WOULD_CROSS;
    if (r === Reason.OK && tif === Tif.FOK && !this.fillable(book!, side, account, stp, true, price, qty)) r = Reason.FOK_NOT_FILLABLE;
    if (r === Reason.OK && tif === Tif.GTC && this.atOpenLimit(account, 1)) r = Reason.TOO_MANY_OPEN_ORDERS;
    if (r !== Reason.OK) return this.rejectNew(id, account, r, coid);
    const o = this.newOrder(book!, id, account, side, OrderKind.LIMIT, price, 0, qty, tif, stp, postOnly, coid);
    this.listener.accepted(instrument, id, account, side, OrderKind.LIMIT, price, qty, coid);
    this.executeThenStops(book!, o);
    return Reason.OK;
  }

  placeMarket(instrument: number, id: number, account: number, side: Side, qty: number, stp: Stp, coid = ""): Reason {
    const book = this.books.get(instrument);
    let r: Reason = this.checkClientId(account, coid);
    if (r === Reason.OK) r = book === undefined ? Reason.UNKNOWN_INSTRUMENT : this.checkNew(book, id, account, side, qty, stp);
    if (r === Reason.OK && book!.opposite(side).levels.length === 0) r = Reason.NO_LIQUIDITY;
    if (r !== Reason.OK) return this.rejectNew(id, account, r, coid);
    const o = this.newOrder(book!, id, account, side, OrderKind.MARKET, 0, 0, qty, Tif.IOC, stp, false, coid);
    this.listener.accepted(instrument, id, account, side, OrderKind.MARKET, 0, qty, coid);
    this.executeThenStops(book!, o);
    return Reason.OK;
  }

  /** A stop-limit (price > 0) or stop-market (price 0) order, pending until the last trade price reaches stopPrice. */
  placeStop(instrument: number, id: number, account: number, side: Side, stopPrice: number, price: number, qty: number, tif: Tif, stp: Stp, coid = ""): Reason {
    const book = this.books.get(instrument);
    let r: Reason = this.checkClientId(account, coid);
    if (r === Reason.OK) r = book === undefined ? Reason.UNKNOWN_INSTRUMENT : this.checkNew(book, id, account, side, qty, stp);
    if (r === Reason.OK && !isEnum(tif, Tif.FOK)) r = Reason.INVALID_FIELD;
    if (r === Reason.OK) r = this.checkStopPrices(book!, side, stopPrice, price);
    if (r === Reason.OK && this.atOpenLimit(account, 1)) r = Reason.TOO_MANY_OPEN_ORDERS;
    if (r !== Reason.OK) return this.rejectNew(id, account, r, coid);
    const kind = price === 0 ? OrderKind.STOP_MARKET : OrderKind.STOP_LIMIT;
    const o = this.newOrder(book!, id, account, side, kind, price, stopPrice, qty, price === 0 ? Tif.IOC : tif, stp, false, coid);
    this.listener.accepted(instrument, id, account, side, kind, price, qty, coid);
    book!.stops(side).insert(o);
    this.indexOrder(o);
    return Reason.OK;
  }

  placeOco(c: {
    readonly instrument: number; readonly account: number; readonly side: Side; readonly qty: number;
    readonly limitId: number; readonly price: number; readonly postOnly?: boolean;
    readonly stopId: number; readonly stopPrice: number; readonly stopLimitPrice?: number; readonly stp?: Stp;
    readonly clientOrderId?: string;
  }): Reason {
    const book = this.books.get(c.instrument);
    const stp = c.stp ?? Stp.NONE;
    const postOnly = c.postOnly ?? false;
    const stopLimit = c.stopLimitPrice ?? 0;
    const coid = c.clientOrderId ?? "";
    let r: Reason = this.checkClientId(c.account, coid);
    if (r === Reason.OK) r = book === undefined ? Reason.UNKNOWN_INSTRUMENT : this.checkNew(book, c.limitId, c.account, c.side, c.qty, stp);
    if (r === Reason.OK) r = this.checkNew(book!, c.stopId, c.account, c.side, c.qty, stp);
    if (r === Reason.OK && (c.limitId === c.stopId || typeof postOnly !== "boolean")) r = Reason.INVALID_OCO;
    if (r === Reason.OK) r = this.checkPrice(book!, c.price);
    if (r === Reason.OK) r = this.checkStopPrices(book!, c.side, c.stopPrice, stopLimit);
    if (r === Reason.OK && postOnly && this.crosses(book!, c.side, c.price)) r = Reason.POST_ONLY_WOULD_CROSS;
    if (r === Reason.OK && this.atOpenLimit(c.account, 2)) r = Reason.TOO_MANY_OPEN_ORDERS;
    if (r === Reason.DUPLICATE_CLIENT_ORDER_ID) return this.rejectNew(c.limitId, c.account, r, coid);
    if (r !== Reason.OK) {
      this.reject(c.stopId, c.account, r, coid);
      return this.rejectNew(c.limitId, c.account, r, coid);
    }
    const b = book!;
    const stopKind = stopLimit === 0 ? OrderKind.STOP_MARKET : OrderKind.STOP_LIMIT;
    // The stop leg is created first so that, while both legs live, the limit leg holds the client id.
    const stop = this.newOrder(b, c.stopId, c.account, c.side, stopKind, stopLimit, c.stopPrice, c.qty, stopLimit === 0 ? Tif.IOC : Tif.GTC, stp, false, coid);
    const limit = this.newOrder(b, c.limitId, c.account, c.side, OrderKind.LIMIT, c.price, 0, c.qty, Tif.GTC, stp, postOnly, coid);
    stop.peer = limit;
    limit.peer = stop;
    this.listener.accepted(b.id, stop.id, stop.account, stop.side, stopKind, stopLimit, c.qty, coid);
    b.stops(c.side).insert(stop);
    this.indexOrder(stop);
    this.listener.accepted(b.id, limit.id, limit.account, limit.side, OrderKind.LIMIT, c.price, c.qty, coid);
    this.executeThenStops(b, limit);
    return Reason.OK;
  }

  cancel(id: number, account: number): Reason {
    const o = this.orders.get(id);
    const r = this.checkOwned(o, id, account);
    if (r !== Reason.OK) return this.reject(id, account, r);
    if (o!.book!.mode !== InstrumentMode.ACTIVE) return this.rejectOn(o!, account, Reason.INSTRUMENT_MOVING);
    this.remove(o!, CancelReason.USER);
    return Reason.OK;
  }

  /**
   * Cancels the account's own live order holding `coid` (an OCO pair: both legs). With
   * `instrument`, only an order on that instrument is meant: one on another is as unknown
   * (UNKNOWN_ORDER), and stays.
   */
  cancelByClientOrderId(coid: string, account: number, instrument?: number): Reason {
    const o = this.namedByClientId(coid, account, instrument);
    if (typeof o === "number") return o;
    if (o.book!.mode !== InstrumentMode.ACTIVE) return this.rejectOn(o, account, Reason.INSTRUMENT_MOVING);
    this.remove(o, CancelReason.USER);
    return Reason.OK;
  }

  /**
   * Sets a resting limit order's price and open quantity (`qty` is the new open quantity).
   * Same price with qty down (or equal) keeps time priority. A new price or a larger qty loses
   * it: the order leaves the book and re-enters as if new (same id), so it can trade at once.
   * A post-only order whose new price would cross is rejected and stays as it was. The filled
   * plus the new open quantity may not exceed qtyMax (QTY_TOO_LARGE), which keeps cum and
   * notional within their bounds however often an order is modified.
   */
  modify(id: number, account: number, price: number, qty: number): Reason {
    const o = this.orders.get(id);
    let r = this.checkOwned(o, id, account);
    if (r !== Reason.OK) return this.reject(id, account, r);
    if (o!.book!.mode !== InstrumentMode.ACTIVE) r = Reason.INSTRUMENT_MOVING;
    else if (o!.level === null) r = Reason.NOT_MODIFIABLE;
    const b = o!.book!;
    if (r === Reason.OK) r = this.checkPrice(b, price);
    if (r === Reason.OK) r = this.checkQty(b, qty);
    if (r === Reason.OK && o!.cum + qty > b.config.qtyMax) r = Reason.QTY_TOO_LARGE;
    if (r === Reason.OK && o!.postOnly && price !== o!.price && this.crosses(b, o!.side, price)) r = Reason.POST_ONLY_WOULD_CROSS;
    if (r !== Reason.OK) return this.rejectOn(o!, account, r);
    const level = o!.level!;
    if (price === o!.price && qty <= o!.leaves) {
      level.qty -= o!.leaves - qty;
      o!.leaves = qty;
      this.listener.modified(b.id, id, o!.account, price, qty, o!.cum, o!.notional, o!.coid);
      this.listener.level(b.id, o!.side, price, level.qty);
      return Reason.OK;
    }
    this.unrest(b, o!);
    this.unindexOrder(o!);
    o!.price = price;
    o!.leaves = qty;
    this.listener.modified(b.id, id, o!.account, price, qty, o!.cum, o!.notional, o!.coid);
    this.executeThenStops(b, o!);
    return Reason.OK;
  }

  /** Modifies the account's own live order holding `coid`; see modify. */
  modifyByClientOrderId(coid: string, account: number, price: number, qty: number, instrument?: number): Reason {
    const o = this.namedByClientId(coid, account, instrument);
    if (typeof o === "number") return o;
    return this.modify(o.id, account, price, qty);
  }

  /**
   * The kill switch: cancels every live order of `account` (resting and pending stops, OCO
   * peers with them), instrument by instrument in canonical order, with reason KILL, then tells
   * the listener it is done and how many it cancelled (0 included). A book that is not ACTIVE
   * (being moved) is frozen and left as it is: its orders are killed where they go live.
   */
  cancelAll(account: number): Reason {
    if (!isId(account)) return this.reject(0, isAccount(account) ? account : 0, Reason.INVALID_FIELD);
    const ids = [...this.books.keys()].sort((a, b) => a - b);
    let cancelled = 0;
    for (const id of ids) {
      const book = this.books.get(id)!;
      if (book.mode !== InstrumentMode.ACTIVE) continue;
      const victims: Order[] = [];
      this.forEachOrder(book, (o) => { if (o.account === account) victims.push(o); });
      // An OCO peer may already be gone with its partner; it is one of the victims all the same.
      for (const o of victims) if (o.book !== null) this.remove(o, CancelReason.KILL);
      cancelled += victims.length;
    }
    this.listener.killed(account, cancelled);
    return Reason.OK;
  }

  // ---- moving an instrument (docs/scaling.md) ---------------------------------------------

  /**
   * The book a move step names, when the sender is the operator (account 0), the step names the
   * book's latest claim (or none: an older log) and the book is in `mode`; otherwise the refusal, reported.
   */
  private moveTarget(c: { readonly instrument: number; readonly account: number; readonly claim?: number }, mode: InstrumentMode | null): Book | Reason {
    const book = this.books.get(c.instrument);
    const r = c.account !== 0 ? Reason.INVALID_FIELD : book === undefined ? Reason.UNKNOWN_INSTRUMENT
      : c.claim !== undefined && c.claim !== book.moveClaim ? Reason.MOVE_STALE : mode !== null && book.mode !== mode ? Reason.MOVE_STATE : Reason.OK;
    return r === Reason.OK ? book! : this.reject(0, c.account, r);
  }

  /**
   * A mover claims the instrument's moves here, in any mode: steps naming an earlier claim are
   * refused from now on (MOVE_STALE). The claim names the one it replaces, checked as a step's is.
   */
  claim(c: ClaimCommand): Reason {
    const b = this.moveTarget(c, null);
    if (typeof b === "number") return b;
    if (!isId(c.seq) || c.seq <= b.moveClaim) return this.reject(0, 0, Reason.INVALID_FIELD);
    b.moveClaim = c.seq;
    return Reason.OK;
  }

  /** Freezes an ACTIVE book at this command's seq: from now on its state is its state at the HALT. */
  halt(c: HaltCommand): Reason {
    const b = this.moveTarget(c, InstrumentMode.ACTIVE);
    if (typeof b === "number") return b;
    if (!isId(c.seq)) return this.reject(0, 0, Reason.INVALID_FIELD);
    b.mode = InstrumentMode.HALTED;
    b.haltSeq = c.seq;
    return Reason.OK;
  }

  /** A HALTED book trades again, as it was: the move was abandoned before the instrument went live elsewhere. */
  resume(c: ResumeCommand): Reason {
    const b = this.moveTarget(c, InstrumentMode.HALTED);
    if (typeof b === "number") return b;
    b.mode = InstrumentMode.ACTIVE;
    b.haltSeq = 0;
    return Reason.OK;
  }

  /** Empties a HALTED book whose orders went live on `toShard`: each owner is told (movedAway), the levels go to 0, the book is AWAY. */
  release(c: ReleaseCommand): Reason {
    const b = this.moveTarget(c, InstrumentMode.HALTED);
    if (typeof b === "number") return b;
    if (!isShardName(c.toShard)) return this.reject(0, 0, Reason.INVALID_FIELD);
    for (const o of this.exportOrder(b)) this.listener.movedAway(b.id, o.id, o.account, o.leaves, o.cum, o.notional, o.coid, c.toShard);
    this.dropOrders(b, true);
    b.mode = InstrumentMode.AWAY;
    b.haltSeq = 0;
    b.peerShard = c.toShard;
    return Reason.OK;
  }

  /** An AWAY book starts taking the `orders` orders of `fromShard`'s book; nothing trades until importEnd finds the count and hash. */
  importBegin(c: ImportBeginCommand): Reason {
    const b = this.moveTarget(c, InstrumentMode.AWAY);
    if (typeof b === "number") return b;
    const shape = isShardName(c.fromShard) && Number.isSafeInteger(c.orders) && c.orders >= 0 && c.orders <= MOVE_ORDERS_MAX && isBookHash(c.bookHash);
    if (!shape || (c.lastPrice !== 0 && this.checkPrice(b, c.lastPrice) !== Reason.OK)) return this.reject(0, 0, Reason.INVALID_FIELD);
    b.mode = InstrumentMode.IMPORTING;
    b.peerShard = c.fromShard;
    b.expectOrders = c.orders;
    b.expectHash = c.bookHash;
    b.lastPrice = c.lastPrice;
    return Reason.OK;
  }

  /** One order of an import, appended where the export order puts it (see move.ts); a row that does not fit is refused, IMPORT_INVALID. */
  importOrder(c: ImportOrderCommand): Reason {
    const b = this.moveTarget(c, InstrumentMode.IMPORTING);
    if (typeof b === "number") return b;
    return this.importRow(b, c.orderId, c);
  }

  /** A row into an importing book as order `orderId` (no command object built: import-orders passes its rows as they are). */
  private importRow(b: Book, orderId: number, c: ImportRow): Reason {
    if (!this.importFits(b, orderId, c)) return this.reject(isId(orderId) ? orderId : 0, 0, Reason.IMPORT_INVALID);
    const o = this.newOrder(b, orderId, c.owner, c.side, c.kind, c.price, c.stopPrice, c.leaves, c.tif, c.stp, c.postOnly, c.clientOrderId ?? "");
    o.cum = c.cum;
    o.notional = c.notional;
    o.fromId = c.fromOrderId;
    if (c.kind === OrderKind.LIMIT) {
      const s = b.side(c.side);
      let level = s.byPrice.get(c.price);
      if (level === undefined) {
        level = this.levelPool.pop() ?? new Level();
        level.price = c.price;
        s.insert(level);
      }
      level.append(o);
    } else b.stops(c.side).push(o);
    this.indexOrder(o);
    if (c.peer !== 0) {
      const p = this.stopAt(b, c.peer - 1)!;
      o.peer = p;
      p.peer = o;
    }
    return Reason.OK;
  }

  /**
   * Rows of an import in one command, each taking the next imported-order id, in order; a row
   * that does not fit is refused (IMPORT_INVALID, its id spent) and the others are still taken,
   * as separate import-order commands would be. Refused whole, once, when the book is not importing.
   */
  importOrders(c: ImportOrdersCommand): Reason {
    const b = this.moveTarget(c, InstrumentMode.IMPORTING);
    if (typeof b === "number") return b;
    let out: Reason = Reason.OK;
    for (const row of c.rows) {
      if (IMPORTED_ID_BASE + this.importedOrders >= IMPORTED_ID_END) {
        out = this.reject(0, 0, Reason.IMPORT_INVALID);
        continue;
      }
      const why = this.importRow(b, IMPORTED_ID_BASE + this.importedOrders++, row);
      if (why !== Reason.OK) out = why;
    }
    return out;
  }

  /** The import's order `index` among the stops imported so far (buy stops, then sell stops), if there is one. */
  private stopAt(b: Book, index: number): Order | undefined {
    const buys = b.buyStops.orders;
    return index < buys.length ? buys[index] : b.sellStops.orders[index - buys.length];
  }

  /** Whether an imported row is a valid resting or pending order of `b` that comes where the export order says. */
  private importFits(b: Book, orderId: number, c: ImportRow): boolean {
    const cfg = b.config;
    const shape = isId(orderId) && !this.orders.has(orderId) && isId(c.fromOrderId) && isAccount(c.owner) && isEnum(c.side, Side.SELL) && isEnum(c.tif, Tif.FOK)
      && isEnum(c.stp, Stp.CANCEL_BOTH) && typeof c.postOnly === "boolean" && Number.isSafeInteger(c.peer) && c.peer >= 0;
    if (!shape) return false;
    const qty = isId(c.leaves) && c.leaves % cfg.lotSize === 0 && Number.isSafeInteger(c.cum) && c.cum >= 0 && c.cum % cfg.lotSize === 0 && c.cum + c.leaves <= cfg.qtyMax
      && Number.isSafeInteger(c.notional) && c.notional >= 0 && c.notional <= cfg.qtyMax * cfg.priceMax && (c.cum === 0) === (c.notional === 0);
    if (!qty) return false;
    const coid = c.clientOrderId ?? "";
    if (coid !== "" && !isClientOrderId(coid)) return false;
    const holder = coid === "" ? undefined : this.clientIds.get(c.owner);
    const peer = c.peer === 0 ? undefined : this.stopAt(b, c.peer - 1);
    // A client id in use is refused, unless it is the pair's own: the stop leg came first and holds it until its limit leg arrives.
    if (holder !== undefined && holder.has(coid) && (peer === undefined || holder.live.get(coid) !== peer)) return false;
    if (c.kind === OrderKind.LIMIT) return this.limitFits(b, c, peer);
    if (c.kind !== OrderKind.STOP_LIMIT && c.kind !== OrderKind.STOP_MARKET) return false;
    const resting = b.bids.levels.length + b.asks.levels.length;
    const order = resting === 0 && c.peer === 0 && !c.postOnly && (c.side === Side.SELL || b.sellStops.orders.length === 0) && b.stops(c.side).appendable(c.stopPrice);
    const prices = this.checkPrice(b, c.stopPrice) === Reason.OK && !b.stops(c.side).reached(b.lastPrice, c.stopPrice)
      && (c.kind === OrderKind.STOP_MARKET ? c.price === 0 && c.tif === Tif.IOC : this.checkPrice(b, c.price) === Reason.OK);
    return order && prices;
  }

  /** A resting limit: GTC, on tick and in band, bids best to worst before asks best to worst, not crossing; its OCO stop leg already imported and free. */
  private limitFits(b: Book, c: ImportRow, peer: Order | undefined): boolean {
    if (c.tif !== Tif.GTC || this.checkPrice(b, c.price) !== Reason.OK) return false;
    if (c.peer !== 0 && (peer === undefined || peer.peer !== null || peer.account !== c.owner || peer.side !== c.side)) return false;
    const worst = b.side(c.side).levels[0];
    if (c.side === Side.BUY) return b.asks.levels.length === 0 && (worst === undefined || c.price <= worst.price);
    const bid = b.bids.best();
    return (worst === undefined || c.price >= worst.price) && (bid === undefined || c.price > bid.price);
  }

  /** Ends an import: with the count and book hash it began with, the book goes ACTIVE, each owner is told (imported) and the levels appear. */
  importEnd(c: ImportEndCommand): Reason {
    const b = this.moveTarget(c, InstrumentMode.IMPORTING);
    if (typeof b === "number") return b;
    const orders = this.exportOrder(b);
    if (orders.length !== b.expectOrders || this.bookHashOfBook(b, orders) !== b.expectHash) return this.reject(0, 0, Reason.IMPORT_MISMATCH);
    for (const o of orders) this.listener.imported(b.id, o.id, o.account, o.fromId, liveStatus(o), o.leaves, o.cum, o.notional, o.coid, b.peerShard);
    for (const o of orders) o.fromId = 0;
    for (const side of [b.bids, b.asks]) {
      for (let i = side.levels.length - 1; i >= 0; i--) this.listener.level(b.id, side.side, side.levels[i]!.price, side.levels[i]!.qty);
    }
    b.mode = InstrumentMode.ACTIVE;
    b.peerShard = "";
    b.expectOrders = 0;
    b.expectHash = "";
    return Reason.OK;
  }

  /** Abandons an import: the orders taken so far are dropped without reports (their owners were never told of them); the book is AWAY again. */
  importAbort(c: ImportAbortCommand): Reason {
    const b = this.moveTarget(c, InstrumentMode.IMPORTING);
    if (typeof b === "number") return b;
    this.dropOrders(b, false);
    b.mode = InstrumentMode.AWAY;
    b.expectOrders = 0;
    b.expectHash = "";
    return Reason.OK;
  }

  /** Takes every order out of `b` (index, client ids, pool) and clears its levels and stops, emitting each level's end when `levels`; lastPrice goes to 0. */
  private dropOrders(b: Book, levels: boolean): void {
    for (const o of this.exportOrder(b)) {
      this.unindexOrder(o);
      if (o.coid !== "") {
        const ids = this.clientIds.get(o.account);
        if (ids !== undefined && ids.live.get(o.coid) === o) {
          ids.live.delete(o.coid);
          if (ids.empty) this.clientIds.delete(o.account);
        }
      }
      this.free(o);
    }
    for (const side of [b.bids, b.asks]) {
      for (let i = side.levels.length - 1; i >= 0; i--) {
        const level = side.levels[i]!;
        if (levels) this.listener.level(b.id, side.side, level.price, 0);
        level.head = null;
        level.tail = null;
        level.qty = 0;
        level.count = 0;
        side.byPrice.delete(level.price);
        this.levelPool.push(level);
      }
      side.levels.length = 0;
    }
    b.buyStops.orders.length = 0;
    b.sellStops.orders.length = 0;
    b.lastPrice = 0;
  }

  /** The book's live orders in the export order (move.ts): buy stops, sell stops, bids best to worst, asks best to worst. */
  private exportOrder(b: Book): Order[] {
    const out: Order[] = [...b.buyStops.orders, ...b.sellStops.orders];
    for (const side of [b.bids, b.asks]) {
      for (let i = side.levels.length - 1; i >= 0; i--) {
        for (let o = side.levels[i]!.head; o !== null; o = o.next) out.push(o);
      }
    }
    return out;
  }

  private exportRows(b: Book, orders = this.exportOrder(b)): MoveRow[] {
    const stopIndex = this.stopIndexOf(b, orders);
    return orders.map((o): MoveRow => {
      const peer = o.level !== null && o.peer !== null ? stopIndex.get(o.peer)! + 1 : 0;
      return [o.id, o.account, o.side, o.kind, o.tif, o.stp, o.postOnly ? 1 : 0, o.price, o.stopPrice, o.leaves, o.cum, o.notional, peer, o.coid];
    });
  }

  /** Each stop's index in the export order (stops come first): what an OCO limit leg's row names its stop leg by. */
  private stopIndexOf(b: Book, orders: readonly Order[]): Map<Order, number> {
    const stopIndex = new Map<Order, number>();
    const stops = b.buyStops.orders.length + b.sellStops.orders.length;
    for (let i = 0; i < stops; i++) stopIndex.set(orders[i]!, i);
    return stopIndex;
  }

  /** bookHashOf(exportRows(b)), hashed as the orders are visited: no row is built (a replica serves it on every mover's poll). */
  private bookHashOfBook(b: Book, orders = this.exportOrder(b)): string {
    const stopIndex = this.stopIndexOf(b, orders);
    const h = bookHasher(b.config, b.lastPrice, orders.length);
    for (const o of orders) {
      h.add(o.account); h.add(o.side); h.add(o.kind); h.add(o.tif); h.add(o.stp); h.add(o.postOnly ? 1 : 0);
      h.add(o.price); h.add(o.stopPrice); h.add(o.leaves); h.add(o.cum); h.add(o.notional);
      h.add(o.level !== null && o.peer !== null ? stopIndex.get(o.peer)! + 1 : 0);
      h.addText(o.coid);
    }
    return h.digest();
  }

  /** The instrument's book hash (move.ts): equal on a move's source at its HALT and on its target at the end of its import. */
  bookHash(instrument: number): string | undefined {
    const b = this.books.get(instrument);
    return b === undefined ? undefined : this.bookHashOfBook(b);
  }

  /** The instrument's book for a move, with its mode and the seq of its HALT; what a replica serves the mover. `rows` false: without the rows. */
  exportBook(instrument: number, rows = true): BookExport | undefined {
    const b = this.books.get(instrument);
    if (b === undefined) return undefined;
    const orders = this.exportOrder(b);
    return {
      instrument: b.config, mode: b.mode, haltSeq: b.haltSeq, moveClaim: b.moveClaim, lastPrice: b.lastPrice, orders: rows ? this.exportRows(b, orders) : [], orderCount: orders.length,
      bookHash: this.bookHashOfBook(b, orders),
    };
  }

  /** Where the instrument stands on this shard (InstrumentMode), undefined when it is not configured. */
  instrumentMode(instrument: number): InstrumentMode | undefined {
    return this.books.get(instrument)?.mode;
  }

  // ---- validation -----------------------------------------------------------------------

  private atOpenLimit(account: number, adding: number): boolean {
    return this.openOrdersMax > 0 && (this.openByAccount.get(account) ?? 0) + adding > this.openOrdersMax;
  }

  private indexOrder(o: Order): void {
    this.orders.set(o.id, o);
    this.openByAccount.set(o.account, (this.openByAccount.get(o.account) ?? 0) + 1);
  }

  private unindexOrder(o: Order): void {
    if (!this.orders.delete(o.id)) return;
    const n = this.openByAccount.get(o.account)! - 1;
    if (n === 0) this.openByAccount.delete(o.account);
    else this.openByAccount.set(o.account, n);
  }

  private checkNew(book: Book, id: number, account: number, side: Side, qty: number, stp: Stp): Reason {
    if (book.mode !== InstrumentMode.ACTIVE) return book.mode === InstrumentMode.AWAY ? Reason.INSTRUMENT_MOVED : Reason.INSTRUMENT_MOVING;
    if (!isId(id) || !isAccount(account) || !isEnum(side, Side.SELL) || !isEnum(stp, Stp.CANCEL_BOTH)) return Reason.INVALID_FIELD;
    const r = this.checkQty(book, qty);
    if (r !== Reason.OK) return r;
    return this.orders.has(id) ? Reason.DUPLICATE_ORDER_ID : Reason.OK;
  }

  private checkQty(book: Book, qty: number): Reason {
    const c = book.config;
    if (!Number.isSafeInteger(qty)) return Reason.INVALID_FIELD;
    if (qty < c.qtyMin) return Reason.QTY_TOO_SMALL;
    if (qty > c.qtyMax) return Reason.QTY_TOO_LARGE;
    return qty % c.lotSize === 0 ? Reason.OK : Reason.QTY_NOT_ON_LOT;
  }

  private checkPrice(book: Book, price: number): Reason {
    const c = book.config;
    if (!Number.isSafeInteger(price)) return Reason.INVALID_FIELD;
    if (price < c.priceMin || price > c.priceMax) return Reason.PRICE_OUT_OF_BAND;
    return price % c.tickSize === 0 ? Reason.OK : Reason.PRICE_NOT_ON_TICK;
  }

  private checkStopPrices(book: Book, side: Side, stopPrice: number, price: number): Reason {
    let r = this.checkPrice(book, stopPrice);
    if (r === Reason.OK && price !== 0) r = this.checkPrice(book, price);
    if (r === Reason.OK && book.stops(side).reached(book.lastPrice, stopPrice)) r = Reason.STOP_WOULD_TRIGGER;
    return r;
  }

  private checkOwned(o: Order | undefined, id: number, account: number): Reason {
    if (!isId(id) || !isAccount(account)) return Reason.INVALID_FIELD;
    if (o === undefined) return Reason.UNKNOWN_ORDER;
    return account === 0 || o.account === account ? Reason.OK : Reason.NOT_OWNER;
  }

  /** A refusal that names no order the sender may see: status REJECTED, quantities 0. */
  private reject(id: number, account: number, reason: Reason, coid = ""): Reason {
    this.listener.rejected(isId(id) ? id : 0, isAccount(account) ? account : 0, reason, isClientOrderId(coid) ? coid : "", OrderStatus.REJECTED, 0, 0, 0);
    return reason;
  }

  /** A refused cancel or modify of a live order the sender may touch: the order as it stands. */
  private rejectOn(o: Order, account: number, reason: Reason): Reason {
    this.listener.rejected(o.id, account, reason, o.coid, liveStatus(o), o.leaves, o.cum, o.notional);
    return reason;
  }

  private rejectFinished(f: FinishedOrder, account: number, reason: Reason): Reason {
    this.listener.rejected(f.orderId, account, reason, f.coid, f.status, 0, f.cum, f.notional);
    return reason;
  }

  /**
   * Refuses a new order. A duplicate client id is answered with the order holding it; any other
   * refusal reserves the (well-formed) client id as a finished, REJECTED order, so that a resend
   * of the same request is recognised rather than tried again.
   */
  private rejectNew(id: number, account: number, reason: Reason, coid: string): Reason {
    if (reason === Reason.DUPLICATE_CLIENT_ORDER_ID) {
      const ids = this.clientIds.get(account)!;
      const live = ids.live.get(coid);
      return live !== undefined ? this.rejectOn(live, account, reason) : this.rejectFinished(ids.finished(coid)!, account, reason);
    }
    this.reject(id, account, reason, coid);
    if (coid !== "" && isAccount(account) && isClientOrderId(coid)) {
      this.idsOf(account).remember({ coid, orderId: isId(id) ? id : 0, status: OrderStatus.REJECTED, cum: 0, notional: 0 }, this.recentIdsMax);
    }
    return reason;
  }

  /** UNKNOWN_ORDER for a client id no live order of the account holds; a recently finished order's end is reported. */
  private rejectUnknownClientId(coid: string, account: number): Reason {
    if (!isAccount(account) || !isClientOrderId(coid)) return this.reject(0, account, Reason.INVALID_FIELD);
    const done = this.clientIds.get(account)?.finished(coid);
    return done !== undefined ? this.rejectFinished(done, account, Reason.UNKNOWN_ORDER) : this.reject(0, account, Reason.UNKNOWN_ORDER, coid);
  }

  /** The live order a cancel or modify by client id names (on `instrument`, when it gives one), or its refusal, reported. */
  private namedByClientId(coid: string, account: number, instrument: number | undefined): Order | Reason {
    const o = this.liveByClientId(coid, account);
    if (o === undefined) return this.rejectUnknownClientId(coid, account);
    if (instrument !== undefined && o.book!.id !== instrument) return this.reject(0, account, Reason.UNKNOWN_ORDER, coid);
    return o;
  }

  private liveByClientId(coid: string, account: number): Order | undefined {
    return isAccount(account) && isClientOrderId(coid) ? this.clientIds.get(account)?.live.get(coid) : undefined;
  }

  /** "" (no client id) passes; otherwise it must be well formed and not in use by the account. */
  private checkClientId(account: number, coid: string): Reason {
    if (coid === "") return Reason.OK;
    if (!isAccount(account) || !isClientOrderId(coid)) return Reason.INVALID_FIELD;
    return this.clientIds.get(account)?.has(coid) === true ? Reason.DUPLICATE_CLIENT_ORDER_ID : Reason.OK;
  }

  private idsOf(account: number): ClientIds {
    let ids = this.clientIds.get(account);
    if (ids === undefined) this.clientIds.set(account, (ids = new ClientIds()));
    return ids;
  }

  /** True when an order on `side` at `price` would trade with the opposite best level. */
  private crosses(book: Book, side: Side, price: number): boolean {
    const best = book.opposite(side).best();
    return best !== undefined && (side === Side.BUY ? best.price <= price : best.price >= price);
  }

  /**
   * Whether `qty` can be filled completely right now, honouring self-trade prevention: an
   * own order that would cancel the taker stops the walk; one that would itself be cancelled
   * is skipped. Walks at most the levels and orders needed.
   */
  private fillable(book: Book, side: Side, account: number, stp: Stp, limited: boolean, price: number, qty: number): boolean {
    const levels = book.opposite(side).levels;
    let sum = 0;
    for (let i = levels.length - 1; i >= 0; i--) {
      const level = levels[i]!;
      if (limited && (side === Side.BUY ? level.price > price : level.price < price)) return false;
      if (stp === Stp.NONE) sum += level.qty;
      else {
        for (let m = level.head; m !== null; m = m.next) {
          if (m.account === account) {
            if (stp !== Stp.CANCEL_OLDEST) return false;
          } else sum += m.leaves;
          if (sum >= qty) return true;
        }
      }
      if (sum >= qty) return true;
    }
    return false;
  }

  // ---- matching -------------------------------------------------------------------------

  private executeThenStops(book: Book, o: Order): void {
    const trades = this.tradeSeq;
    this.execute(book, o);
    if (this.tradeSeq !== trades) this.runStops(book);
  }

  /** Matches an incoming order, then rests its remainder (GTC limit) or lets it expire. */
  private execute(book: Book, t: Order): void {
    const limited = t.kind === OrderKind.LIMIT;
    if (!limited || this.crosses(book, t.side, t.price)) {
      if (this.match(book, t, limited)) {
        this.listener.cancelled(book.id, t.id, t.account, t.leaves, CancelReason.STP, t.cum, t.notional, t.coid);
        if (t.peer !== null) this.cancelPeer(t);
        this.finish(t, OrderStatus.CANCELLED);
        return;
      }
    }
    if (t.leaves === 0) this.finish(t, OrderStatus.FILLED);
    else if (limited && t.tif === Tif.GTC) this.rest(book, t);
    else {
      this.listener.expired(book.id, t.id, t.account, t.leaves, t.cum, t.notional, t.coid);
      if (t.peer !== null) this.cancelPeer(t);
      this.finish(t, OrderStatus.EXPIRED);
    }
  }

  /** Walks the opposite side from its best level. Returns true when self-trade prevention killed the taker. */
  private match(book: Book, t: Order, limited: boolean): boolean {
    const makers = book.opposite(t.side);
    const levels = makers.levels;
    const buy = t.side === Side.BUY;
    while (t.leaves > 0 && levels.length > 0) {
      const level = levels[levels.length - 1]!;
      if (limited && (buy ? level.price > t.price : level.price < t.price)) break;
      const before = level.qty;
      const killed = this.matchLevel(book, t, level);
      if (level.qty !== before) this.listener.level(book.id, makers.side, level.price, level.qty);
      if (level.count === 0) this.dropLevel(makers, level);
      if (killed) return true;
    }
    return false;
  }

  private matchLevel(book: Book, t: Order, level: Level): boolean {
    let m = level.head;
    while (m !== null && t.leaves > 0) {
      const next = m.next;
      if (t.stp !== Stp.NONE && m.account === t.account) {
        if (t.stp === Stp.CANCEL_NEWEST) return true;
        this.cancelResting(book, m, CancelReason.STP);
        if (t.stp === Stp.CANCEL_BOTH) return true;
        m = next;
        continue;
      }
      const q = m.leaves < t.leaves ? m.leaves : t.leaves;
      const value = q * level.price;
      m.leaves -= q;
      m.cum += q;
      m.notional += value;
      t.leaves -= q;
      t.cum += q;
      t.notional += value;
      level.qty -= q;
      book.lastPrice = level.price;
      this.listener.trade(book.id, ++this.tradeSeq, m.id, m.account, t.id, t.account, t.side, level.price, q, m.leaves, t.leaves, m.cum, m.notional, t.cum, t.notional, m.coid, t.coid);
      if (m.peer !== null) this.cancelPendingPeer(m);
      if (t.peer !== null) this.cancelPendingPeer(t);
      if (m.leaves === 0) {
        level.unlink(m);
        this.unindexOrder(m);
        this.finish(m, OrderStatus.FILLED);
      }
      m = next;
    }
    return false;
  }

  /** Cancels a resting maker during matching; the caller owns removal of an emptied level. */
  private cancelResting(book: Book, m: Order, reason: CancelReason): void {
    const level = m.level!;
    const left = m.leaves;
    level.unlink(m);
    this.unindexOrder(m);
    this.listener.cancelled(book.id, m.id, m.account, left, reason, m.cum, m.notional, m.coid);
    if (m.peer !== null) this.cancelPeer(m);
    this.finish(m, OrderStatus.CANCELLED);
  }

  private rest(book: Book, o: Order): void {
    const side = book.side(o.side);
    let level = side.byPrice.get(o.price);
    if (level === undefined) {
      level = this.levelPool.pop() ?? new Level();
      level.price = o.price;
      side.insert(level);
    }
    level.append(o);
    this.indexOrder(o);
    this.listener.level(book.id, o.side, o.price, level.qty);
  }

  /** Takes a resting order out of its level (emitting the level change); index and pool untouched. */
  private unrest(book: Book, o: Order): void {
    const level = o.level!;
    level.unlink(o);
    this.listener.level(book.id, o.side, level.price, level.qty);
    if (level.count === 0) this.dropLevel(book.side(o.side), level);
  }

  private dropLevel(side: SideBook, level: Level): void {
    side.remove(level);
    level.head = null;
    level.tail = null;
    level.qty = 0;
    this.levelPool.push(level);
  }

  /** Removes a live order (resting or pending stop) outside matching, and its OCO peer. */
  private remove(o: Order, reason: CancelReason): void {
    const book = o.book!;
    if (o.level !== null) this.unrest(book, o);
    else book.stops(o.side).remove(o);
    this.unindexOrder(o);
    this.listener.cancelled(book.id, o.id, o.account, o.leaves, reason, o.cum, o.notional, o.coid);
    if (o.peer !== null) this.cancelPeer(o);
    this.finish(o, OrderStatus.CANCELLED);
  }

  /** Cancels `o`'s OCO peer; the pair's client id stays with `o`, which outlives it. */
  private cancelPeer(o: Order): void {
    const p = o.peer!;
    o.peer = null;
    p.peer = null;
    if (p.coid !== "") {
      const ids = this.clientIds.get(p.account)!;
      if (ids.live.get(p.coid) === p) ids.live.set(p.coid, o);
    }
    this.remove(p, CancelReason.OCO);
  }

  /**
   * During matching an order that trades can only have a pending stop as its peer (a limit
   * leg's peer is the stop leg; a triggered stop dropped its peer at trigger), so removing
   * the peer never touches the level being walked. Asserted, because the walk depends on it.
   */
  private cancelPendingPeer(o: Order): void {
    if (o.peer!.level !== null) throw new Error("engine invariant: a trading order's OCO peer must be a pending stop");
    this.cancelPeer(o);
  }

  /**
   * Triggers pending stops reached by the last trade price, one at a time, buy side first,
   * re-reading the price after each because a triggered order can trade and move it.
   * Bounded: each stop triggers at most once.
   */
  private runStops(book: Book): void {
    for (;;) {
      let o = book.buyStops.top();
      if (o === undefined || !book.buyStops.reached(book.lastPrice, o.stopPrice)) {
        o = book.sellStops.top();
        if (o === undefined || !book.sellStops.reached(book.lastPrice, o.stopPrice)) return;
      }
      this.activate(book, o);
    }
  }

  private activate(book: Book, o: Order): void {
    book.stops(o.side).remove(o);
    this.unindexOrder(o);
    this.listener.triggered(book.id, o.id, o.account, o.leaves, o.coid);
    if (o.peer !== null) this.cancelPeer(o);
    o.kind = o.kind === OrderKind.STOP_LIMIT ? OrderKind.LIMIT : OrderKind.MARKET;
    o.stopPrice = 0;
    const limited = o.kind === OrderKind.LIMIT;
    if (o.tif === Tif.FOK && !this.fillable(book, o.side, o.account, o.stp, limited, o.price, o.leaves)) {
      this.listener.expired(book.id, o.id, o.account, o.leaves, o.cum, o.notional, o.coid);
      this.finish(o, OrderStatus.EXPIRED);
      return;
    }
    this.execute(book, o);
  }

  // ---- order pool -----------------------------------------------------------------------

  /** A pooled order; with a client id, it becomes that id's live holder. */
  private newOrder(book: Book, id: number, account: number, side: Side, kind: OrderKind, price: number, stopPrice: number, qty: number, tif: Tif, stp: Stp, postOnly: boolean, coid: string): Order {
    const o = this.orderPool.pop() ?? new Order();
    o.id = id;
    o.account = account;
    o.side = side;
    o.kind = kind;
    o.price = price;
    o.stopPrice = stopPrice;
    o.leaves = qty;
    o.tif = tif;
    o.stp = stp;
    o.postOnly = postOnly;
    o.cum = 0;
    o.notional = 0;
    o.coid = coid;
    o.book = book;
    o.fromId = 0;
    if (coid !== "") this.idsOf(account).live.set(coid, o);
    return o;
  }

  /**
   * An order is done (filled, cancelled, expired): the client id it holds moves to the
   * account's recently finished ones, with how the order ended, then the order goes to the pool.
   */
  private finish(o: Order, status: OrderStatus): void {
    if (o.coid !== "") {
      const ids = this.clientIds.get(o.account)!;
      if (ids.live.get(o.coid) === o) {
        ids.live.delete(o.coid);
        ids.remember({ coid: o.coid, orderId: o.id, status, cum: o.cum, notional: o.notional }, this.recentIdsMax);
        if (ids.empty) this.clientIds.delete(o.account);
      }
    }
    this.free(o);
  }

  private free(o: Order): void {
    o.book = null;
    o.level = null;
    o.prev = null;
    o.next = null;
    o.peer = null;
    o.coid = "";
    this.orderPool.push(o);
  }

  // ---- queries, snapshot, hash --------------------------------------------------------

  instruments(): InstrumentConfig[] {
    return [...this.books.values()].map((b) => b.config);
  }

  order(id: number): OrderView | undefined {
    const o = this.orders.get(id);
    return o === undefined ? undefined : this.view(o);
  }

  /** The account's live order holding client order id `coid`, if any. */
  orderByClientId(account: number, coid: string): OrderView | undefined {
    const o = this.liveByClientId(coid, account);
    return o === undefined ? undefined : this.view(o);
  }

  private view(o: Order): OrderView {
    return {
      id: o.id, instrument: o.book!.id, account: o.account, side: o.side, kind: o.kind, tif: o.tif, postOnly: o.postOnly, price: o.price, stopPrice: o.stopPrice, leaves: o.leaves,
      cum: o.cum, notional: o.notional, clientOrderId: o.coid, status: liveStatus(o), peerId: o.peer?.id ?? 0,
    };
  }

  /**
   * The live orders (resting and pending stops) of `account`, order id ascending: the same list
   * on every replica at the same seq, restored from a snapshot or not. It visits every live order
   * until it has found the account's (the engine keeps only their count per account, to keep
   * the match path free of a second index), so it is for reads that are not on the hot path.
   */
  openOrders(account: number): OrderView[] {
    const wanted = this.openByAccount.get(account) ?? 0;
    const out: OrderView[] = [];
    if (wanted === 0) return out;
    for (const book of this.books.values()) {
      this.forEachOrder(book, (o) => { if (o.account === account) out.push(this.view(o)); });
      if (out.length === wanted) break;
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** Ids of the orders resting at one price, in time priority. */
  levelOrders(instrument: number, side: Side, price: number): number[] {
    const ids: number[] = [];
    const level = this.books.get(instrument)?.side(side).byPrice.get(price);
    for (let o = level?.head ?? null; o !== null; o = o.next) ids.push(o.id);
    return ids;
  }

  depth(instrument: number, levelsMax = Number.MAX_SAFE_INTEGER): Depth {
    const book = this.books.get(instrument);
    const side = (s: SideBook | undefined): [number, number][] => {
      const out: [number, number][] = [];
      const levels = s?.levels ?? [];
      for (let i = levels.length - 1; i >= 0 && out.length < levelsMax; i--) out.push([levels[i]!.price, levels[i]!.qty]);
      return out;
    };
    return { bids: side(book?.bids), asks: side(book?.asks) };
  }

  lastPrice(instrument: number): number {
    return this.books.get(instrument)?.lastPrice ?? 0;
  }

  /** Number of live orders (resting limits and pending stops). */
  get liveOrders(): number {
    return this.orders.size;
  }

  /**
   * Visits every live order of a book in canonical order: bids best to worst, each level in
   * time priority, then asks likewise, then buy stops and sell stops in storage order.
   * Snapshot and state hash both use this order, so equal states hash equally.
   */
  private forEachOrder(book: Book, visit: (o: Order) => void): void {
    for (const side of [book.bids, book.asks]) {
      for (let i = side.levels.length - 1; i >= 0; i--) {
        for (let o = side.levels[i]!.head; o !== null; o = o.next) visit(o);
      }
    }
    for (const o of book.buyStops.orders) visit(o);
    for (const o of book.sellStops.orders) visit(o);
  }

  /** Accounts with recently finished client ids, ascending (sorted: a Map's order is not data order). */
  private accountsWithRecentIds(): number[] {
    return [...this.clientIds.keys()].filter((a) => this.clientIds.get(a)!.recentCount > 0).sort((a, b) => a - b);
  }

  snapshot(): EngineSnapshot {
    const books = [...this.books.values()].map((book) => {
      const orders: SnapshotRow[] = [];
      this.forEachOrder(book, (o) => {
        orders.push([o.id, o.account, o.side, o.kind, o.tif, o.stp, o.postOnly ? 1 : 0, o.price, o.stopPrice, o.leaves, o.peer?.id ?? 0, o.cum, o.notional, o.coid]);
      });
      if (book.mode === InstrumentMode.ACTIVE && book.moveClaim === 0) return { instrument: book.id, lastPrice: book.lastPrice, orders };
      const fromIds: number[] = [];
      if (book.mode === InstrumentMode.IMPORTING) this.forEachOrder(book, (o) => { fromIds.push(o.fromId); });
      const move: SnapshotMove = {
        mode: book.mode, haltSeq: book.haltSeq, peerShard: book.peerShard, expectOrders: book.expectOrders, expectHash: book.expectHash, fromIds,
        ...(book.moveClaim === 0 ? {} : { claim: book.moveClaim }),
      };
      return { instrument: book.id, lastPrice: book.lastPrice, orders, move };
    });
    const recentClientOrderIds = this.accountsWithRecentIds().map((account) => {
      const orders: FinishedRow[] = [];
      this.clientIds.get(account)!.forEachRecent((f) => orders.push([f.coid, f.orderId, f.status, f.cum, f.notional]));
      return { account, orders };
    });
    return {
      format: 3, tradeSeq: this.tradeSeq, ...(this.importedOrders === 0 ? {} : { importedOrders: this.importedOrders }), openOrdersMaxPerAccount: this.openOrdersMax, recentClientOrderIdsMaxPerAccount: this.recentIdsMax,
      instruments: this.instruments(), books, recentClientOrderIds,
    };
  }

  /** Rebuilds an engine from a snapshot; `options` (the node's configuration) win over the snapshot's. */
  static restore(snap: EngineSnapshot, listener: EngineListener, options?: EngineOptions): Engine {
    if (snap.format !== 2 && snap.format !== 3) throw new Error(`unsupported engine snapshot format ${String(snap.format)} (this engine reads formats 2 and 3)`);
    const e = new Engine(snap.instruments, listener, options ?? { openOrdersMaxPerAccount: snap.openOrdersMaxPerAccount, recentClientOrderIdsMaxPerAccount: snap.recentClientOrderIdsMaxPerAccount });
    e.tradeSeq = snap.tradeSeq;
    const imported = snap.importedOrders ?? 0;
    if (!Number.isSafeInteger(imported) || imported < 0 || imported > IMPORTED_ID_END - IMPORTED_ID_BASE) throw new Error(`snapshot: importedOrders ${String(imported)} is not a count of imported orders`);
    e.importedOrders = imported;
    for (const b of snap.books) {
      const book = e.books.get(b.instrument);
      if (book === undefined) throw new Error(`snapshot names unknown instrument ${b.instrument}`);
      book.lastPrice = b.lastPrice;
      for (const row of b.orders) e.restoreOrder(book, row);
      if (b.move !== undefined) e.restoreMove(book, b.orders, b.move);
    }
    for (const b of snap.books) {
      for (const row of b.orders) {
        if (row[10] !== 0) e.orders.get(row[0])!.peer = e.orders.get(row[10]) ?? null;
      }
    }
    // Replayed in the order they finished, so a smaller limit forgets the same oldest ones everywhere.
    for (const { account, orders } of snap.recentClientOrderIds) {
      for (const [coid, orderId, status, cum, notional] of orders) e.idsOf(account).remember({ coid, orderId, status: status as OrderStatus, cum, notional }, e.recentIdsMax);
    }
    return e;
  }

  private restoreMove(book: Book, rows: readonly SnapshotRow[], m: SnapshotMove): void {
    book.mode = m.mode;
    book.haltSeq = m.haltSeq;
    book.peerShard = m.peerShard;
    book.expectOrders = m.expectOrders;
    book.expectHash = m.expectHash;
    const claim = m.claim ?? 0;
    if (!Number.isSafeInteger(claim) || claim < 0) throw new Error(`snapshot: instrument ${book.id} has move claim ${String(claim)}, not a seq`);
    book.moveClaim = claim;
    if (m.fromIds.length !== 0 && m.fromIds.length !== rows.length) throw new Error(`snapshot: instrument ${book.id} has ${rows.length} orders and ${m.fromIds.length} import ids`);
    m.fromIds.forEach((fromId, i) => { this.orders.get(rows[i]![0])!.fromId = fromId; });
  }

  private restoreOrder(book: Book, row: SnapshotRow): void {
    const [id, account, side, kind, tif, stp, postOnly, price, stopPrice, leaves, , cum, notional, coid] = row;
    const holder = coid === "" ? undefined : this.clientIds.get(account)?.live.get(coid);
    const o = this.newOrder(book, id, account, side as Side, kind as OrderKind, price, stopPrice, leaves, tif as Tif, stp as Stp, postOnly === 1, coid);
    o.cum = cum;
    o.notional = notional;
    // Two live orders share a client id only as an OCO pair with its stop pending: the limit leg holds it.
    if (holder !== undefined && kind !== OrderKind.LIMIT) this.clientIds.get(account)!.live.set(coid, holder);
    if (kind === OrderKind.LIMIT) {
      const s = book.side(o.side);
      let level = s.byPrice.get(price);
      if (level === undefined) {
        level = new Level();
        level.price = price;
        s.insert(level);
      }
      level.append(o);
    } else book.stops(o.side).push(o);
    this.indexOrder(o);
  }

  /** A 64-bit digest (16 hex digits) of the whole state; equal states give equal hashes everywhere. */
  stateHash(): string {
    const h = new StateHasher();
    h.add(this.tradeSeq);
    h.add(this.openOrdersMax);
    h.add(this.recentIdsMax);
    const ids = [...this.books.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const book = this.books.get(id)!;
      h.add(id);
      h.add(book.lastPrice);
      this.forEachOrder(book, (o) => {
        h.add(o.id); h.add(o.account); h.add(o.side); h.add(o.kind); h.add(o.tif); h.add(o.stp);
        h.add(o.postOnly ? 1 : 0); h.add(o.price); h.add(o.stopPrice); h.add(o.leaves); h.add(o.peer?.id ?? 0);
        h.add(o.cum); h.add(o.notional); h.addText(o.coid);
      });
      // Only a book being moved adds its move state, so the hash of a shard that never moved anything is what it always was.
      if (book.mode !== InstrumentMode.ACTIVE) {
        h.add(-2); h.add(book.mode); h.add(book.haltSeq); h.addText(book.peerShard); h.add(book.expectOrders); h.addText(book.expectHash);
        this.forEachOrder(book, (o) => h.add(o.fromId));
      }
      // Likewise a claim, once there is one (a claimed book may be ACTIVE again).
      if (book.moveClaim !== 0) { h.add(-3); h.add(book.moveClaim); }
      h.add(-1);
    }
    for (const account of this.accountsWithRecentIds()) {
      h.add(account);
      this.clientIds.get(account)!.forEachRecent((f) => {
        h.addText(f.coid); h.add(f.orderId); h.add(f.status); h.add(f.cum); h.add(f.notional);
      });
      h.add(-1);
    }
    // Only once import-orders has taken an id, so the hash of a shard that never did is what it always was.
    if (this.importedOrders !== 0) { h.add(-3); h.add(this.importedOrders); }
    return h.digest();
  }
}
