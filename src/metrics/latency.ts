/**
 * Latency histograms (hdr-histogram-js): microseconds, 1 µs to 60 s, 3 significant digits.
 * Each recorder keeps a cumulative histogram and an interval one that `rotate()` turns over
 * (every second on a node), so both "since start" and "the last second" can be reported.
 * Recording is an index computation and a counter increment: it allocates nothing.
 *
 * Some hops can be negative before skew compensation (a receiver whose clock is behind the
 * sender's); SignedLatency keeps negatives in a second histogram so percentiles still make sense.
 *
 * Means come from running sums kept beside each histogram, never from hdr-histogram-js's `mean`:
 * that getter walks every bucket up to the largest value (about 20 ms per histogram on our 2-core
 * machine), and a replica's /stats reads some 30 of them on the event loop that also serves its
 * replication link: 250 ms to seconds of a busy replica's loop per /stats, long enough for the
 * link's silence deadlines to cut it (docs/failover.md, finding 6).
 */
import * as hdr from "hdr-histogram-js";

export const LATENCY_US_MIN = 1;
export const LATENCY_US_MAX = 60_000_000;

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly p9999: number;
  readonly max: number;
  readonly mean: number;
}

export const PERCENTILES = [50, 90, 99, 99.9, 99.99] as const;

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: LATENCY_US_MIN, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3, autoResize: false, useWebAssembly: false });
}

const clamp = (us: number): number => (us < LATENCY_US_MIN ? LATENCY_US_MIN : us > LATENCY_US_MAX ? LATENCY_US_MAX : us);

/**
 * Non-negative latencies (values below 1 µs count as 1 µs). A sample goes into the current
 * interval only; rotate() folds each finished interval into the cumulative histogram, so the
 * per-message cost is one histogram update and one addition to the interval's running sum.
 */
export class LatencyRecorder {
  private readonly completed = newHistogram();
  private interval = newHistogram();
  private last = newHistogram();
  /** Reused for the cumulative view, so reading a summary allocates nothing either. */
  private readonly merged = newHistogram();
  /** Sums of the recorded (clamped) values, µs, of the same three spans: the means. */
  private completedSumUs = 0;
  private intervalSumUs = 0;
  private lastSumUs = 0;

  record(us: number): void {
    const v = clamp(Math.round(us));
    this.interval.recordValue(v);
    this.intervalSumUs += v;
  }

  /** `count` samples of one value at once: a batch's hop, counted once per record it carried. */
  recordMany(us: number, count: number): void {
    const v = clamp(Math.round(us));
    this.interval.recordValueWithCount(v, count);
    this.intervalSumUs += v * count;
  }

  /** Ends the current interval: it becomes the last interval and joins the cumulative one. */
  rotate(): void {
    const done = this.interval;
    this.completed.add(done);
    this.interval = this.last;
    this.interval.reset();
    this.last = done;
    this.completedSumUs += this.intervalSumUs;
    this.lastSumUs = this.intervalSumUs;
    this.intervalSumUs = 0;
  }

  /** Everything recorded so far, or the last completed interval. Valid until the next call. */
  histogram(which: "cumulative" | "interval"): hdr.Histogram {
    if (which === "interval") return this.last;
    this.merged.reset();
    this.merged.add(this.completed);
    this.merged.add(this.interval);
    return this.merged;
  }

  summary(which: "cumulative" | "interval" = "cumulative"): LatencySummary {
    return summarize(this.histogram(which), which === "interval" ? this.lastSumUs : this.completedSumUs + this.intervalSumUs);
  }

  /** Everything recorded so far, encoded, with its sum: a later snapshot minus this one is what came between (summaryBetween). */
  snapshot(): RecorderSnapshot {
    return { hist: hdr.encodeIntoCompressedBase64(this.histogram("cumulative")), sum_us: this.completedSumUs + this.intervalSumUs };
  }
}

/** A recorder's cumulative histogram (hdr-histogram-js's compressed base64 encoding) and the sum of its values, µs. */
export interface RecorderSnapshot { readonly hist: string; readonly sum_us: number }
/** A SignedLatency's two halves, each a RecorderSnapshot: values ≥ 0, and the magnitudes of the negative ones. */
export interface SignedSnapshot { readonly pos: RecorderSnapshot; readonly neg: RecorderSnapshot }

/** The samples recorded after `before` and up to `after` (two snapshots of one recorder, `after` the later). */
function histogramBetween(before: RecorderSnapshot | null, after: RecorderSnapshot): { h: hdr.Histogram; sumUs: number } {
  const h = hdr.decodeFromCompressedBase64(after.hist, 32, false);
  if (before === null) return { h, sumUs: after.sum_us };
  h.subtract(hdr.decodeFromCompressedBase64(before.hist, 32, false));
  return { h, sumUs: after.sum_us - before.sum_us };
}

/** The summary of what one recorder recorded between two of its snapshots (`before` null: since it started). */
export function summaryBetween(before: RecorderSnapshot | null, after: RecorderSnapshot): LatencySummary {
  const { h, sumUs } = histogramBetween(before, after);
  return summarize(h, sumUs);
}

/** The same for a SignedLatency's snapshots. */
export function signedSummaryBetween(before: SignedSnapshot | null, after: SignedSnapshot): LatencySummary {
  const pos = histogramBetween(before?.pos ?? null, after.pos);
  const neg = histogramBetween(before?.neg ?? null, after.neg);
  return combineSigned(summarize(pos.h, pos.sumUs), summarize(neg.h, neg.sumUs), pos.h, neg.h);
}

function summarize(h: hdr.Histogram, sumUs: number): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, p9999: 0, max: 0, mean: 0 };
  const [p50, p90, p99, p999, p9999] = PERCENTILES.map((p) => h.getValueAtPercentile(p)) as [number, number, number, number, number];
  return { count: h.totalCount, p50, p90, p99, p999, p9999, max: h.maxValue, mean: Math.round(sumUs / h.totalCount) };
}

/** Latencies that may be negative: magnitudes of negatives are kept apart. */
export class SignedLatency {
  private readonly pos = new LatencyRecorder();
  private readonly neg = new LatencyRecorder();

  record(us: number): void {
    if (us >= 0) this.pos.record(us);
    else this.neg.record(-us);
  }

  recordMany(us: number, count: number): void {
    if (us >= 0) this.pos.recordMany(us, count);
    else this.neg.recordMany(-us, count);
  }

  rotate(): void {
    this.pos.rotate();
    this.neg.rotate();
  }

  summary(which: "cumulative" | "interval" = "cumulative"): LatencySummary {
    const p = this.pos.summary(which);
    const n = this.neg.summary(which);
    return n.count === 0 ? p : combineSigned(p, n, this.pos.histogram(which), this.neg.histogram(which));
  }

  snapshot(): SignedSnapshot {
    return { pos: this.pos.snapshot(), neg: this.neg.snapshot() };
  }
}

/** One signed summary from the non-negative values (`p`, histogram `hp`) and the negatives' magnitudes (`n`, `hn`). */
function combineSigned(p: LatencySummary, n: LatencySummary, hp: hdr.Histogram, hn: hdr.Histogram): LatencySummary {
  if (n.count === 0) return p;
  const total = p.count + n.count;
  const at = (pct: number): number => {
    const rank = (pct / 100) * total;
    // The rank-th smallest signed value is negative while rank ≤ the number of negatives:
    // it is then the magnitude at the mirrored percentile of the negatives.
    if (rank <= n.count) return -hn.getValueAtPercentile(Math.max(0, 100 * (1 - rank / n.count)));
    return hp.getValueAtPercentile(Math.min(100, (100 * (rank - n.count)) / p.count));
  };
  const [p50, p90, p99, p999, p9999] = PERCENTILES.map(at) as [number, number, number, number, number];
  const mean = Math.round((p.mean * p.count - n.mean * n.count) / total);
  return { count: total, p50, p90, p99, p999, p9999, max: p.count > 0 ? p.max : -n.max, mean };
}
