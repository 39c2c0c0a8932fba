/**
 * Decimal strings in, integer wire units out, and back: the SDK's side of reference data
 * (src/protocol/reference.ts). `"123.45"` at priceScale 2 is exactly 12345 price units; a
 * price with more decimals than the instrument has is refused with a DecimalError, never
 * rounded. No float is involved anywhere.
 */
import { priceDecimal, priceUnits, qtyDecimal, qtyUnits, type InstrumentRef } from "../protocol/reference.js";
import type { OrderRequest } from "./codec.js";

/** An OrderRequest with its prices and quantity as decimal strings of the instrument (quote and base units). */
export type DecimalOrderRequest = Omit<OrderRequest, "instrument" | "quantity" | "price" | "stopPrice" | "stopLimitPrice"> & {
  readonly quantity: string;
  readonly price?: string;
  readonly stopPrice?: string;
  readonly stopLimitPrice?: string;
};

/** The OrderRequest (integer units, for TradingClient.submit) of a decimal one; throws DecimalError on a value the instrument cannot hold exactly. */
export function orderFromDecimal(ref: InstrumentRef, o: DecimalOrderRequest): OrderRequest {
  const px = (p: string | undefined): number | undefined => (p === undefined ? undefined : priceUnits(ref, p));
  return { ...o, instrument: ref.id, quantity: qtyUnits(ref, o.quantity), price: px(o.price), stopPrice: px(o.stopPrice), stopLimitPrice: px(o.stopLimitPrice) };
}

/** Book levels ([price, qty] in wire units, as REST and the feed give them) as decimal strings. */
export function levelsToDecimal(ref: InstrumentRef, levels: readonly (readonly [number, number])[]): [string, string][] {
  return levels.map(([p, q]) => [priceDecimal(ref, p), qtyDecimal(ref, q)]);
}
