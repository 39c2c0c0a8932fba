/**
 * Wall time in microseconds for nodes that stamp or measure; never used by src/engine.
 *
 * The base is the machine's real time, anchored once per process at the instant Date.now()
 * ticks to a new millisecond (we spin for at most 1 ms to catch the edge) and advanced by the
 * monotonic clock from there. So it never jumps, and every process on one machine agrees on
 * it to within a microsecond or so, where reading Date.now() or performance.timeOrigin once
 * would leave processes up to milliseconds apart.
 * A clock can be given an offset and a drift, as drills do: they then know exactly how wrong
 * each node's clock is (injectedErrorUs) while the skew estimator must find out on its own.
 * A drill may also change them on a running clock (`adjust`): a new offset is a step, as when
 * an operator or a bad NTP server sets the time; a new drift bends the clock from now on
 * without a jump.
 */
export interface Clock {
  /** This node's idea of the time, µs since the Unix epoch. */
  nowUs(): number;
}

let anchor: { us: number; ns: bigint } | null = null;

const ANCHOR_EDGES = 12;
const ANCHOR_SPIN_NS_MAX = 30_000_000n;

/**
 * Real time (µs) and monotonic time (ns) of one instant, found at a millisecond edge of the real
 * clock: each edge is bracketed by the monotonic reads around the Date.now() calls on either
 * side of it, and the narrowest bracket of a dozen edges wins, so a process preempted mid-read
 * (likely when several nodes start at once on few cores) does not skew its anchor.
 */
function processAnchor(): { us: number; ns: bigint } {
  anchor ??= anchorNow();
  return anchor;
}

/**
 * A new anchor, read now, not the process's: the real clock is stepped or slewed against the
 * monotonic one at times (on this VM, by 210 µs within 3 s), so two processes that compare
 * stamps should anchor close together in time.
 */
export function anchorNow(): { us: number; ns: bigint } {
  const startNs = process.hrtime.bigint();
  let prevMs = Date.now();
  let prevNs = process.hrtime.bigint();
  let best = { width: BigInt(Number.MAX_SAFE_INTEGER), us: 0, ns: 0n };
  for (let edges = 0; edges < ANCHOR_EDGES && prevNs - startNs < ANCHOR_SPIN_NS_MAX; ) {
    const ms = Date.now();
    const ns = process.hrtime.bigint();
    if (ms !== prevMs) {
      edges++;
      const width = ns - prevNs;
      if (width < best.width) best = { width, us: ms * 1000, ns: prevNs + width / 2n };
    }
    prevMs = ms;
    prevNs = ns;
  }
  return { us: best.us, ns: best.ns };
}

export class SystemClock implements Clock {
  private readonly anchorUs: number;
  private readonly anchorNs: bigint;
  private offsetUs_: number;
  private driftPpm_: number;
  /** Elapsed µs at which the current drift began; the drift before it is folded into offsetUs_. */
  private driftFromUs = 0;

  constructor(offsetUs = 0, driftPpm = 0) {
    const a = processAnchor();
    this.anchorUs = a.us;
    this.anchorNs = a.ns;
    this.offsetUs_ = offsetUs;
    this.driftPpm_ = driftPpm;
  }

  get driftPpm(): number {
    return this.driftPpm_;
  }

  /**
   * Changes the injected error from now on (drills): `stepUs` jumps the clock by that much at
   * once; `driftPpm` replaces the drift without a jump (what drifted so far stays).
   */
  adjust(a: { readonly stepUs?: number; readonly driftPpm?: number }): void {
    const e = this.elapsedUs();
    this.offsetUs_ = this.injectedErrorAt(e) + (a.stepUs ?? 0);
    this.driftFromUs = e;
    if (a.driftPpm !== undefined) this.driftPpm_ = a.driftPpm;
  }

  private elapsedUs(): number {
    return Number(process.hrtime.bigint() - this.anchorNs) / 1000;
  }

  nowUs(): number {
    const e = this.elapsedUs();
    return Math.round(this.anchorUs + e + this.injectedErrorAt(e));
  }

  private injectedErrorAt(elapsedUs: number): number {
    return this.offsetUs_ + (elapsedUs - this.driftFromUs) * (this.driftPpm_ / 1e6);
  }

  /** The machine's real time, without the injected error: what the drills measure truth with. */
  trueNowUs(): number {
    return Math.round(this.anchorUs + this.elapsedUs());
  }

  /** nowUs() − trueNowUs(): the error injected into this clock, right now. */
  injectedErrorUs(): number {
    return this.injectedErrorAt(this.elapsedUs());
  }
}
