/**
 * `lockstep bench sweep`'s judgement of each step, and the capacity comparison of the floor and
 * Lockstep over the same rates (issue 15's capacity target). Each step is one `bench e2e`
 * measurement at one offered rate: the floor, the NATS peer and Lockstep in the same command,
 * medians over its repeats. Three questions are asked of every step:
 *
 *   sustained   Lockstep's p99 order→fill under the absolute limit (`--p99-ms`), achieved ≥ 95 %
 *               of offered, nothing acked lost;
 *   floor       the floor's p99 under its own limit (`--floor-p99-ms`, 10 ms) and achieved ≥ 95 %;
 *   vs floor    Lockstep's p99 at most `--ratio-p99` (2) × the floor's p99 at that rate, achieved
 *               ≥ 95 %, nothing lost.
 *
 * A criterion's capacity is the highest rate below its first failing step (0 if the first step
 * fails): a rate that passes again above a failure is noise on a shared machine, not capacity.
 * The capacity ratio is Lockstep's (vs floor) over the floor's; the target is ≥ 0.8, and more
 * than 1 means batching let Lockstep sustain more than the unbatched floor.
 */
import { KEEPS_UP_SHARE } from "./e2e.js";
import type { Headline } from "./report.js";

export interface SweepLimits {
  /** Lockstep's absolute limit on p99 order→fill, µs. */
  readonly p99LimitUs: number;
  /** The floor's limit on its own p99 order→fill, µs, for its capacity. */
  readonly floorP99LimitUs: number;
  /** Lockstep's p99 at most this many times the floor's p99 at the same rate. */
  readonly ratioP99Max: number;
}

export const DEFAULT_SWEEP_LIMITS: SweepLimits = { p99LimitUs: 5_000, floorP99LimitUs: 10_000, ratioP99Max: 2 };
/** The target for Lockstep's capacity (vs floor) over the floor's. */
export const CAPACITY_RATIO_TARGET = 0.8;

/** Why a criterion failed at a step ("" when it passed). */
export interface StepVerdict { sustained: string; floor: string; vs_floor: string }

type Judged = Pick<Headline, "offered_per_s" | "achieved_per_s" | "floor_achieved_per_s" | "order_to_fill_us" | "floor_us" | "lost">;

export function judgeStep(h: Judged, l: SweepLimits): StepVerdict {
  const rate = h.offered_per_s;
  const behind = h.achieved_per_s < KEEPS_UP_SHARE * rate ? `achieved ${h.achieved_per_s}/s < ${KEEPS_UP_SHARE * 100} % of offered` : "";
  const lost = h.lost > 0 ? `${h.lost} acked orders lost` : "";
  const p99 = h.order_to_fill_us.p99;
  const floorP99 = h.floor_us.p99;
  return {
    sustained: p99 > l.p99LimitUs ? `p99 order→fill ${p99} µs > ${l.p99LimitUs} µs` : behind || lost,
    floor: floorP99 > l.floorP99LimitUs ? `floor p99 ${floorP99} µs > ${l.floorP99LimitUs} µs`
      : h.floor_achieved_per_s < KEEPS_UP_SHARE * rate ? `floor achieved ${h.floor_achieved_per_s}/s < ${KEEPS_UP_SHARE * 100} % of offered` : "",
    vs_floor: p99 > l.ratioP99Max * floorP99 ? `p99 ${p99} µs > ${l.ratioP99Max} × the floor's ${floorP99} µs` : behind || lost,
  };
}

/** Once every criterion has failed at some step, higher rates cannot change any capacity. */
export function sweepDone(verdicts: readonly StepVerdict[]): boolean {
  const failed = (k: keyof StepVerdict): boolean => verdicts.some((v) => v[k] !== "");
  return failed("sustained") && failed("floor") && failed("vs_floor");
}

/** The highest rate below the first step at which `k` failed; 0 if it failed at the first. */
function capacityOf(steps: readonly { rate: number; verdict: StepVerdict }[], k: keyof StepVerdict): number {
  let best = 0;
  for (const s of steps) {
    if (s.verdict[k] !== "") break;
    best = s.rate;
  }
  return best;
}

export interface SweepCapacity {
  /** Lockstep's highest rate under the absolute p99 limit. */
  max_sustained_per_s: number;
  floor_capacity_per_s: number;
  lockstep_capacity_per_s: number;
  /** lockstep_capacity / floor_capacity; null when the floor sustained none of the rates. */
  capacity_ratio: number | null;
  capacity_ratio_target: number;
  capacity_target_met: boolean;
  /** Lockstep sustained a higher rate (vs floor) than the floor did under its own limit. */
  beats_floor: boolean;
  /** The sweep stopped at the top of its rates while a criterion still passed: that capacity is at least the figure. */
  open_ended: { floor: boolean; lockstep: boolean };
}

export function sweepCapacity(steps: readonly { rate: number; verdict: StepVerdict }[]): SweepCapacity {
  const floor = capacityOf(steps, "floor");
  const lockstep = capacityOf(steps, "vs_floor");
  const ratio = floor === 0 ? null : Math.round((lockstep / floor) * 100) / 100;
  const top = steps.at(-1)?.rate;
  return {
    max_sustained_per_s: capacityOf(steps, "sustained"),
    floor_capacity_per_s: floor,
    lockstep_capacity_per_s: lockstep,
    capacity_ratio: ratio,
    capacity_ratio_target: CAPACITY_RATIO_TARGET,
    capacity_target_met: ratio !== null && ratio >= CAPACITY_RATIO_TARGET,
    beats_floor: lockstep > floor,
    open_ended: { floor: top !== undefined && floor === top, lockstep: top !== undefined && lockstep === top },
  };
}

const fmt = (n: number): string => n.toLocaleString("en-US");
const mark = (why: string): string => (why === "" ? "yes" : `no: ${why}`);

/** The sweep's markdown: the capacity comparison, then a row per step with each criterion's verdict. */
export function sweepMarkdown(cap: SweepCapacity, steps: readonly { rate: number; headline: Headline; verdict: StepVerdict }[], l: SweepLimits, meta: { date: string; command: string; machine: string }): string {
  const lowest = steps[0]?.rate ?? 0;
  /** "at least **N orders/s**", "**N orders/s**", or none of the rates. */
  const rateText = (n: number, open: boolean): string => (n === 0 ? `none of the rates swept (the lowest ${fmt(lowest)} orders/s)` : `${open ? "at least " : ""}**${fmt(n)} orders/s**`);
  const ratio = cap.capacity_ratio === null
    ? "no ratio: the floor sustained none of the rates"
    : `**${cap.capacity_ratio}×** the floor's (target ≥ ${cap.capacity_ratio_target}×: ${cap.capacity_target_met ? "met" : "not met"}${cap.beats_floor ? "; above the floor's own" : ""})`;
  return [
    `Measured ${meta.date} with \`${meta.command}\` on ${meta.machine}; each step is one \`bench e2e\` (the floor, the NATS peer and Lockstep in the same command, medians over its runs).`,
    "",
    `- **Capacity against the floor:** the floor sustains ${rateText(cap.floor_capacity_per_s, cap.open_ended.floor)} (achieved ≥ 95 %, its p99 order→fill ≤ ${l.floorP99LimitUs / 1000} ms); ` +
      `Lockstep sustains ${rateText(cap.lockstep_capacity_per_s, cap.open_ended.lockstep)} with its p99 ≤ ${l.ratioP99Max}× the floor's at the same rate (achieved ≥ 95 %, nothing lost): ${ratio}.`,
    `- **Absolute:** Lockstep's highest rate with p99 order→fill under ${l.p99LimitUs / 1000} ms: ${rateText(cap.max_sustained_per_s, false)}.`,
    "- A capacity is the highest rate below the first step that fails it.",
    "",
    `| offered/s | achieved/s | floor achieved/s | order→fill p50 µs | p99 µs | p99.9 µs | max µs | floor p50 µs | floor p99 µs | ratio p50 | ratio p99 | lost | p99 < ${l.p99LimitUs / 1000} ms | floor within its limit | Lockstep p99 ≤ ${l.ratioP99Max}× floor |`,
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ...steps.map(({ rate, headline: h, verdict: v }) =>
      `| ${fmt(rate)} | ${fmt(h.achieved_per_s)} | ${fmt(h.floor_achieved_per_s)} | ${h.order_to_fill_us.p50} | ${h.order_to_fill_us.p99} | ${h.order_to_fill_us.p999} | ${h.order_to_fill_us.max} | ${h.floor_us.p50} | ${h.floor_us.p99} | ${h.ratio_p50} | ${h.ratio_p99} | ${h.lost} | ${mark(v.sustained)} | ${mark(v.floor)} | ${mark(v.vs_floor)} |`),
  ].join("\n");
}
