/**
 * The publisher's ring of recent records: whatever the sizes and number of records pushed, it
 * holds a contiguous run of seqs ending at the newest, each record's bytes and chain exactly as
 * pushed, within its record and byte limits, and never fewer records than fit in half its bytes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CHAIN_BYTES } from "../src/protocol/record.js";
import { RecordRing } from "../src/replication/record-ring.js";

const seed = Number(process.env.FC_SEED ?? 20261203);

/** Record `seq` of `n` bytes, each byte telling its seq and place apart from any other record's. */
const bytesOf = (seq: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, k) => (seq * 31 + k * 7) & 0xff));
const chainOf = (seq: number): Buffer => Buffer.from(Array.from({ length: CHAIN_BYTES }, (_, k) => (seq * 13 + k) & 0xff));

describe("RecordRing", () => {
  it("keeps the newest records that fit, byte for byte, as a run of seqs ending at the newest", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 64, max: 2048 }),
        fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 400 }),
        (recordsMax, bytesMax, sizes) => {
          const ring = new RecordRing(recordsMax, bytesMax);
          // Sizes up to a quarter of the arena, so a record's skipped tail never costs a kept one.
          const lengths = sizes.map((s) => Math.max(1, Math.floor((s * bytesMax) / 64)));
          lengths.forEach((n, i) => ring.push(i + 1, bytesOf(i + 1, n), chainOf(i + 1)));
          const last = lengths.length;
          const first = ring.firstSeq!;
          expect(ring.length).toBe(last - first + 1);
          expect(ring.length).toBeLessThanOrEqual(recordsMax);
          let kept = 0;
          for (let seq = first; seq <= last; seq++) {
            expect(ring.payload(seq)!.equals(bytesOf(seq, lengths[seq - 1]!))).toBe(true);
            expect(ring.chain(seq)!.equals(chainOf(seq))).toBe(true);
            kept += lengths[seq - 1]!;
          }
          expect(kept).toBeLessThanOrEqual(bytesMax);
          expect([ring.payload(first - 1), ring.payload(last + 1), ring.chain(last + 1)]).toEqual([undefined, undefined, undefined]);
          // Every record of the newest run that fits in half the arena (and the record limit) is kept.
          let fit = 0;
          for (let bytes = 0, s = last; s >= 1 && fit < recordsMax && bytes + lengths[s - 1]! <= bytesMax / 2; s--, fit++) bytes += lengths[s - 1]!;
          expect(ring.length).toBeGreaterThanOrEqual(fit);
        },
      ),
      { seed, numRuns: 300 },
    );
  });

  it("starts again at a seq that does not follow, empties for a record larger than its arena, and clears", () => {
    const ring = new RecordRing(10, 100);
    for (let s = 1; s <= 5; s++) ring.push(s, bytesOf(s, 10), chainOf(s));
    expect([ring.firstSeq, ring.length]).toEqual([1, 5]);
    ring.push(9, bytesOf(9, 10), chainOf(9));
    expect([ring.firstSeq, ring.length, ring.has(5)]).toEqual([9, 1, false]);
    ring.push(10, bytesOf(10, 101), chainOf(10));
    expect([ring.firstSeq, ring.length, ring.payload(10)]).toEqual([undefined, 0, undefined]);
    ring.push(11, bytesOf(11, 100), chainOf(11));
    expect(ring.payload(11)!.equals(bytesOf(11, 100))).toBe(true);
    ring.clear();
    expect([ring.firstSeq, ring.length, ring.chain(11)]).toEqual([undefined, 0, undefined]);
  });

  it("hands out a chain that later pushes do not change", () => {
    const ring = new RecordRing(2, 64);
    ring.push(1, bytesOf(1, 8), chainOf(1));
    const chain = ring.chain(1)!;
    for (let s = 2; s <= 6; s++) ring.push(s, bytesOf(s, 8), chainOf(s));
    expect(chain.equals(chainOf(1))).toBe(true);
  });

  it("refuses limits that are not positive integers", () => {
    expect(() => new RecordRing(0)).toThrow(/positive integer/);
    expect(() => new RecordRing(10, 0)).toThrow(/positive integer/);
  });
});
