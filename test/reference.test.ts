import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DecimalError, fromDecimal, instrumentRef, toDecimal } from "../src/protocol/reference.js";

describe("reference data: decimal strings ↔ integer units", () => {
  it("converts exactly, both ways, for every safe integer and scale", () => {
    fc.assert(fc.property(fc.maxSafeInteger(), fc.integer({ min: 0, max: 18 }), (units, scale) => {
      const text = toDecimal(units, scale);
      expect(text).toMatch(/^-?\d+(\.\d*[1-9])?$/);
      expect(fromDecimal(text, scale)).toBe(units);
    }), { numRuns: 2000 });
  });

  it("reads trailing zeros, leading zeros and whole numbers", () => {
    expect(fromDecimal("0.10", 2)).toBe(10);
    expect(fromDecimal("007.5", 1)).toBe(75);
    expect(fromDecimal("3", 4)).toBe(30000);
    expect(fromDecimal("1.000", 0)).toBe(1);
    expect(fromDecimal("-0.00", 2)).toBe(0);
    expect(toDecimal(1, 2)).toBe("0.01");
    expect(toDecimal(-1050, 2)).toBe("-10.5");
  });

  it("refuses what is not an exact decimal of the scale, with the reason", () => {
    for (const [text, scale, why] of [
      ["0.001", 2, /3 decimal places; this instrument allows 2/], ["1e3", 0, /not a decimal/], ["", 2, /not a decimal/],
      [" 1", 2, /not a decimal/], ["+1", 2, /not a decimal/], ["1.", 2, /not a decimal/], [".5", 2, /not a decimal/],
      ["90071992547409.92", 2, /beyond/], ["1", 19, /scale 19/],
    ] as const) {
      expect(() => fromDecimal(text, scale)).toThrow(DecimalError);
      expect(() => fromDecimal(text, scale)).toThrow(why);
    }
    expect(() => fromDecimal(12 as unknown as string, 0)).toThrow(DecimalError);
  });

  it("describes an instrument in decimals", () => {
    const ref = instrumentRef({ id: 7, symbol: "BTC-USD", tickSize: 50, lotSize: 1000, qtyMin: 1000, qtyMax: 5_000_000, priceMin: 100, priceMax: 10_000_000, priceScale: 2, qtyScale: 6 });
    expect(ref).toEqual({
      id: 7, symbol: "BTC-USD", status: "open", priceScale: 2, qtyScale: 6, tickSize: "0.5", lotSize: "0.001", tickUnits: 50, lotUnits: 1000,
      qtyMin: "0.001", qtyMax: "5", priceMin: "1", priceMax: "100000",
    });
  });
});
