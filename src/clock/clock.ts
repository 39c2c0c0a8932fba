/**
 * Wall time in microseconds for nodes that stamp or measure; never used by src/engine.
 *
 * The base is the machine's real time read once with microsecond precision
 * (performance.timeOrigin + performance.now()) and advanced by the monotonic clock, so it
 * never jumps and every process on one machine agrees on it to within a few microseconds.
 * A clock can be given an offset and a drift, as drills do: they then know exactly how wrong
 * each node's clock is (injectedErrorUs) while the skew estimator must find out on its own.
 */
export interface Clock {
  /** This node's idea of the time, µs since the Unix epoch. */
  nowUs(): number;
}

export class SystemClock implements Clock {
  private readonly anchorUs: number;
  private readonly anchorNs: bigint;

  constructor(readonly offsetUs = 0, readonly driftPpm = 0) {
    this.anchorNs = process.hrtime.bigint();
    this.anchorUs = (performance.timeOrigin + performance.now()) * 1000;
  }

  private elapsedUs(): number {
    return Number(process.hrtime.bigint() - this.anchorNs) / 1000;
  }

  nowUs(): number {
    const e = this.elapsedUs();
    return Math.round(this.anchorUs + e + e * (this.driftPpm / 1e6) + this.offsetUs);
  }

  /** The machine's real time, without the injected error: what the drills measure truth with. */
  trueNowUs(): number {
    return Math.round(this.anchorUs + this.elapsedUs());
  }

  /** nowUs() − trueNowUs(): the error injected into this clock, right now. */
  injectedErrorUs(): number {
    return this.offsetUs + this.elapsedUs() * (this.driftPpm / 1e6);
  }
}
