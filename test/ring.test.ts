/** The circular buffer keeps the newest `capacity` entries in order, whatever the number of pushes. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Ring } from "../src/util/ring.js";

describe("Ring", () => {
  it("behaves like an array trimmed to its last `capacity` entries", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer(), { maxLength: 100 }), (cap, xs) => {
      const r = new Ring<number>(cap);
      xs.forEach((x) => r.push(x));
      const want = xs.slice(-cap);
      expect([...r]).toEqual(want);
      expect(r.length).toBe(want.length);
      want.forEach((x, i) => expect(r.at(i)).toBe(x));
      expect(r.at(want.length)).toBeUndefined();
      expect(r.at(-1)).toBeUndefined();
    }), { seed: 3, numRuns: 300 });
  });
  it("refuses a capacity that is not a positive integer", () => {
    expect(() => new Ring(0)).toThrow(/positive integer/);
  });
});
