/**
 * Latency recorders: percentiles within HDR's 3 significant digits of the exact ones, signed
 * values handled across zero, many samples at once, intervals rotate, means exact and read
 * without walking the histogram, and the Prometheus text carries every quantile.
 */
import * as hdr from "hdr-histogram-js";
import { describe, expect, it, vi } from "vitest";
import { LatencyRecorder, SignedLatency, signedSummaryBetween, summaryBetween } from "../src/metrics/latency.js";
import { PromText } from "../src/metrics/prometheus.js";

describe("latency recorders", () => {
  it("report percentiles within 0.1 % of exact ones, clamp out-of-range values", () => {
    const r = new LatencyRecorder();
    for (let v = 1; v <= 100_000; v++) r.record(v);
    const s = r.summary();
    expect(s.count).toBe(100_000);
    expect(Math.abs(s.p50 - 50_000) / 50_000).toBeLessThan(0.001);
    expect(Math.abs(s.p99 - 99_000) / 99_000).toBeLessThan(0.001);
    expect(s.max).toBeGreaterThanOrEqual(100_000);
    r.record(-5);
    r.record(1e12);
    expect(r.summary().count).toBe(100_002);
  });

  it("signed latencies: percentiles across negatives and positives", () => {
    const r = new SignedLatency();
    for (let v = -1000; v <= 1000; v++) if (v !== 0) r.record(v * 100);
    const s = r.summary();
    expect(s.count).toBe(2000);
    expect(Math.abs(s.p50)).toBeLessThan(200);
    expect(s.p90).toBeGreaterThan(79_000);
    expect(s.p90).toBeLessThan(81_000);
    const neg = new SignedLatency();
    for (let i = 0; i < 100; i++) neg.record(-250_000 - i);
    expect(neg.summary().p50).toBeLessThan(-249_000);
    expect(neg.summary().p50).toBeGreaterThan(-251_000);
  });

  it("recordMany(v, n) counts n samples of v, as n record(v) calls would (a batch's hop, once per record)", () => {
    const one = new LatencyRecorder();
    const many = new LatencyRecorder();
    for (let k = 0; k < 7; k++) one.record(300);
    one.record(10);
    many.recordMany(300, 7);
    many.recordMany(10, 1);
    expect(many.summary()).toEqual(one.summary());
    const signed = new SignedLatency();
    signed.recordMany(-50, 3);
    signed.recordMany(40, 1);
    expect(signed.summary().count).toBe(4);
    expect(signed.summary().p50).toBe(-50);
    expect(signed.summary().max).toBe(40);
  });

  it("rotate() makes the finished interval readable and starts a new one", () => {
    const r = new LatencyRecorder();
    r.record(10);
    r.rotate();
    r.record(1000);
    expect(r.summary("interval")).toMatchObject({ count: 1, p50: 10 });
    r.rotate();
    expect(r.summary("interval")).toMatchObject({ count: 1, p50: 1000 });
    expect(r.summary("cumulative").count).toBe(2);
  });

  // Finding 6 (docs/failover.md): hdr-histogram-js's `mean` walks every bucket up to the largest
  // value; a replica's /stats read ~30 of them on its event loop (250 ms to seconds under load),
  // long enough to cut its replication link. Means now come from running sums: exact, and cheap.
  it("means are the exact means of the recorded values, per interval and cumulative, and never walk the histogram", () => {
    const probe = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: false, useWebAssembly: false });
    const walked = vi.spyOn(Object.getPrototypeOf(probe) as object, "mean", "get");
    try {
      const r = new LatencyRecorder();
      r.record(3);
      r.record(1_000_001);
      r.recordMany(10, 2);
      r.rotate();
      r.record(59_999_999);
      expect(r.summary("interval").mean).toBe(Math.round((3 + 1_000_001 + 20) / 4));
      expect(r.summary("cumulative").mean).toBe(Math.round((3 + 1_000_001 + 20 + 59_999_999) / 5));
      const s = new SignedLatency();
      s.record(-1_000_001);
      s.record(3_000_003);
      expect(s.summary().mean).toBe(1_000_001);
      expect(walked).not.toHaveBeenCalled();
    } finally {
      walked.mockRestore();
    }
  });

  it("two snapshots, subtracted, give exactly what was recorded between them, across rotations (a bench's window)", () => {
    const r = new LatencyRecorder();
    const s = new SignedLatency();
    // Before the window: a cold burst whose 100 samples would set the p99 of everything after it.
    r.recordMany(12_000, 100);
    s.recordMany(-9_000, 100);
    r.rotate();
    const r0 = r.snapshot();
    const s0 = s.snapshot();
    const alone = new LatencyRecorder();
    const signedAlone = new SignedLatency();
    for (let i = 0; i < 5_000; i++) {
      const v = 100 + (i % 400);
      r.record(v);
      alone.record(v);
      s.record(v - 150);
      signedAlone.record(v - 150);
      if (i % 1_000 === 999) r.rotate();
    }
    expect(summaryBetween(r0, r.snapshot())).toEqual(alone.summary());
    expect(signedSummaryBetween(s0, s.snapshot())).toEqual(signedAlone.summary());
    // Since the start, the burst is in: its 100 samples of 12 ms are more than 1 % of them.
    expect(summaryBetween(null, r.snapshot()).p99).toBeGreaterThan(11_000);
    expect(summaryBetween(r0, r.snapshot()).p99).toBeLessThan(500);
  });

  it("renders a Prometheus summary with every quantile, max, count and sum", () => {
    const r = new LatencyRecorder();
    [5, 10, 20].forEach((v) => r.record(v));
    const text = new PromText().summary("x_us", "test", r.summary(), { node: "r1" }).counter("y_total", "c", [[{ reason: "A" }, 3]]).toString();
    for (const q of ["0.5", "0.9", "0.99", "0.999", "0.9999"]) expect(text).toContain(`x_us{node="r1",quantile="${q}"}`);
    expect(text).toContain('x_us_count{node="r1"} 3');
    expect(text).toContain('x_us_max{node="r1"} 20');
    expect(text).toContain('y_total{reason="A"} 3');
  });
});
