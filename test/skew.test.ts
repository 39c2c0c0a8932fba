/**
 * The skew estimator on simulated paths whose truth we know: fixed offsets up to ±1 s, drifts
 * up to ±100 ppm, queueing jitter, asymmetric delays. It recovers the offset within 50 µs on a
 * symmetric loopback-like path after 5 s of probes, its reported bound holds at every probe,
 * and on an asymmetric path its error is half the asymmetry, as physics says it must be.
 * The drills' clock: a step moves it at once by exactly the step; a drift change bends it from
 * then on without a jump.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SystemClock } from "../src/clock/clock.js";
import { SkewEstimator } from "../src/clock/skew.js";
import { Rng } from "../src/util/rng.js";

interface Path {
  offsetUs: number;      // our clock − remote clock at true time 0
  driftPpm: number;      // d(offset)/dt
  outUs: number;         // base one-way delay, us → remote
  backUs: number;        // base one-way delay, remote → us
  jitterUs: number;      // mean of the exponential queueing delay added to each direction
  processUs: number;     // remote's time between receive and reply
  step?: { atUs: number; byUs: number }; // our clock jumps by byUs at true time atUs
}

/** Runs probes every 100 ms of true time; calls check(trueOffset, estimator, ourTime) after each. */
function simulate(p: Path, seconds: number, seed: number, check: (trueOffsetUs: number, e: SkewEstimator, nowUs: number) => void): void {
  const rng = new Rng(seed);
  const exp = (mean: number): number => (mean === 0 ? 0 : -mean * Math.log(1 - rng.next()));
  const stepped = (tUs: number): number => (p.step !== undefined && tUs >= p.step.atUs ? p.step.byUs : 0);
  const theirError = (tUs: number): number => p.offsetUs + (p.driftPpm / 1e6) * tUs;
  const trueOffset = (tUs: number): number => theirError(tUs) + stepped(tUs);
  const base = 1_700_000_000_000_000;
  const ours = (tUs: number): number => base + tUs + stepped(tUs); // our clock is the reference (until it steps)
  const theirs = (tUs: number): number => base + tUs - theirError(tUs);
  const e = new SkewEstimator();
  for (let T1 = 0; T1 <= seconds * 1e6; T1 += 100_000) {
    const T2 = T1 + p.outUs + exp(p.jitterUs);
    const T3 = T2 + p.processUs + exp(p.processUs / 4);
    const T4 = T3 + p.backUs + exp(p.jitterUs);
    e.add(ours(T1), theirs(T2), theirs(T3), ours(T4));
    check(trueOffset(T4), e, ours(T4));
  }
}

const loopback = { outUs: 40, backUs: 40, jitterUs: 30, processUs: 15 };

describe("skew estimator", () => {
  it("recovers offsets up to ±1 s with drifts up to ±100 ppm within 50 µs after 5 s, and its bound always holds", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.integer({ min: -100, max: 100 }), fc.nat(), (offsetUs, driftPpm, seed) => {
        let lastError = Infinity;
        let lastBound = Infinity;
        simulate({ offsetUs, driftPpm, ...loopback }, 6, seed, (truth, e, now) => {
          const est = e.estimate(now);
          if (est === null) return; // no estimate until the samples span half a second
          const err = Math.abs(est.offsetUs - truth);
          expect(err).toBeLessThanOrEqual(est.boundUs);
          lastError = err;
          lastBound = est.boundUs;
        });
        expect(lastError).toBeLessThanOrEqual(50);
        expect(lastBound).toBeLessThan(300);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it("after our clock steps by ±5 s, it notices within a few probes, drops what the step made wrong, and its bound holds again", () => {
    for (const byUs of [5_000_000, -5_000_000]) {
      const stepAtUs = 3_000_000;
      let wrongAfterStep = 0;
      let lastError = Infinity;
      simulate({ offsetUs: 1_000, driftPpm: 20, ...loopback, step: { atUs: stepAtUs, byUs } }, 8, 7, (truth, e, now) => {
        const est = e.estimate(now);
        if (est === null) return;
        const err = Math.abs(est.offsetUs - truth);
        if (err > est.boundUs) wrongAfterStep++;
        lastError = err;
      });
      // Probes are 100 ms apart here: a step is confirmed by STEP_CONFIRM_SAMPLES consecutive
      // probes that contradict the fit; until then the old estimate stands, and is wrong.
      expect(wrongAfterStep, `step ${byUs} µs`).toBeLessThanOrEqual(3);
      expect(lastError).toBeLessThanOrEqual(50);
    }
  });

  it("a step is confirmed, and the bound holds after it, whatever the probes in flight across it and the queueing: probes 25 ms apart, answers handled late, heavy-tailed delays", () => {
    // A loaded replica: probes every 25 ms, one-way delays mostly 50-200 µs with tails to 20 ms and 350 ms,
    // answers sometimes handled up to 200 ms late (the event loop busy), so probes overlap and cross the step.
    // Before the contradicting samples waited out of the fit, the first low-delay one after a step bent the
    // line, no step was ever confirmed, and the bound excluded the truth (0.7 s off, bound 0.67 s; nemesis test).
    const rng = new Rng(2026);
    const oneWay = (): number => { const r = rng.next(); return r < 0.9 ? 50 + rng.next() * 150 : r < 0.99 ? 1_000 + rng.next() * 20_000 : 50_000 + rng.next() * 300_000; };
    let wrong = 0;
    let checks = 0;
    let unconfirmed = 0;
    for (let run = 0; run < 60; run++) {
      const e = new SkewEstimator();
      const stepAtUs = 8_000_000 + rng.next() * 1_000_000;
      const byUs = run % 2 === 0 ? 5_000_000 : -5_000_000;
      const ours = (tUs: number): number => tUs + (tUs >= stepAtUs ? byUs : 0);
      const answers: { handledUs: number; t1: number; t2: number; t3: number }[] = [];
      for (let t = 0; t < 14_000_000; t += 25_000) {
        const t2 = t + oneWay();
        const t3 = t2 + 20 + rng.next() * 50;
        const late = rng.next() < 0.05 ? rng.next() * 200_000 : rng.next() * 2_000;
        answers.push({ handledUs: t3 + oneWay() + late, t1: ours(t), t2, t3 });
      }
      answers.sort((x, y) => x.handledUs - y.handledUs);
      for (const a of answers) {
        const t4 = ours(a.handledUs);
        e.add(a.t1, a.t2, a.t3, t4);
        // The grace the nemesis test gives: 300 ms after the step (three probes, plus late answers).
        if (a.handledUs < stepAtUs + 300_000) continue;
        const est = e.estimate(t4);
        if (est === null) continue;
        checks++;
        if (Math.abs(est.offsetUs - byUs) > est.boundUs) wrong++;
      }
      if (e.steps !== 1) unconfirmed++;
    }
    expect(checks).toBeGreaterThan(10_000);
    expect(wrong, `of ${checks} estimates after the steps`).toBe(0);
    expect(unconfirmed, "runs whose step was not confirmed exactly once").toBe(0);
  });

  it("tracks drift: the slope it reports is the drift", () => {
    let drift = 0;
    simulate({ offsetUs: 250_000, driftPpm: 40, ...loopback }, 8, 1, (_t, est, now) => { drift = est.estimate(now)?.driftPpm ?? drift; });
    expect(drift).toBeGreaterThan(35);
    expect(drift).toBeLessThan(45);
  });

  it("on an asymmetric path (20 ms out, 50 ms back) is off by half the asymmetry, inside its bound", () => {
    let est = { offsetUs: 0, boundUs: 0 };
    let truth = 0;
    simulate({ offsetUs: -40_000, driftPpm: 0, outUs: 20_000, backUs: 50_000, jitterUs: 200, processUs: 20 }, 6, 7, (t, e, now) => {
      truth = t;
      est = e.estimate(now)!;
    });
    const err = est.offsetUs - truth;
    // We receive later than we would on a symmetric path, so we think our clock is ahead by (50 − 20) / 2 ms more.
    expect(Math.abs(err - 15_000)).toBeLessThan(300);
    expect(Math.abs(err)).toBeLessThanOrEqual(est.boundUs);
  });

  it("gives no estimate until its samples span half a second, and drops impossible samples", () => {
    const e = new SkewEstimator();
    expect(e.estimate(0)).toBeNull();
    for (let t = 0; t < 400_000; t += 100_000) e.add(t, t + 50, t + 60, t + 110);
    expect(e.estimate(400_000)).toBeNull();
    e.add(600_000, 600_050, 600_060, 600_110);
    expect(e.estimate(600_110)).not.toBeNull();
    e.add(700_100, 700_050, 700_060, 700_090); // negative delay: a clock stepped mid-probe
    expect(e.count).toBe(5);
  });
});

describe("the estimator's delay order", () => {
  it("is always the window sorted by delay, ties in arrival order, through overflow and clock steps", () => {
    type Inner = { samples: { delayUs: number }[]; byDelay: { delayUs: number }[] };
    // Few distinct delays (many ties), a small window (overflow), and jumps big enough to be steps.
    const probe = fc.record({ delayUs: fc.integer({ min: 0, max: 4 }), jumpUs: fc.constantFrom(0, 0, 0, 5_000_000) });
    let steps = 0;
    fc.assert(fc.property(fc.array(probe, { maxLength: 60 }), fc.integer({ min: 3, max: 12 }), (probes, windowMax) => {
      const e = new SkewEstimator(windowMax, 4);
      let t = 0;
      let jump = 0;
      for (const p of probes) {
        t += 100_000;
        jump += p.jumpUs;
        e.add(t + jump, t + 1, t + 2, t + 2 + p.delayUs + 1 + jump);
        const inner = e as unknown as Inner;
        const sorted = [...inner.samples].sort((a, b) => a.delayUs - b.delayUs);
        if (inner.byDelay.length !== sorted.length || inner.byDelay.some((x, i) => x !== sorted[i])) return false;
      }
      steps += e.steps;
      return true;
    }), { numRuns: 300, seed: 15 });
    // The runs went through clock steps (each rebuilds the order), not only through overflow.
    expect(steps).toBeGreaterThan(0);
  });
});

describe("a drill's clock changed while running", () => {
  it("a step jumps by the step; a new drift keeps what drifted so far and bends the clock from then on", async () => {
    const c = new SystemClock(1_000, 0);
    expect(Math.abs(c.injectedErrorUs() - 1_000)).toBeLessThan(1);
    c.adjust({ stepUs: 5_000_000 });
    expect(Math.abs(c.injectedErrorUs() - 5_001_000)).toBeLessThan(1);
    c.adjust({ driftPpm: 1000 });
    const before = c.injectedErrorUs();
    expect(Math.abs(before - 5_001_000)).toBeLessThan(1);
    await new Promise((r) => setTimeout(r, 100));
    // 1000 ppm over ~100 ms is ~100 µs: a bend, not a jump.
    const drifted = c.injectedErrorUs() - before;
    expect(drifted).toBeGreaterThan(90);
    expect(drifted).toBeLessThan(1_000);
    // Three reads of the time, microseconds apart on a busy machine.
    expect(Math.abs(c.nowUs() - c.trueNowUs() - c.injectedErrorUs())).toBeLessThan(500);
  });
});
