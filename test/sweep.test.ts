/**
 * `bench sweep` judges each step by three criteria and compares the floor's capacity with
 * Lockstep's (issue 15): the floor under its own p99 limit, Lockstep within a multiple of the
 * floor's p99 at the same rate. Checked on made-up steps (the measurement itself is bench e2e's,
 * tested in e2e-bench.test.ts), and the CLI refuses rates that do not rise.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { Headline } from "../src/tools/loadgen/report.js";
import { DEFAULT_SWEEP_LIMITS, judgeStep, sweepCapacity, sweepDone, sweepMarkdown, type StepVerdict } from "../src/tools/loadgen/sweep.js";

const BIN = join(import.meta.dirname, "..", "bin", "lockstep.js");

/** A step's headline: Lockstep's and the floor's p99 and achieved rate; other percentiles follow p99. */
function step(rate: number, p99: number, floorP99: number, o: { achieved?: number; floorAchieved?: number; lost?: number } = {}): { rate: number; headline: Headline; verdict: StepVerdict } {
  const pct = { p50: p99 / 4, p90: p99 / 2, p99, p999: p99 * 2, p9999: p99 * 3, max: p99 * 4 };
  const headline = {
    offered_per_s: rate, achieved_per_s: o.achieved ?? rate, floor_achieved_per_s: o.floorAchieved ?? rate, order_to_fill_us: pct, order_to_ack_us: pct,
    floor_us: { p50: floorP99 / 4, p99: floorP99, p999: floorP99 * 2, max: floorP99 * 4 }, ratio_p50: Math.round((p99 / floorP99) * 100) / 100, ratio_p99: Math.round((p99 / floorP99) * 100) / 100, lost: o.lost ?? 0,
  } as Headline;
  return { rate, headline, verdict: judgeStep(headline, DEFAULT_SWEEP_LIMITS) };
}

describe("bench sweep's verdicts", () => {
  it("judges Lockstep's absolute limit, the floor's own limit and Lockstep against the floor separately", () => {
    expect(step(1000, 3000, 2000).verdict).toEqual({ sustained: "", floor: "", vs_floor: "" });
    // Over 5 ms but within 2× a floor that is itself fine.
    const a = step(5000, 9000, 6000).verdict;
    expect(a.sustained).toMatch(/9000 µs > 5000 µs/);
    expect(a.floor).toBe("");
    expect(a.vs_floor).toBe("");
    // More than 2× the floor's p99.
    expect(step(5000, 4000, 1900).verdict.vs_floor).toMatch(/4000 µs > 2 × the floor's 1900 µs/);
    // The floor over its 10 ms, or behind.
    expect(step(10000, 4000, 12000).verdict.floor).toMatch(/floor p99 12000 µs > 10000 µs/);
    expect(step(10000, 4000, 3000, { floorAchieved: 9000 }).verdict.floor).toMatch(/floor achieved 9000\/s < 95 %/);
    // Lockstep behind, or losing an acked order, fails both of its criteria however fast it is.
    for (const v of [step(10000, 100, 3000, { achieved: 9400 }).verdict, step(10000, 100, 3000, { lost: 1 }).verdict]) {
      expect(v.sustained).not.toBe("");
      expect(v.vs_floor).not.toBe("");
      expect(v.floor).toBe("");
    }
  });

  it("a capacity is the highest rate below the first failing step; the ratio is Lockstep's over the floor's", () => {
    const steps = [step(1000, 3000, 2000), step(2000, 4800, 2600), step(5000, 9000, 6000), step(10000, 30000, 12000), step(20000, 20000, 15000)];
    // All three have failed by 10,000/s: the sweep would stop there (20,000/s is here to show it would not count).
    expect(sweepDone(steps.slice(0, 3).map((s) => s.verdict))).toBe(false);
    expect(sweepDone(steps.slice(0, 4).map((s) => s.verdict))).toBe(true);
    const cap = sweepCapacity(steps);
    expect(cap.max_sustained_per_s).toBe(2000);
    expect(cap.floor_capacity_per_s).toBe(5000);
    // 10,000/s is more than 2× the floor; 20,000/s passes again, and is not counted.
    expect(cap.lockstep_capacity_per_s).toBe(5000);
    expect(cap.capacity_ratio).toBe(1);
    expect(cap.capacity_target_met).toBe(true);
    expect(cap.beats_floor).toBe(false);
    expect(cap.open_ended).toEqual({ floor: false, lockstep: false });
  });

  it("reports below-target and above-the-floor capacities, a floor that sustained nothing, and a sweep that ran out of rates", () => {
    const low = sweepCapacity([step(1000, 3000, 2000), step(2000, 4000, 1500), step(5000, 4000, 4000)]);
    expect(low).toMatchObject({ floor_capacity_per_s: 5000, lockstep_capacity_per_s: 1000, capacity_ratio: 0.2, capacity_target_met: false, open_ended: { floor: true, lockstep: false } });
    const high = sweepCapacity([step(1000, 2000, 3000), step(2000, 2000, 11000), step(5000, 50000, 20000)]);
    expect(high).toMatchObject({ floor_capacity_per_s: 1000, lockstep_capacity_per_s: 2000, capacity_ratio: 2, capacity_target_met: true, beats_floor: true });
    const noneSteps = [step(1000, 2000, 20000)];
    const none = sweepCapacity(noneSteps);
    expect(none).toMatchObject({ floor_capacity_per_s: 0, capacity_ratio: null, capacity_target_met: false });
    expect(sweepMarkdown(none, noneSteps, DEFAULT_SWEEP_LIMITS, { date: "d", command: "c", machine: "m" })).toMatch(/the floor sustains none of the rates swept \(the lowest 1,000 orders\/s\)/);
  });

  it("stops once all three criteria have failed, and the markdown says each step's verdicts", () => {
    const steps = [step(1000, 3000, 2000), step(2000, 6000, 3100), step(5000, 9000, 11000)];
    expect(sweepDone(steps.slice(0, 2).map((s) => s.verdict))).toBe(false);
    expect(sweepDone([...steps, step(10000, 50000, 12000)].map((s) => s.verdict))).toBe(true);
    const md = sweepMarkdown(sweepCapacity(steps), steps, DEFAULT_SWEEP_LIMITS, { date: "d", command: "lockstep bench sweep", machine: "m" });
    expect(md).toMatch(/the floor sustains \*\*2,000 orders\/s\*\*/);
    expect(md).toMatch(/Lockstep sustains at least \*\*5,000 orders\/s\*\*/);
    expect(md).toMatch(/\*\*2.5×\*\* the floor's \(target ≥ 0.8×: met; above the floor's own\)/);
    expect(md.split("\n").filter((l) => l.startsWith("| 2,000 |"))[0]).toMatch(/\| no: p99 order→fill 6000 µs > 5000 µs \| yes \| yes \|$/);
  });
});

describe("lockstep bench sweep flags", () => {
  it("refuses rates that do not rise, with a plain message and exit code 2, before starting anything", async () => {
    const err = await promisify(execFile)(process.execPath, [BIN, "bench", "sweep", "--rates", "2000,1000"], { timeout: 20_000 }).then(() => null, (e: { code: number; stderr: string }) => e);
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/--rates must rise/);
    expect(err?.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses a warm-up that is not a whole number of seconds from 0 to 600, for e2e and sweep alike", async () => {
    for (const [cmd, w] of [["e2e", "-1"], ["sweep", "1.5"], ["e2e", "601"], ["e2e", "x"]] as const) {
      const err = await promisify(execFile)(process.execPath, [BIN, "bench", cmd, `--warmup=${w}`], { timeout: 20_000 }).then(() => null, (e: { code: number; stderr: string }) => e);
      expect([err?.code, err?.stderr.trim()], `${cmd} --warmup ${w}`).toEqual([2, `lockstep: --warmup must be a whole number of seconds from 0 to 600, not "${w}"`]);
    }
  });
});
