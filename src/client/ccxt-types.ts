/**
 * CCXT's unified structures as the adapter returns them (CCXT Manual: "Market Structure",
 * "Order Book Structure", "Order Structure", "Trade Structure"). Numbers are the nearest JS
 * number to an exact decimal; the exact decimals are under `info` (docs/ccxt.md, "Numbers").
 * Fields Lockstep has no value for are `undefined`, as CCXT leaves them: no fees, and no time on
 * execution reports.
 */
import type { InstrumentRef } from "../protocol/reference.js";

export type Side = "buy" | "sell";
/** CCXT's order statuses. */
export type OrderStatus = "open" | "closed" | "canceled" | "expired" | "rejected";
/** CCXT's timeInForce: 'PO' is a post-only (GTC) limit order. */
export type TimeInForceName = "GTC" | "IOC" | "FOK" | "PO";

export interface MinMax { readonly min: number | undefined; readonly max: number | undefined }

export interface Market {
  /** Lockstep's symbol, as REST paths name the instrument ("BTC-USD"). */
  readonly id: string;
  /** CCXT's unified symbol: "BASE/QUOTE" when the id has a separator ("BTC-USD" → "BTC/USD"), else the id. */
  readonly symbol: string;
  readonly base: string;
  readonly quote: string | undefined;
  readonly baseId: string;
  readonly quoteId: string | undefined;
  /** The wire's instrument id. */
  readonly numericId: number;
  readonly active: boolean;
  readonly type: "spot";
  readonly spot: true;
  readonly margin: false;
  readonly swap: false;
  readonly future: false;
  readonly option: false;
  readonly contract: false;
  /** CCXT's TICK_SIZE precision mode: the steps themselves (0.01), not a count of digits. */
  readonly precision: { readonly amount: number; readonly price: number };
  readonly limits: { readonly amount: MinMax; readonly price: MinMax; readonly cost: MinMax };
  readonly maker: undefined;
  readonly taker: undefined;
  readonly info: InstrumentRef;
}

/** [price, amount] */
export type Level = [number, number];

export interface OrderBook {
  readonly symbol: string;
  /** Best first, as CCXT orders them. */
  readonly bids: Level[];
  readonly asks: Level[];
  /** Books carry no time in Lockstep. */
  readonly timestamp: undefined;
  readonly datetime: undefined;
  /** The seq the book is as of. */
  readonly nonce: number;
  readonly info: {
    readonly seq: number;
    /** The feed's `cs` for this book (CRC-32 of the top 10 levels per side, in wire units). */
    readonly checksum: number;
    readonly bids: [string, string][];
    readonly asks: [string, string][];
  };
}

/** An order's exact values: decimal strings, and the Lockstep names behind the CCXT ones. */
export interface OrderInfo {
  readonly orderId: number;
  readonly instrument: number | undefined;
  /** Lockstep's status (NEW, PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED, REJECTED, PENDING_TRIGGER). */
  readonly status: string;
  readonly price: string | undefined;
  readonly triggerPrice: string | undefined;
  readonly amount: string | undefined;
  readonly filled: string | undefined;
  readonly remaining: string | undefined;
  readonly cost: string | undefined;
  readonly average: string | undefined;
}

export interface Order {
  readonly id: string;
  readonly clientOrderId: string | undefined;
  /** Execution reports carry no time: always undefined (docs/ccxt.md). */
  readonly timestamp: undefined;
  readonly datetime: undefined;
  readonly lastTradeTimestamp: undefined;
  readonly status: OrderStatus;
  /** Undefined for an order of the account that this adapter neither placed nor listed (its reports do not say). */
  readonly symbol: string | undefined;
  readonly type: "limit" | "market" | undefined;
  readonly timeInForce: TimeInForceName | undefined;
  readonly postOnly: boolean | undefined;
  readonly side: Side | undefined;
  readonly price: number | undefined;
  readonly triggerPrice: number | undefined;
  readonly average: number | undefined;
  readonly amount: number | undefined;
  readonly filled: number | undefined;
  /** Still open: 0 once the order is done, whatever was cancelled or expired. */
  readonly remaining: number | undefined;
  /** Quote volume filled: the sum of price × amount over the fills, exact. */
  readonly cost: number | undefined;
  readonly trades: Trade[];
  readonly fee: undefined;
  readonly fees: [];
  readonly reduceOnly: false;
  readonly info: OrderInfo;
}

export interface TradeInfo {
  readonly tradeId: number;
  /** The command whose match made the trade. */
  readonly seq: number;
  readonly price: string;
  readonly amount: string;
  readonly cost: string;
  /** Public trades: the sequencer's stamp of the command, µs since the epoch. */
  readonly tsUs: number | undefined;
}

export interface Trade {
  readonly id: string;
  /** Your order's id (watchMyTrades); undefined for public trades. */
  readonly order: string | undefined;
  readonly symbol: string | undefined;
  /** Public trades: the sequencer's stamp in ms; your fills (execution reports): undefined. */
  readonly timestamp: number | undefined;
  readonly datetime: string | undefined;
  readonly type: "limit" | "market" | undefined;
  /** Public trades: the taker's side; your fills: your order's side. */
  readonly side: Side | undefined;
  readonly takerOrMaker: "taker" | "maker" | undefined;
  readonly price: number;
  readonly amount: number;
  readonly cost: number;
  readonly fee: undefined;
  readonly fees: [];
  readonly info: TradeInfo;
}

/** createOrder's `params`: the unified extras CCXT defines, and Lockstep's self-trade prevention. */
export interface CreateOrderParams {
  /** 1–36 visible ASCII characters; generated ("ccxt-…") when absent, so every order has one. */
  readonly clientOrderId?: string;
  readonly timeInForce?: TimeInForceName;
  readonly postOnly?: boolean;
  readonly selfTradePrevention?: "none" | "cancelNewest" | "cancelOldest" | "cancelBoth";
}

/** cancelOrder's `params`: name the order by your client order id instead of `id`. */
export interface CancelOrderParams {
  readonly clientOrderId?: string;
}
