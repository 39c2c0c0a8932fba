/**
 * Estimates how far a remote clock is from ours from NTP-style probes: we send at t1 (our
 * clock), the remote receives at t2 and replies at t3 (its clock), we receive at t4 (ours).
 *
 *   delay  δ = (t4 − t1) − (t3 − t2)           round trip minus the remote's own time
 *   offset θ = ((t1 − t2) + (t4 − t3)) / 2     our clock minus theirs, if both paths take δ/2
 *
 * If the two directions of the path take different times, θ is wrong by half the difference,
 * and no two-way measurement can tell: the true offset of a sample lies in θ ± δ/2. So we keep
 * a window of samples, trust the lowest-delay ones (least queueing, tightest bounds), fit a line
 * through their offsets over time (the slope is the drift, so the estimate stays good between
 * probes), and report the estimate with a bound of half the smallest delay in the window.
 */
export interface SkewEstimate {
  /** Our clock minus the remote's, µs, at the time asked for. */
  readonly offsetUs: number;
  /** Half the smallest round trip in the window: the true offset lies within ± this if the paths are symmetric-or-better. */
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

export class SkewEstimator {
  private readonly samples: Sample[] = [];

  /**
   * @param windowMax samples kept (the newest)
   * @param bestMax   lowest-delay samples the fit uses
   */
  constructor(private readonly windowMax = 64, private readonly bestMax = 16) {}

  add(t1: number, t2: number, t3: number, t4: number): void {
    const delayUs = t4 - t1 - (t3 - t2);
    if (!(delayUs >= 0) || !Number.isFinite(delayUs)) return; // impossible sample (clock stepped): drop it
    this.samples.push({ atUs: (t1 + t4) / 2, offsetUs: (t1 - t2 + (t4 - t3)) / 2, delayUs });
    if (this.samples.length > this.windowMax) this.samples.shift();
  }

  get count(): number {
    return this.samples.length;
  }

  /** The estimate at our-clock time `atUs`, or null before the first sample. */
  estimate(atUs: number): SkewEstimate | null {
    if (this.samples.length === 0) return null;
    const best = [...this.samples].sort((a, b) => a.delayUs - b.delayUs).slice(0, this.bestMax);
    const minDelayUs = best[0]!.delayUs;
    const fit = fitLine(best);
    return {
      offsetUs: fit.intercept + fit.slope * (atUs - fit.originUs),
      boundUs: minDelayUs / 2,
      driftPpm: fit.slope * 1e6,
      samples: this.samples.length,
      minDelayUs,
    };
  }
}

/**
 * Least-squares line offset = intercept + slope·(at − origin). Times are taken relative to
 * the oldest sample so the sums stay far inside double precision. With too few points or too
 * short a time span to see a slope, it is the best sample's offset, flat.
 */
function fitLine(pts: readonly Sample[]): { originUs: number; intercept: number; slope: number } {
  const originUs = Math.min(...pts.map((p) => p.atUs));
  const n = pts.length;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const p of pts) {
    const x = p.atUs - originUs;
    sx += x;
    sy += p.offsetUs;
    sxx += x * x;
    sxy += x * p.offsetUs;
  }
  const den = n * sxx - sx * sx;
  const spanUs = Math.max(...pts.map((p) => p.atUs)) - originUs;
  if (n < 3 || spanUs < 500_000 || den === 0) {
    const b = pts.reduce((m, p) => (p.delayUs < m.delayUs ? p : m));
    return { originUs: b.atUs, intercept: b.offsetUs, slope: 0 };
  }
  const slope = (n * sxy - sx * sy) / den;
  return { originUs, intercept: (sy - slope * sx) / n, slope };
}
