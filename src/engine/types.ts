/**
 * Engine vocabulary: sides, order kinds, time-in-force, self-trade prevention modes,
 * reason codes and the event listener. Everything is an integer so the engine never
 * touches a float, and `const` objects with derived union types stand in for TS enums.
 */

export const Side = { BUY: 0, SELL: 1 } as const;
export type Side = (typeof Side)[keyof typeof Side];

export const Tif = { GTC: 0, IOC: 1, FOK: 2 } as const;
export type Tif = (typeof Tif)[keyof typeof Tif];

/** What happens when an incoming order would trade with a resting order of the same account. */
export const Stp = {
  /** Self-trades are allowed. */
  NONE: 0,
  /** The incoming (newest) order's remainder is cancelled; the resting order stays. */
  CANCEL_NEWEST: 1,
  /** The resting (oldest) order is cancelled and matching continues. */
  CANCEL_OLDEST: 2,
  /** Both are cancelled. */
  CANCEL_BOTH: 3,
} as const;
export type Stp = (typeof Stp)[keyof typeof Stp];

export const OrderKind = { LIMIT: 0, MARKET: 1, STOP_LIMIT: 2, STOP_MARKET: 3 } as const;
export type OrderKind = (typeof OrderKind)[keyof typeof OrderKind];

/** Why an order left the book other than by filling. */
export const CancelReason = {
  USER: 0,
  /** Self-trade prevention removed it. */
  STP: 1,
  /** Its one-cancels-other peer traded, triggered or was cancelled. */
  OCO: 2,
  /** The account's kill switch (cancel-all). */
  KILL: 3,
} as const;
export type CancelReason = (typeof CancelReason)[keyof typeof CancelReason];

/**
 * Where an order stands, as execution reports say it (the names follow FIX OrdStatus). An
 * order is NEW (or PENDING_TRIGGER for a stop) until it trades, PARTIALLY_FILLED while it has
 * traded and is still open, and ends FILLED, CANCELLED or EXPIRED. REJECTED: the order was
 * never created (or, for a refused cancel or modify, the engine knows no such order).
 */
export const OrderStatus = {
  NEW: 0,
  PARTIALLY_FILLED: 1,
  FILLED: 2,
  CANCELLED: 3,
  EXPIRED: 4,
  REJECTED: 5,
  PENDING_TRIGGER: 6,
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];

export const ORDER_STATUS_NAME: Readonly<Record<OrderStatus, string>> = {
  0: "NEW",
  1: "PARTIALLY_FILLED",
  2: "FILLED",
  3: "CANCELLED",
  4: "EXPIRED",
  5: "REJECTED",
  6: "PENDING_TRIGGER",
};

/** Longest client order id: 36 characters holds a UUID in its usual text form. */
export const CLIENT_ORDER_ID_LENGTH_MAX = 36;
/** Client order ids are visible ASCII, 0x21 ('!') to 0x7e ('~'): no spaces, no control characters. */
export const CLIENT_ORDER_ID_CHAR_MIN = 0x21;
export const CLIENT_ORDER_ID_CHAR_MAX = 0x7e;

/** True for a well-formed client order id: a string of 1–36 visible ASCII characters. */
export function isClientOrderId(x: unknown): x is string {
  if (typeof x !== "string" || x.length === 0 || x.length > CLIENT_ORDER_ID_LENGTH_MAX) return false;
  for (let i = 0; i < x.length; i++) {
    const c = x.charCodeAt(i);
    if (c < CLIENT_ORDER_ID_CHAR_MIN || c > CLIENT_ORDER_ID_CHAR_MAX) return false;
  }
  return true;
}

/**
 * Reason codes for rejected commands. Stable numbers: they go on the wire and into logs.
 * 0 is success. REASON_TEXT below gives the plain-language message for each.
 */
export const Reason = {
  OK: 0,
  UNKNOWN_INSTRUMENT: 1,
  INVALID_FIELD: 2,
  PRICE_NOT_ON_TICK: 3,
  PRICE_OUT_OF_BAND: 4,
  QTY_NOT_ON_LOT: 5,
  QTY_TOO_SMALL: 6,
  QTY_TOO_LARGE: 7,
  DUPLICATE_ORDER_ID: 8,
  UNKNOWN_ORDER: 9,
  NOT_OWNER: 10,
  POST_ONLY_WOULD_CROSS: 11,
  FOK_NOT_FILLABLE: 12,
  NO_LIQUIDITY: 13,
  STOP_WOULD_TRIGGER: 14,
  NOT_MODIFIABLE: 15,
  INVALID_OCO: 16,
  TOO_MANY_OPEN_ORDERS: 17,
  DUPLICATE_CLIENT_ORDER_ID: 18,
  INSTRUMENT_MOVING: 19,
  INSTRUMENT_MOVED: 20,
  MOVE_STATE: 21,
  IMPORT_INVALID: 22,
  IMPORT_MISMATCH: 23,
  MOVE_STALE: 24,
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export const REASON_NAME: Readonly<Record<Reason, string>> = {
  0: "OK",
  1: "UNKNOWN_INSTRUMENT",
  2: "INVALID_FIELD",
  3: "PRICE_NOT_ON_TICK",
  4: "PRICE_OUT_OF_BAND",
  5: "QTY_NOT_ON_LOT",
  6: "QTY_TOO_SMALL",
  7: "QTY_TOO_LARGE",
  8: "DUPLICATE_ORDER_ID",
  9: "UNKNOWN_ORDER",
  10: "NOT_OWNER",
  11: "POST_ONLY_WOULD_CROSS",
  12: "FOK_NOT_FILLABLE",
  13: "NO_LIQUIDITY",
  14: "STOP_WOULD_TRIGGER",
  15: "NOT_MODIFIABLE",
  16: "INVALID_OCO",
  17: "TOO_MANY_OPEN_ORDERS",
  18: "DUPLICATE_CLIENT_ORDER_ID",
  19: "INSTRUMENT_MOVING",
  20: "INSTRUMENT_MOVED",
  21: "MOVE_STATE",
  22: "IMPORT_INVALID",
  23: "IMPORT_MISMATCH",
  24: "MOVE_STALE",
};

export const REASON_TEXT: Readonly<Record<Reason, string>> = {
  0: "accepted",
  1: "no instrument with this id is configured",
  2: "a field is missing, not a safe integer, or out of its allowed range",
  3: "price is not a multiple of the instrument's tick size",
  4: "price is outside the instrument's price band",
  5: "quantity is not a multiple of the instrument's lot size",
  6: "quantity is below the instrument's minimum",
  7: "quantity is above the instrument's maximum",
  8: "an order with this id is already live",
  9: "no live order has this id",
  10: "the order belongs to another account",
  11: "a post-only order would have traded on arrival, so it was rejected rather than repriced",
  12: "a fill-or-kill order cannot be filled completely at its limit price",
  13: "a market order found no opposite liquidity",
  14: "the stop price is already reached by the last trade price",
  15: "only resting limit orders can be modified",
  16: "an OCO pair needs two distinct new order ids",
  17: "the account already has the maximum number of open orders",
  18: "the account already used this client order id for a live or recent order",
  19: "the instrument is being moved to another shard: its book is frozen until the move ends; send again after it (to the shard the new map names)",
  20: "the instrument is held by another shard: read the shard map again and send it there",
  21: "the instrument is not in the state this step of a move needs (halt needs it trading, resume and release need it halted, an import needs it held elsewhere)",
  22: "an imported order is not a valid resting order of this book, or does not come in the export's order",
  23: "the imported book does not have the order count and book hash its import began with",
  24: "this step of a move carries another claim than the instrument's latest: a later mover claimed it (or the step is from a mover that stopped), so it is ignored",
};

/**
 * Where an instrument stands on this shard (docs/scaling.md, "Moving an instrument"). Only an
 * ACTIVE book trades. A HALTED book is frozen by a sequenced HALT, so its state at any later seq
 * is its state at the HALT; an IMPORTING book is being filled by a sequenced import and trades
 * only once the import ends with the hash it began with; an AWAY book is empty, the instrument
 * being held by another shard.
 */
export const InstrumentMode = { ACTIVE: 0, HALTED: 1, IMPORTING: 2, AWAY: 3 } as const;
export type InstrumentMode = (typeof InstrumentMode)[keyof typeof InstrumentMode];
export const INSTRUMENT_MODE_NAME: Readonly<Record<InstrumentMode, string>> = { 0: "ACTIVE", 1: "HALTED", 2: "IMPORTING", 3: "AWAY" };

/** Per-instrument trading rules. All integers: prices in ticks of the smallest unit, sizes in lots. */
export interface InstrumentConfig {
  readonly id: number;
  readonly symbol: string;
  /** Every price must be a multiple of this (in the instrument's smallest price unit). */
  readonly tickSize: number;
  /** Every quantity must be a multiple of this. */
  readonly lotSize: number;
  readonly qtyMin: number;
  readonly qtyMax: number;
  /**
   * Static price band: limit and stop prices must lie in [priceMin, priceMax]. qtyMax × priceMax
   * must be a safe integer, so that an order's cumulative notional always is one.
   */
  readonly priceMin: number;
  readonly priceMax: number;
}

/**
 * Receives the engine's output. Every argument is a primitive (a client order id is a string
 * the order already holds, "" when it has none) so the match loop allocates nothing; a consumer
 * that wants objects builds them itself. Calls arrive in the exact order the engine decided
 * things, which is the order execution reports and L2 deltas must follow.
 *
 * Order events carry the order's running totals after the event: `cum` (quantity filled so
 * far) and `notional` (the sum of price × qty over its fills, so the average fill price is
 * notional / cum). Status follows from the event (see OrderStatus and docs/engine.md).
 */
export interface EngineListener {
  /** A new order passed validation. `price` is 0 for market and stop-market orders. */
  accepted(instrument: number, orderId: number, account: number, side: Side, kind: OrderKind, price: number, qty: number, coid: string): void;
  /**
   * A command was refused; nothing changed. `status`, `leaves`, `cum` and `notional` describe
   * the order `orderId` as the engine knows it: for a refused new order, REJECTED and zeros; for
   * a refused cancel or modify of a live order the sender may touch, that order as it stands;
   * for a duplicate client order id, the order that holds it (live, or recently finished).
   */
  rejected(orderId: number, account: number, reason: Reason, coid: string, status: OrderStatus, leaves: number, cum: number, notional: number): void;
  /** One fill. `makerLeft`/`takerLeft` are the quantities still open after it (0 = done). */
  trade(
    instrument: number, tradeId: number, makerId: number, makerAccount: number, takerId: number, takerAccount: number, takerSide: Side, price: number, qty: number,
    makerLeft: number, takerLeft: number, makerCum: number, makerNotional: number, takerCum: number, takerNotional: number, makerCoid: string, takerCoid: string,
  ): void;
  /** An order left the book before filling: user request, self-trade prevention, OCO or kill switch. `leftQty` is what was open. */
  cancelled(instrument: number, orderId: number, account: number, leftQty: number, reason: CancelReason, cum: number, notional: number, coid: string): void;
  /** The unfilled rest (`leftQty`) of an IOC, FOK-checked or market order lapsed (time-in-force). */
  expired(instrument: number, orderId: number, account: number, leftQty: number, cum: number, notional: number, coid: string): void;
  /** A resting order's price and open quantity were set. Re-priced orders emit this then re-enter matching. */
  modified(instrument: number, orderId: number, account: number, price: number, qty: number, cum: number, notional: number, coid: string): void;
  /** A stop order's trigger price was reached; it now enters matching as a limit or market order for `leftQty`. */
  triggered(instrument: number, orderId: number, account: number, leftQty: number, coid: string): void;
  /** The kill switch for `account` finished, having cancelled `cancelledCount` orders (0 when it found none). */
  killed(account: number, cancelledCount: number): void;
  /** The aggregate open quantity at a price changed; 0 means the level is gone. */
  level(instrument: number, side: Side, price: number, qty: number): void;
  /**
   * A move released this instrument from this shard: order `orderId` left this shard's book, open
   * for `leftQty`, to go on living on shard `toShard` under a new id (told there by `imported`).
   */
  movedAway(instrument: number, orderId: number, account: number, leftQty: number, cum: number, notional: number, coid: string, toShard: string): void;
  /** A move's import ended here: order `orderId` rests on this shard, moved from shard `fromShard` where it was `fromOrderId`. */
  imported(instrument: number, orderId: number, account: number, fromOrderId: number, status: OrderStatus, leftQty: number, cum: number, notional: number, coid: string, fromShard: string): void;
}

/** Ignores every event; extend it to listen to a few. */
export class NullListener implements EngineListener {
  accepted(_instrument: number, _orderId: number, _account: number, _side: Side, _kind: OrderKind, _price: number, _qty: number, _coid: string): void {}
  rejected(_orderId: number, _account: number, _reason: Reason, _coid: string, _status: OrderStatus, _leaves: number, _cum: number, _notional: number): void {}
  trade(
    _instrument: number, _tradeId: number, _makerId: number, _makerAccount: number, _takerId: number, _takerAccount: number, _takerSide: Side, _price: number, _qty: number,
    _makerLeft: number, _takerLeft: number, _makerCum: number, _makerNotional: number, _takerCum: number, _takerNotional: number, _makerCoid: string, _takerCoid: string,
  ): void {}
  cancelled(_instrument: number, _orderId: number, _account: number, _leftQty: number, _reason: CancelReason, _cum: number, _notional: number, _coid: string): void {}
  expired(_instrument: number, _orderId: number, _account: number, _leftQty: number, _cum: number, _notional: number, _coid: string): void {}
  modified(_instrument: number, _orderId: number, _account: number, _price: number, _qty: number, _cum: number, _notional: number, _coid: string): void {}
  triggered(_instrument: number, _orderId: number, _account: number, _leftQty: number, _coid: string): void {}
  killed(_account: number, _cancelledCount: number): void {}
  level(_instrument: number, _side: Side, _price: number, _qty: number): void {}
  movedAway(_instrument: number, _orderId: number, _account: number, _leftQty: number, _cum: number, _notional: number, _coid: string, _toShard: string): void {}
  imported(_instrument: number, _orderId: number, _account: number, _fromOrderId: number, _status: OrderStatus, _leftQty: number, _cum: number, _notional: number, _coid: string, _fromShard: string): void {}
}
