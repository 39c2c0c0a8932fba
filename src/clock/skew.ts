/**
 * Estimates how far a remote clock is from ours from NTP-style probes: we send at t1 (our
 * clock), the remote receives at t2 and replies at t3 (its clock), we receive at t4 (ours).
 *
 *   delay  δ = (t4 − t1) − (t3 − t2)           round trip minus the remote's own time
 *   offset θ = ((t1 − t2) + (t4 − t3)) / 2     our clock minus theirs, if both paths take δ/2
 *
 * If the two directions of the path take different times, θ is wrong by half the difference,
 * and no two-way measurement can tell: the true offset of a sample lies in θ ± δ/2. So we keep
 * a window of samples, trust the lowest-delay ones (least queueing, tightest intervals), fit a
 * line through their offsets over time (the slope is the drift, so the estimate stays good
 * between probes), and report a bound that holds whenever each trusted sample's interval holds
 * the truth: the largest distance from the line to the far edge of any trusted sample's
 * interval (never less than half the smallest round trip), widened in proportion when the
 * estimate is asked for outside the samples' time span. No estimate is given until the
 * trusted samples span half a second, because before that the drift cannot be seen.
 *
 * Clock steps. Every sample's interval θ ± δ/2 holds the true offset whatever the queueing, so a
 * sample whose interval misses the current estimate's offset ± bound proves one of them wrong.
 * STEP_CONFIRM_SAMPLES such samples in a row mean a clock stepped (ours or theirs, by hand or by
 * a bad time server): the samples from before the first of them describe a relation that no
 * longer holds and are dropped, and the estimate starts again from the new ones (none is given
 * until they span half a second again). Until the step is confirmed the old estimate stands,
 * and is wrong, for STEP_CONFIRM_SAMPLES probe intervals. The contradicting samples wait aside
 * meanwhile, out of the fit: one in the fit would bend the line toward the new offset (a
 * low-delay one is trusted at once) and widen the bound until the next sample no longer
 * contradicts, so the step would never be confirmed and the line would mix both relations, its
 * bound excluding the truth (a replica's estimate 0.7 s off with a bound of 0.67 s, 2 s after a
 * +5 s step, in the nemesis test). A sample that agrees with both the estimate and the waiting
 * samples (a wide one, e.g. a probe in flight across the step) waits with them without counting;
 * one that agrees with the estimate only ends the wait, and the waiting samples join the window.
 */
export interface SkewEstimate {
  /** Our clock minus the remote's, µs, at the time asked for. */
  readonly offsetUs: number;
  /** The true offset lies within offsetUs ± boundUs if every trusted probe's two paths took no more than its round trip. */
  readonly boundUs: number;
  /** Rate of change of the offset, parts per million. */
  readonly driftPpm: number;
  readonly samples: number;
  readonly minDelayUs: number;
}

interface Sample {
  /** Midpoint of the probe on our clock. */
  readonly atUs: number;
  readonly offsetUs: number;
  readonly delayUs: number;
}

interface Fit {
  readonly originUs: number;
  readonly lastUs: number;
  readonly spanUs: number;
  readonly intercept: number;
  readonly slope: number;
  /** Largest distance from the line to the far edge of a trusted sample's interval. */
  readonly reachUs: number;
  readonly minDelayUs: number;
}

/** Consecutive samples contradicting the estimate that mean a clock stepped. */
export const STEP_CONFIRM_SAMPLES = 3;

export class SkewEstimator {
  /** The window, oldest first. */
  private samples: Sample[] = [];
  /**
   * The same samples by delay, lowest first, ties in arrival order: what a stable sort of the
   * window by delay gives, kept as samples come and go, so a refit (one per probe answer) does
   * not copy and sort the whole window (a quarter of a millisecond a probe on a busy replica).
   */
  private byDelay: Sample[] = [];
  /** Recomputed when a sample arrives, so asking for an estimate only evaluates a line. */
  private fit: Fit | null = null;
  /** Samples in a row whose intervals miss the estimate: they wait here, out of the fit, oldest first (with any that agree with both, see above). */
  private waiting: Sample[] = [];
  /** How many of the waiting samples miss the estimate. */
  private contradicting = 0;
  /** Clock steps seen (each dropped the samples from before it). */
  steps = 0;

  /**
   * @param windowMax samples kept (the newest). More samples to choose from means the trusted
   *                  ones are rarer, luckier probes, whose two directions were delayed alike.
   * @param bestMax   lowest-delay samples the fit uses
   */
  constructor(private readonly windowMax = 256, private readonly bestMax = 16) {}

  add(t1: number, t2: number, t3: number, t4: number): void {
    const delayUs = t4 - t1 - (t3 - t2);
    if (!(delayUs >= 0) || !Number.isFinite(delayUs)) return; // impossible sample (clock stepped): drop it
    const sample = { atUs: (t1 + t4) / 2, offsetUs: (t1 - t2 + (t4 - t3)) / 2, delayUs };
    const e = this.estimate(sample.atUs);
    if (e !== null && Math.abs(sample.offsetUs - e.offsetUs) > e.boundUs + delayUs / 2) {
      this.waiting.push(sample);
      if (++this.contradicting < STEP_CONFIRM_SAMPLES) return;
      // A step: the waiting samples are the window now.
      this.samples = this.waiting.slice(-this.windowMax);
      this.byDelay = [...this.samples].sort((a, b) => a.delayUs - b.delayUs);
      this.waiting = [];
      this.contradicting = 0;
      this.steps++;
      this.fit = this.refit();
      return;
    }
    const last = this.waiting.at(-1);
    if (last !== undefined && Math.abs(sample.offsetUs - last.offsetUs) <= (delayUs + last.delayUs) / 2 && this.waiting.length < this.windowMax) {
      this.waiting.push(sample);
      return;
    }
    for (const w of this.waiting) this.keep(w);
    this.waiting = [];
    this.contradicting = 0;
    this.keep(sample);
    this.fit = this.refit();
  }

  /** A sample into the window and the delay order, the oldest one out past windowMax. */
  private keep(sample: Sample): void {
    this.samples.push(sample);
    this.byDelay.splice(upperBound(this.byDelay, sample.delayUs), 0, sample);
    if (this.samples.length > this.windowMax) this.byDelay.splice(this.byDelay.indexOf(this.samples.shift()!), 1);
  }

  get count(): number {
    return this.samples.length;
  }

  /** The estimate at our-clock time `atUs`, or null until the trusted samples span SPAN_US_MIN. */
  estimate(atUs: number): SkewEstimate | null {
    const f = this.fit;
    if (f === null) return null;
    const outside = Math.max(0, atUs - f.lastUs, f.originUs - atUs);
    return {
      offsetUs: f.intercept + f.slope * (atUs - f.originUs),
      boundUs: f.reachUs * (1 + (2 * outside) / f.spanUs),
      driftPpm: f.slope * 1e6,
      samples: this.samples.length,
      minDelayUs: f.minDelayUs,
    };
  }

  /** Fits the lowest-delay samples, widening the set until they span enough time to see a drift. */
  private refit(): Fit | null {
    const byDelay = this.byDelay;
    for (const take of [this.bestMax, 2 * this.bestMax, byDelay.length]) {
      const best = byDelay.slice(0, take);
      const line = fitLine(best);
      if (line === null) continue;
      let reachUs = 0;
      for (const p of best) reachUs = Math.max(reachUs, Math.abs(p.offsetUs - (line.intercept + line.slope * (p.atUs - line.originUs))) + p.delayUs / 2);
      return { ...line, reachUs, minDelayUs: byDelay[0]!.delayUs };
    }
    return null;
  }
}

const SPAN_US_MIN = 500_000;

/** The first index of `xs` (sorted by delay) whose delay is above `delayUs`: where a new sample goes, after its equals. */
function upperBound(xs: readonly Sample[], delayUs: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]!.delayUs <= delayUs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Least-squares line offset = intercept + slope·(at − origin), with times taken relative to the
 * oldest sample so the sums stay far inside double precision; null with fewer than 3 samples or
 * a time span too short to see a drift.
 */
function fitLine(pts: readonly Sample[]): { originUs: number; lastUs: number; spanUs: number; intercept: number; slope: number } | null {
  if (pts.length < 3) return null;
  const originUs = Math.min(...pts.map((p) => p.atUs));
  const lastUs = Math.max(...pts.map((p) => p.atUs));
  const spanUs = lastUs - originUs;
  if (spanUs < SPAN_US_MIN) return null;
  const n = pts.length;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const p of pts) {
    const x = p.atUs - originUs;
    sx += x;
    sy += p.offsetUs;
    sxx += x * x;
    sxy += x * p.offsetUs;
  }
  const slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  return { originUs, lastUs, spanUs, intercept: (sy - slope * sx) / n, slope };
}
