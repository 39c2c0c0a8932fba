/**
 * The engine's input, as plain objects. A sequenced command on the wire decodes to one of
 * these; `Engine.apply` dispatches it. The engine needs nothing else: no clock, no environment.
 * Account 0 is the operator: it may cancel or modify any order (used by replay tools and
 * kill switches); trading clients are always given a positive account by the gateway.
 *
 * `clientOrderId` is the sender's own name for a new order (1–36 visible ASCII characters),
 * unique per account among its live and recently finished orders; absent (or "") means none.
 * Cancel and modify name their order by `orderId` or by `clientOrderId`, exactly one of them.
 */
import type { Side, Stp, Tif } from "./types.js";

export interface LimitCommand {
  readonly type: "limit";
  readonly instrument: number;
  readonly orderId: number;
  readonly account: number;
  readonly side: Side;
  readonly price: number;
  readonly qty: number;
  readonly tif?: Tif;
  readonly postOnly?: boolean;
  readonly stp?: Stp;
  readonly clientOrderId?: string;
}

export interface MarketCommand {
  readonly type: "market";
  readonly instrument: number;
  readonly orderId: number;
  readonly account: number;
  readonly side: Side;
  readonly qty: number;
  readonly stp?: Stp;
  readonly clientOrderId?: string;
}

/** Stop-limit when `price` > 0, stop-market when `price` is 0 or absent. */
export interface StopCommand {
  readonly type: "stop";
  readonly instrument: number;
  readonly orderId: number;
  readonly account: number;
  readonly side: Side;
  readonly stopPrice: number;
  readonly price?: number;
  readonly qty: number;
  readonly tif?: Tif;
  readonly stp?: Stp;
  readonly clientOrderId?: string;
}

/** One-cancels-other: a GTC limit leg and a stop leg, same side and quantity. */
export interface OcoCommand {
  readonly type: "oco";
  readonly instrument: number;
  readonly account: number;
  readonly side: Side;
  readonly qty: number;
  readonly limitId: number;
  readonly price: number;
  readonly postOnly?: boolean;
  readonly stopId: number;
  readonly stopPrice: number;
  /** Limit price of the stop leg once triggered; 0 or absent makes it a stop-market. */
  readonly stopLimitPrice?: number;
  readonly stp?: Stp;
  /** One client order id names the pair: both legs carry it. */
  readonly clientOrderId?: string;
}

export interface CancelCommand {
  readonly type: "cancel";
  readonly orderId?: number;
  readonly clientOrderId?: string;
  readonly account: number;
}

/** Sets a resting limit order's price and open quantity. See Engine.modify for priority rules. */
export interface ModifyCommand {
  readonly type: "modify";
  readonly orderId?: number;
  readonly clientOrderId?: string;
  readonly account: number;
  readonly price: number;
  readonly qty: number;
}

/** The kill switch: cancels every live order (resting and pending stops) of `account`. */
export interface CancelAllCommand {
  readonly type: "cancel-all";
  readonly account: number;
}

export type Command = LimitCommand | MarketCommand | StopCommand | OcoCommand | CancelCommand | ModifyCommand | CancelAllCommand;
