/**
 * The engine's order index (open addressing with backward-shift deletion) behaves exactly like
 * a Map under random sets, deletes and gets, including ids above 2^32, clustered ids that
 * collide, and growth past many resizes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IdMap } from "../src/engine/id-map.js";

const seed = Number(process.env.FC_SEED ?? 20261125);

describe("IdMap", () => {
  it("matches Map on random operation sequences", () => {
    const key = fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 50 }).map((k) => 1 + k * 1024));
    const op = fc.tuple(fc.constantFrom("set", "set", "delete", "get"), key);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000, size: "max" }), (ops) => {
        const m = new IdMap<number>();
        const ref = new Map<number, number>();
        ops.forEach(([kind, k], i) => {
          if (kind === "set") {
            m.set(k, i);
            ref.set(k, i);
          } else if (kind === "delete") expect(m.delete(k)).toBe(ref.delete(k));
          else expect(m.get(k)).toBe(ref.get(k));
        });
        expect(m.size).toBe(ref.size);
        for (const [k, v] of ref) expect(m.get(k)).toBe(v);
      }),
      { seed, numRuns: 200 },
    );
  });

  it("keeps every key reachable after heavy churn and growth", () => {
    const m = new IdMap<number>();
    for (let i = 1; i <= 200_000; i++) m.set(i * 7, i);
    for (let i = 1; i <= 200_000; i += 2) m.delete(i * 7);
    expect(m.size).toBe(100_000);
    for (let i = 1; i <= 200_000; i++) expect(m.get(i * 7)).toBe(i % 2 === 0 ? i : undefined);
  });
});
