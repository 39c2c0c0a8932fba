/**
 * The drill's noise band (src/tools/drill/shards.ts noiseBand): the p99s that windows of quiet
 * load show by chance, by a moving-block bootstrap. A window from the same load falls inside;
 * one with a slower tail falls outside; bursts in the quiet run widen the band (blocks keep them
 * whole), where drawing single orders would not; the same inputs give the same band.
 */
import { describe, expect, it } from "vitest";
import { noiseBand } from "../src/tools/drill/shards.js";
import { Rng } from "../src/util/rng.js";

/** Latencies around 10 ms with an exponential-ish tail, from a seeded generator. */
function load(n: number, seed: number): number[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => 5 + 10 * -Math.log(1 - r.next()));
}

describe("noise band", () => {
  it("a window of the same load is within; one whose tail is 3x slower is not", () => {
    const quiet = load(3000, 1);
    const same = noiseBand(quiet, load(500, 2))!;
    expect(same.orders_per_window).toBe(500);
    expect(same.p99_low_ms).toBeLessThan(same.p99_high_ms);
    expect(same.within).toBe(true);
    const slow = load(500, 3).map((x, i) => (i % 50 === 0 ? x * 3 + 100 : x));
    const worse = noiseBand(quiet, slow)!;
    expect(worse.within).toBe(false);
    expect(worse.p99_ms).toBeGreaterThan(worse.p99_high_ms);
  });

  it("bursts in the quiet run widen the band: the same latencies shuffled give a narrower one", () => {
    // Every 300th order starts a burst of 15 slow ones (a pause delays the orders behind it).
    const bursty = load(3000, 4).map((x, i) => (i % 300 < 15 ? x + 80 : x));
    const r = new Rng(5);
    const shuffled = [...bursty];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const window = load(400, 6);
    const a = noiseBand(bursty, window)!;
    const b = noiseBand(shuffled, window)!;
    expect(a.p99_high_ms - a.p99_low_ms).toBeGreaterThan(2 * (b.p99_high_ms - b.p99_low_ms));
  });

  it("is the same for the same inputs, and null without quiet orders or a window", () => {
    const quiet = load(1000, 7);
    const w = load(100, 8);
    expect(noiseBand(quiet, w)).toEqual(noiseBand(quiet, w));
    expect(noiseBand([], w)).toBeNull();
    expect(noiseBand(quiet, [])).toBeNull();
    // A quiet run shorter than a block still gives a band.
    expect(noiseBand([3, 4], load(50, 9))).toMatchObject({ p99_low_ms: 4, p99_high_ms: 4 });
  });
});
