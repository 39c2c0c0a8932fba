/**
 * Reference data: what a client must know about an instrument to trade it, in the words a
 * client uses. The engine speaks integers only (prices in the instrument's smallest price unit,
 * quantities in its smallest quantity unit); a client speaks decimal strings ("0.01"). The
 * scales join the two: a price of p units is p × 10^−priceScale in the quote currency, a
 * quantity of q units is q × 10^−qtyScale of the base. Conversions are exact string arithmetic:
 * never a float, so "0.1" + "0.2" is never 0.30000000000000004 lots of anything.
 */
import type { InstrumentConfig } from "../engine/index.js";

/** Decimal digits a scale may have: 10^18 units keep every integer of the engine exact. */
export const SCALE_MAX = 18;

/** How one instrument is configured (the config file's `instruments[]`, validated there): the engine's rules plus the scales. */
export interface InstrumentSpec extends InstrumentConfig {
  /** Decimal digits of the price unit (0 when absent: integer prices). */
  readonly priceScale?: number;
  /** Decimal digits of the quantity unit (0 when absent: integer quantities). */
  readonly qtyScale?: number;
}

/** Trading status of an instrument as reference data reports it. */
export const InstrumentStatus = { OPEN: "open" } as const;
export type InstrumentStatus = (typeof InstrumentStatus)[keyof typeof InstrumentStatus];

/**
 * One instrument as served to clients (feed `INSTRUMENTS`, HTTP `/v1/instruments`). Decimal
 * fields are strings in units of the quote (prices) or base (quantities); the integer fields
 * are what the wire's `px`/`qty` carry.
 */
export interface InstrumentRef {
  readonly id: number;
  readonly symbol: string;
  readonly status: InstrumentStatus;
  readonly priceScale: number;
  readonly qtyScale: number;
  /** Smallest price step, decimal ("0.01"); wire prices are multiples of `tickUnits`. */
  readonly tickSize: string;
  /** Smallest quantity step, decimal; wire quantities are multiples of `lotUnits`. */
  readonly lotSize: string;
  readonly tickUnits: number;
  readonly lotUnits: number;
  readonly qtyMin: string;
  readonly qtyMax: string;
  /** Static price band: limit and stop prices must lie in [priceMin, priceMax]. */
  readonly priceMin: string;
  readonly priceMax: string;
}

/** A decimal string that cannot be an exact number of units: the message says why. */
export class DecimalError extends Error {
  override readonly name = "DecimalError";
}

function checkScale(scale: number): void {
  if (!Number.isInteger(scale) || scale < 0 || scale > SCALE_MAX) throw new DecimalError(`scale ${String(scale)} is not an integer in 0..${SCALE_MAX}`);
}

/** `units` × 10^−scale as a plain decimal string: no exponent, no trailing zeros after the point. */
export function toDecimal(units: number, scale: number): string {
  checkScale(scale);
  if (!Number.isSafeInteger(units)) throw new DecimalError(`${String(units)} is not a safe integer`);
  const negative = units < 0;
  const digits = String(Math.abs(units)).padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, "");
  return (negative ? "-" : "") + (fraction === "" ? whole : `${whole}.${fraction}`);
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * A decimal string ("12.5", "0.001", "-3") as an exact number of 10^−scale units. Refuses
 * exponents, blanks, signs other than a leading "-", more fraction digits than the scale
 * holds (unless they are zeros) and results beyond ±(2^53 − 1).
 */
export function fromDecimal(text: string, scale: number): number {
  checkScale(scale);
  const m = typeof text === "string" ? DECIMAL.exec(text) : null;
  if (m === null) throw new DecimalError(`${JSON.stringify(text)} is not a decimal number (digits, an optional "." and more digits)`);
  const [, sign, whole, rawFraction = ""] = m as unknown as [string, string, string, string | undefined];
  const fraction = rawFraction.replace(/0+$/, "");
  if (fraction.length > scale) throw new DecimalError(`${text} has ${fraction.length} decimal places; this instrument allows ${scale}`);
  const digits = (whole + fraction.padEnd(scale, "0")).replace(/^0+(?=\d)/, "");
  const units = Number(digits);
  if (!Number.isSafeInteger(units)) throw new DecimalError(`${text} is beyond ${toDecimal(Number.MAX_SAFE_INTEGER, scale)}`);
  return sign === "-" && units !== 0 ? -units : units;
}

/** The reference data of one configured instrument. */
export function instrumentRef(spec: InstrumentSpec): InstrumentRef {
  const priceScale = spec.priceScale ?? 0;
  const qtyScale = spec.qtyScale ?? 0;
  return {
    id: spec.id, symbol: spec.symbol, status: InstrumentStatus.OPEN, priceScale, qtyScale,
    tickSize: toDecimal(spec.tickSize, priceScale), lotSize: toDecimal(spec.lotSize, qtyScale),
    tickUnits: spec.tickSize, lotUnits: spec.lotSize,
    qtyMin: toDecimal(spec.qtyMin, qtyScale), qtyMax: toDecimal(spec.qtyMax, qtyScale),
    priceMin: toDecimal(spec.priceMin, priceScale), priceMax: toDecimal(spec.priceMax, priceScale),
  };
}

/** A price in decimal (quote units) as wire units of this instrument; throws DecimalError. */
export const priceUnits = (ref: InstrumentRef, price: string): number => fromDecimal(price, ref.priceScale);
/** A quantity in decimal (base units) as wire units of this instrument; throws DecimalError. */
export const qtyUnits = (ref: InstrumentRef, qty: string): number => fromDecimal(qty, ref.qtyScale);
/** Wire price units of this instrument as a decimal string. */
export const priceDecimal = (ref: InstrumentRef, units: number): string => toDecimal(units, ref.priceScale);
/** Wire quantity units of this instrument as a decimal string. */
export const qtyDecimal = (ref: InstrumentRef, units: number): string => toDecimal(units, ref.qtyScale);
