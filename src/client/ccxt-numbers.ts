/**
 * The CCXT adapter's number policy (docs/ccxt.md, "Numbers"). CCXT speaks JS numbers; Lockstep
 * is exact. Going in, a number is read through its shortest decimal text (`String(n)`, an
 * exponent written out), then converted by reference.ts's exact `fromDecimal`: 0.1 is "0.1",
 * never 0.1000000000000000055511151231257827. Coming out, every value is computed exactly as a
 * decimal string first (BigInt arithmetic on wire units) and only then turned into the nearest
 * number; the strings are kept beside the numbers (`info`). No float is multiplied or divided
 * on the way.
 */
import { DecimalError, fromDecimal, type InstrumentRef } from "../protocol/reference.js";

/**
 * Digits an average fill price carries beyond the instrument's price scale. `ntl / cum` is
 * exact when it terminates within them (always, when every fill had the same price); otherwise
 * it is rounded half up at the last of them.
 */
export const AVERAGE_EXTRA_DIGITS = 8;

const EXPONENT = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/;
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** The shortest decimal text of a finite number, never with an exponent (1e-7 is "0.0000001"). */
export function plainDecimal(n: number): string {
  if (!Number.isFinite(n)) throw new DecimalError(`${String(n)} is not a finite number`);
  const text = String(n);
  const m = EXPONENT.exec(text);
  if (m === null) return text;
  const [, sign, whole, fraction = "", exp] = m as unknown as [string, string, string, string | undefined, string];
  const digits = whole + fraction;
  const point = whole.length + Number(exp);
  const body = point <= 0 ? `0.${"0".repeat(-point)}${digits}` : point >= digits.length ? digits + "0".repeat(point - digits.length) : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return sign + body.replace(/^0+(?=\d)/, "");
}

/** A CCXT input value (number or decimal string) as decimal text; refuses anything else. */
export function decimalText(value: unknown, what: string): string {
  if (typeof value === "number") return plainDecimal(value);
  if (typeof value === "string") return value;
  throw new DecimalError(`${what} must be a number or a decimal string, not ${value === null ? "null" : typeof value}`);
}

/**
 * `value` in wire units at `scale`, a positive multiple of `stepUnits`: the exact conversion
 * or a DecimalError saying why not (too many decimals, off the step, not positive).
 */
export function stepUnits(value: unknown, scale: number, stepUnitsOf: number, stepText: string, what: string): number {
  const text = decimalText(value, what);
  const units = fromDecimal(text, scale);
  if (units <= 0) throw new DecimalError(`${what} ${text} must be positive`);
  if (units % stepUnitsOf !== 0) throw new DecimalError(`${what} ${text} is not a multiple of ${stepText}`);
  return units;
}

/** `units` × 10^−scale as a plain decimal string, for any scale (a cost has priceScale + qtyScale digits). */
export function scaledDecimal(units: bigint, scale: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, "");
  return (negative ? "-" : "") + (fraction === "" ? whole : `${whole}.${fraction}`);
}

/** round(num / den × 10^digits), half up, for positive num and den. */
function ratioUnits(num: bigint, den: bigint, digits: number): bigint {
  const scaled = num * 10n ** BigInt(digits);
  const q = scaled / den;
  return 2n * (scaled % den) >= den ? q + 1n : q;
}

/**
 * The average fill price ntl / cum of an order as a decimal of the quote (ntl is in price units
 * × quantity units, cum in quantity units, so ntl / cum is in price units): exact when the
 * division terminates within AVERAGE_EXTRA_DIGITS more digits, else rounded half up there.
 * Undefined before the first fill.
 */
export function averageDecimal(ref: InstrumentRef, ntl: number, cum: number): string | undefined {
  if (cum <= 0) return undefined;
  return scaledDecimal(ratioUnits(BigInt(ntl), BigInt(cum), AVERAGE_EXTRA_DIGITS), ref.priceScale + AVERAGE_EXTRA_DIGITS);
}

/** The cost (quote volume) of `notionalUnits` (price units × quantity units), exact. */
export const costDecimal = (ref: InstrumentRef, notionalUnits: bigint): string => scaledDecimal(notionalUnits, ref.priceScale + ref.qtyScale);

export const RoundingMode = { ROUND: "round", TRUNCATE: "truncate" } as const;
export type RoundingMode = (typeof RoundingMode)[keyof typeof RoundingMode];

/**
 * CCXT's priceToPrecision / amountToPrecision, exact: `value` (number or decimal string) to a
 * multiple of `stepUnitsOf` units at `scale`, rounded half up or truncated towards zero, as a
 * decimal string. "63999.985000000004" at tick 0.01 rounds to "63999.99".
 */
export function toStep(value: unknown, scale: number, stepUnitsOf: number, mode: RoundingMode, what: string): string {
  const text = decimalText(value, what);
  const m = DECIMAL.exec(text);
  if (m === null) throw new DecimalError(`${JSON.stringify(text)} is not a decimal number`);
  const [, sign, whole, fraction = ""] = m as unknown as [string, string, string, string | undefined];
  // text = digits / 10^k; in steps that is digits × 10^scale / (10^k × step).
  const num = BigInt(whole + fraction) * 10n ** BigInt(scale);
  const den = 10n ** BigInt(fraction.length) * BigInt(stepUnitsOf);
  let steps = num / den;
  if (mode === RoundingMode.ROUND && 2n * (num % den) >= den) steps += 1n;
  const units = steps * BigInt(stepUnitsOf);
  return (sign === "-" && units !== 0n ? "-" : "") + scaledDecimal(units, scale);
}
