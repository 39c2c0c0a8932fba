/**
 * Wall time in microseconds for nodes that stamp or measure. Based on the monotonic clock
 * (so it never jumps), anchored once to the system clock, and optionally shifted by an
 * offset and drift so drills know the truth a skew estimator must recover. Never used by
 * src/engine.
 */
export interface Clock {
  nowUs(): number;
}

export class SystemClock implements Clock {
  private readonly anchorUs: number;
  private readonly anchorNs: bigint;

  constructor(private readonly offsetUs = 0, private readonly driftPpm = 0) {
    this.anchorNs = process.hrtime.bigint();
    this.anchorUs = Date.now() * 1000;
  }

  nowUs(): number {
    const elapsedUs = Number(process.hrtime.bigint() - this.anchorNs) / 1000;
    return Math.round(this.anchorUs + elapsedUs * (1 + this.driftPpm / 1e6) + this.offsetUs);
  }
}
