/**
 * What `lockstep bench e2e` and `bench sweep` write: the headline object (medians over repeated
 * runs), a markdown table, and an HdrHistogram-style percentile plot as SVG.
 *
 * The plot is drawn here rather than with a charting package: it is four polylines on two log
 * axes, and a static SVG written by the command needs no browser or canvas to produce.
 */
import { KEEPS_UP_SHARE, type E2eRun, type LockstepExtras, type NatsProbe, type Percentiles, type SideResult } from "./e2e.js";
import type { GcFigures } from "./gc.js";
import type { Hop, Hops } from "./hops.js";

export interface Headline {
  offered_per_s: number;
  achieved_per_s: number;
  order_to_fill_us: { p50: number; p90: number; p99: number; p999: number; p9999: number; max: number };
  order_to_ack_us: { p50: number; p90: number; p99: number; p999: number; p9999: number; max: number };
  floor_us: { p50: number; p99: number; p999: number; max: number };
  floor_achieved_per_s: number;
  ratio_p50: number;
  ratio_p99: number;
  /**
   * Seconds of the same load each system ran before its window, sent and drained, in no figure
   * but these: each system's warm-up order→fill (medians over runs).
   */
  warmup_s: number;
  warmup_order_to_fill_us: { floor: { p50: number; p99: number; max: number }; nats?: { p50: number; p99: number; max: number }; lockstep: { p50: number; p99: number; max: number } };
  /**
   * The NATS peer's order→fill, and Lockstep's ratio to it, when nats-server was there. The
   * ratios are left out when the peer did not keep up (achieved < 95 % of offered): its
   * latencies are then a growing backlog, not a distribution to compare against.
   */
  nats_us?: { p50: number; p99: number; p999: number; max: number };
  nats_achieved_per_s?: number;
  ratio_to_nats_p50?: number;
  ratio_to_nats_p99?: number;
  lost: number;
  /** CPU µs per order sent, by process (medians over runs), per system, and each system's total. */
  cpu_us_per_order: { floor: CpuFigures; nats?: CpuFigures; lockstep: CpuFigures };
  /** Wake-ups per order sent, by process (medians over runs), per system, and each system's total. */
  wakeups_per_order: { floor: CpuFigures; nats?: CpuFigures; lockstep: CpuFigures };
  /** Mean wait for a core per run, µs, by process (medians over runs), per system, and over all of a system's runs (`total`). */
  runqueue_wait_us_per_run: { floor: CpuFigures; nats?: CpuFigures; lockstep: CpuFigures };
  /** Garbage collections per order by Node process (gc.ts), medians over runs, per system. */
  gc: { floor: Record<string, GcFigures>; nats?: Record<string, GcFigures>; lockstep: Record<string, GcFigures> };
  /** Lockstep's order→fill hop by hop (hops.ts), medians over runs. */
  hops: Hops;
  /**
   * With --gateway: Lockstep again with its clients through `lockstep gateway` (one shard): its
   * order→fill, its ratio to Lockstep direct (median of per-run ratios), and its CPU per order.
   */
  gateway?: { order_to_fill_us: Headline["order_to_fill_us"]; achieved_per_s: number; ratio_to_direct_p50: number; ratio_to_direct_p99: number; lost: number; cpu_us_per_order: CpuFigures };
  /** When the NATS peer did not keep up: the highest rate at which it did (a bisection of short runs). */
  nats_sustained_per_s?: number;
  nats_probes?: NatsProbe[];
}

/** One system's CPU µs per order: by process, in the order the run metered them, and the total. */
export interface CpuFigures { processes: Record<string, number | null>; total: number | null }

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? 0 : n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const round2 = (x: number): number => Math.round(x * 100) / 100;
const keys = ["p50", "p90", "p99", "p999", "p9999", "max"] as const;

function medianPct(ps: Percentiles[]): Headline["order_to_fill_us"] {
  return Object.fromEntries(keys.map((k) => [k, Math.round(median(ps.map((p) => p[k])))])) as Headline["order_to_fill_us"];
}

export function ratio(a: number, b: number): number {
  return b > 0 ? round2(a / b) : 0;
}

/** A system's warm-up order→fill, medians over runs. */
function warm(sides: readonly SideResult[]): { p50: number; p99: number; max: number } {
  const p = medianPct(sides.map((x) => x.warmup.order_to_fill_us));
  return { p50: p.p50, p99: p.p99, max: p.max };
}

/** Medians over runs; each ratio is the median of the per-run ratios (each run's pair shares its conditions). */
export function headline(runs: readonly E2eRun[]): Headline {
  const fill = medianPct(runs.map((r) => r.lockstep.order_to_fill_us));
  const floor = medianPct(runs.map((r) => r.floor.order_to_fill_us));
  return {
    offered_per_s: runs[0]!.lockstep.offered_per_s,
    achieved_per_s: Math.round(median(runs.map((r) => r.lockstep.achieved_per_s))),
    order_to_fill_us: fill,
    order_to_ack_us: medianPct(runs.map((r) => r.lockstep.order_to_ack_us)),
    floor_us: { p50: floor.p50, p99: floor.p99, p999: floor.p999, max: floor.max },
    floor_achieved_per_s: Math.round(median(runs.map((r) => r.floor.achieved_per_s))),
    ratio_p50: round2(median(runs.map((r) => ratio(r.lockstep.order_to_fill_us.p50, r.floor.order_to_fill_us.p50)))),
    ratio_p99: round2(median(runs.map((r) => ratio(r.lockstep.order_to_fill_us.p99, r.floor.order_to_fill_us.p99)))),
    warmup_s: runs[0]!.lockstep.warmup.warmup_s,
    warmup_order_to_fill_us: {
      floor: warm(runs.map((r) => r.floor)),
      ...(runs.some((r) => r.nats !== undefined) ? { nats: warm(runs.flatMap((r) => (r.nats === undefined ? [] : [r.nats]))) } : {}),
      lockstep: warm(runs.map((r) => r.lockstep)),
    },
    ...natsHeadline(runs),
    lost: runs.reduce((a, r) => a + r.lockstep.lost, 0),
    cpu_us_per_order: perSystem(runs, medianCpu),
    wakeups_per_order: perSystem(runs, medianWakeups),
    runqueue_wait_us_per_run: perSystem(runs, medianRunQueue),
    gc: perSystem(runs, medianGc),
    hops: medianHops(runs.map((r) => r.lockstep.hops)),
    ...gatewayHeadline(runs),
  };
}

function gatewayHeadline(runs: readonly E2eRun[]): Pick<Headline, "gateway"> {
  const via = runs.filter((r) => r.gateway !== undefined);
  if (via.length === 0) return {};
  const g = (r: E2eRun): SideResult & LockstepExtras => r.gateway!;
  return {
    gateway: {
      order_to_fill_us: medianPct(via.map((r) => g(r).order_to_fill_us)),
      achieved_per_s: Math.round(median(via.map((r) => g(r).achieved_per_s))),
      ratio_to_direct_p50: round2(median(via.map((r) => ratio(g(r).order_to_fill_us.p50, r.lockstep.order_to_fill_us.p50)))),
      ratio_to_direct_p99: round2(median(via.map((r) => ratio(g(r).order_to_fill_us.p99, r.lockstep.order_to_fill_us.p99)))),
      lost: via.reduce((a, r) => a + g(r).lost, 0),
      cpu_us_per_order: medianCpu(via.map(g)),
    },
  };
}

/** The --gateway run's paragraph: order→fill against Lockstep direct, and every process's CPU per order, the gateway's among them. */
function gatewayText(h: Headline): string[] {
  const g = h.gateway;
  if (g === undefined) return [];
  const cpu = Object.entries(g.cpu_us_per_order.processes).map(([p, x]) => `${p} ${cell(x)}`).join(", ");
  return [
    "",
    `**Through a gateway** (\`--gateway\`: the same cluster, the clients on \`lockstep gateway\` with a map of one shard, same load): order→fill p50 ${fmt(g.order_to_fill_us.p50)} µs, p99 ${fmt(g.order_to_fill_us.p99)} µs, ` +
      `${g.ratio_to_direct_p50}× and ${g.ratio_to_direct_p99}× Lockstep direct in the same runs; achieved ${fmt(g.achieved_per_s)}/s; lost ${g.lost}. ` +
      `CPU µs per order: ${cpu}; total ${cell(g.cpu_us_per_order.total)}.`,
  ];
}

/** Each figure of each process: the median over runs. */
function medianGc(sides: readonly SideResult[]): Record<string, GcFigures> {
  const out: Record<string, GcFigures> = {};
  for (const name of Object.keys(sides[0]!.gc)) {
    const fig = (f: keyof GcFigures): number => Math.round(median(sides.map((s) => s.gc[name]?.[f] ?? 0)) * 100) / 100;
    out[name] = { per_100k: fig("per_100k"), major_per_100k: fig("major_per_100k"), pause_ms_per_1k: fig("pause_ms_per_1k"), pause_max_ms: fig("pause_max_ms") };
  }
  return out;
}

const medianOrNull = (xs: (number | null)[], steps: number): number | null => (xs.some((x) => x === null) ? null : Math.round(median(xs as number[]) * steps) / steps);

/** One figure per system, each the median over the runs that have that system (NATS only where nats-server was there). */
function perSystem<T>(runs: readonly E2eRun[], of: (sides: readonly SideResult[]) => T): { floor: T; nats?: T; lockstep: T } {
  const nats = runs.flatMap((r) => (r.nats === undefined ? [] : [r.nats]));
  return { floor: of(runs.map((r) => r.floor)), lockstep: of(runs.map((r) => r.lockstep)), ...(nats.length > 0 ? { nats: of(nats) } : {}) };
}

/** Medians over runs of a per-process, per-order figure and of its total, in steps of 1/`steps`. */
function medianPerOrder(sides: readonly SideResult[], per: (s: SideResult) => Record<string, number | null>, total: (s: SideResult) => number | null, steps: number): CpuFigures {
  const names = Object.keys(per(sides[0]!));
  return {
    processes: Object.fromEntries(names.map((n) => [n, medianOrNull(sides.map((s) => per(s)[n] ?? null), steps)])),
    total: medianOrNull(sides.map(total), steps),
  };
}

const medianCpu = (sides: readonly SideResult[]): CpuFigures => medianPerOrder(sides, (s) => s.cpu_us_per_order, (s) => s.cpu_total_us_per_order, 10);
const medianWakeups = (sides: readonly SideResult[]): CpuFigures => medianPerOrder(sides, (s) => s.wakeups_per_order, (s) => s.wakeups_total_per_order, 100);
const medianRunQueue = (sides: readonly SideResult[]): CpuFigures => medianPerOrder(sides, (s) => s.runqueue_wait_us_per_run, (s) => s.runqueue_wait_all_us_per_run, 10);

function medianHops(hs: readonly Hops[]): Hops {
  const out: Record<string, Hop> = {};
  for (const k of Object.keys(hs[0]!) as (keyof Hops)[]) {
    const fig = (f: keyof Hop): number | null => medianOrNull(hs.map((h) => h[k][f]), 10);
    out[k] = { p50: fig("p50")!, p99: fig("p99"), p999: fig("p999"), max: fig("max"), mean: fig("mean")!, count: fig("count")! };
  }
  return out as unknown as Hops;
}

function natsHeadline(runs: readonly E2eRun[]): Partial<Headline> {
  const withNats = runs.filter((r) => r.nats !== undefined);
  if (withNats.length === 0) return {};
  const n = medianPct(withNats.map((r) => r.nats!.order_to_fill_us));
  const achieved = Math.round(median(withNats.map((r) => r.nats!.achieved_per_s)));
  const base = { nats_us: { p50: n.p50, p99: n.p99, p999: n.p999, max: n.max }, nats_achieved_per_s: achieved };
  if (achieved < KEEPS_UP_SHARE * withNats[0]!.nats!.offered_per_s) return base;
  return {
    ...base,
    ratio_to_nats_p50: round2(median(withNats.map((r) => ratio(r.lockstep.order_to_fill_us.p50, r.nats!.order_to_fill_us.p50)))),
    ratio_to_nats_p99: round2(median(withNats.map((r) => ratio(r.lockstep.order_to_fill_us.p99, r.nats!.order_to_fill_us.p99)))),
  };
}

const fmt = (n: number): string => n.toLocaleString("en-US");

function natsRejects(runs: readonly E2eRun[]): string {
  const all = new Map<string, number>();
  for (const r of runs) for (const [k, n] of Object.entries(r.nats?.rejected ?? {})) all.set(k, (all.get(k) ?? 0) + n);
  return all.size === 0 ? "none" : [...all].map(([k, n]) => `${k} ×${fmt(n)}`).join(", ");
}
const row = (name: string, p: Omit<Percentiles, "count">): string => `| ${name} | ${keys.map((k) => fmt(p[k])).join(" | ")} |`;

export function markdown(h: Headline, runs: readonly E2eRun[], meta: { date: string; command: string; machine: string }): string {
  const last = runs[runs.length - 1]!;
  const lines = [
    `Measured ${meta.date} with \`${meta.command}\` on ${meta.machine}. ${runs.length} run${runs.length > 1 ? "s" : ""}, each the floor, ${h.nats_us === undefined ? "" : "the NATS peer, "}then Lockstep${h.gateway === undefined ? "" : " (and Lockstep again through a gateway)"} at ${fmt(h.offered_per_s)} orders/s offered; figures are medians over runs.`,
    "",
    `**order→fill p50 ${fmt(h.order_to_fill_us.p50)} µs = ${h.ratio_p50}× the floor's; p99 ${fmt(h.order_to_fill_us.p99)} µs = ${h.ratio_p99}× the floor's.** Achieved ${fmt(h.achieved_per_s)} orders/s; lost ${h.lost}.` +
      (h.nats_us === undefined ? " (NATS peer not run: nats-server missing.)"
        : h.ratio_to_nats_p50 === undefined ? ` The NATS JetStream peer did not keep up at this rate (achieved ${fmt(h.nats_achieved_per_s ?? 0)}/s; rejects: ${natsRejects(runs)}), so no ratio to it is given.${natsSustained(h)}`
        : ` Against the NATS JetStream peer: ${h.ratio_to_nats_p50}× at p50, ${h.ratio_to_nats_p99}× at p99.`),
    "",
    h.warmup_s === 0 ? "No warm-up (--warmup 0): every figure counts each system's first orders under load."
      : `Each system first ran ${h.warmup_s} s of the same load, sent and drained before its window opened; those orders are in no figure but the warm-up rows below (a node's first second under load, its code not yet optimized, is a tail of its own).`,
    "",
    `Achieved (median over runs): floor ${fmt(Math.round(median(runs.map((r) => r.floor.achieved_per_s))))}/s` +
      (h.nats_achieved_per_s === undefined ? "" : `, NATS peer ${fmt(h.nats_achieved_per_s)}/s`) + `, Lockstep ${fmt(h.achieved_per_s)}/s.`,
    "",
    "| µs (response time, from the intended send) | p50 | p90 | p99 | p99.9 | p99.99 | max |",
    "|---|---:|---:|---:|---:|---:|---:|",
    row("Lockstep order→fill", medianPct(runs.map((r) => r.lockstep.order_to_fill_us))),
    row("floor order→fill", medianPct(runs.map((r) => r.floor.order_to_fill_us))),
    ...(h.nats_us === undefined ? [] : [row("NATS JetStream peer order→fill", medianPct(runs.filter((r) => r.nats).map((r) => r.nats!.order_to_fill_us)))]),
    row("Lockstep order→ack", medianPct(runs.map((r) => r.lockstep.order_to_ack_us))),
    row("floor order→ack", medianPct(runs.map((r) => r.floor.order_to_ack_us))),
    ...(h.nats_us === undefined ? [] : [row("NATS JetStream peer order→ack (PubAck)", medianPct(runs.filter((r) => r.nats).map((r) => r.nats!.order_to_ack_us)))]),
    row("Lockstep order→fill, service time", medianPct(runs.map((r) => r.lockstep.order_to_fill_service_us))),
    ...(h.warmup_s === 0 ? [] : [
      row(`Lockstep order→fill, warm-up (the ${h.warmup_s} s before the window)`, medianPct(runs.map((r) => r.lockstep.warmup.order_to_fill_us))),
      row("floor order→fill, warm-up", medianPct(runs.map((r) => r.floor.warmup.order_to_fill_us))),
      ...(h.nats_us === undefined ? [] : [row("NATS JetStream peer order→fill, warm-up", medianPct(runs.filter((r) => r.nats).map((r) => r.nats!.warmup.order_to_fill_us)))]),
    ]),
    row("generator lateness (Lockstep run)", medianPct(runs.map((r) => r.lockstep.generator_lateness_us))),
    ...last.lockstep.replicas.flatMap((r) => [row(`${r.id} one-way raw (last run)`, r.one_way_raw_us), row(`${r.id} one-way compensated (last run)`, r.one_way_compensated_us)]),
    "",
    `Replica lag (last run, sampled each second): p50 ${last.lockstep.lag_seq.p50}, p99 ${last.lockstep.lag_seq.p99}, max ${last.lockstep.lag_seq.max} seqs. Replica hashes agree: ${last.lockstep.hashes_agree ? "yes" : "NO"}.`,
    "",
    ...cpuTable(h),
    "",
    ...wakeupTable(h),
    "",
    ...runQueueTable(h),
    "",
    ...gcTable(h),
    "",
    ...hopTable(h, medianPct(runs.map((r) => r.lockstep.order_to_fill_service_us))),
    ...gatewayText(h),
  ];
  return lines.join("\n");
}

/** The cost model's table (docs/benchmarks.md): what each process spent per order, and on what run. */
export function costModel(h: Headline, meta: { date: string; command: string; machine: string }): string {
  return [`Measured ${meta.date} with \`${meta.command}\` on ${meta.machine}, ${fmt(h.offered_per_s)} orders/s offered.`, "", ...cpuTable(h)].join("\n");
}

function natsSustained(h: Headline): string {
  if (h.nats_sustained_per_s === undefined) return "";
  const probes = (h.nats_probes ?? []).map((p) => `${fmt(p.rate)}/s ${p.kept_up ? "kept up" : `achieved ${fmt(p.achieved_per_s)}/s`}`).join(", ");
  return ` It keeps up (achieved ≥ ${KEEPS_UP_SHARE * 100} % of offered) at **${fmt(h.nats_sustained_per_s)} orders/s** (short runs of the peer alone: ${probes}).`;
}

const cell = (x: number | null | undefined): string => (x === null || x === undefined ? "–" : fmt(x));

type System = "floor" | "nats" | "lockstep";
const SYSTEM_TITLES: Record<System, string> = { floor: "floor", nats: "NATS peer", lockstep: "Lockstep" };

/**
 * One figure per process laid out by role: a row per role (the ordering node, the followers,
 * the generator, in the order the run metered them), a column per system that ran. The roles
 * are those of the CPU figures, which every process has.
 */
function roleTable<T>(h: Headline, title: string, figures: (s: System) => Record<string, T> | undefined, show: (x: T | undefined) => string): string[] {
  const systems = (["floor", "nats", "lockstep"] as const).filter((s) => h.cpu_us_per_order[s] !== undefined);
  const names = systems.map((s) => Object.keys(h.cpu_us_per_order[s]!.processes));
  const rows = Math.max(...names.map((n) => n.length));
  const out = [title, "", `| process | ${systems.map((s) => SYSTEM_TITLES[s]).join(" | ")} |`, `|---|${systems.map(() => "---:").join("|")}|`];
  for (let k = 0; k < rows; k++) {
    out.push(`| ${[...new Set(names.map((n) => n[k] ?? ""))].join(" / ")} | ${systems.map((s, j) => show(figures(s)?.[names[j]![k] ?? ""])).join(" | ")} |`);
  }
  return out;
}

/** A per-process figure by role, and each system's total on a last row. */
function totalsTable(h: Headline, title: string, figures: (s: System) => CpuFigures | undefined, totalLabel = "total"): string[] {
  const systems = (["floor", "nats", "lockstep"] as const).filter((s) => figures(s) !== undefined);
  return [
    ...roleTable(h, title, (s) => figures(s)?.processes, (x) => cell(x)),
    `| **${totalLabel}** | ${systems.map((s) => `**${cell(figures(s)!.total)}**`).join(" | ")} |`,
  ];
}

/** CPU µs per order by role, and each system's total. */
export function cpuTable(h: Headline): string[] {
  return totalsTable(h, "**Cost: CPU µs per order** (each process's own CPU time over the measured window ÷ orders sent; median over runs)", (s) => h.cpu_us_per_order[s]);
}

/** Wake-ups per order by role, and each system's total. */
export function wakeupTable(h: Headline): string[] {
  return totalsTable(h, "**Wake-ups per order** (voluntary context switches of every thread of each process over the same window ÷ orders sent: each is a thread put to sleep and woken again; median over runs)", (s) => h.wakeups_per_order[s]);
}

/** Mean wait for a core per run by role, and over every run of each system's processes. */
export function runQueueTable(h: Headline): string[] {
  return totalsTable(h, "**Waiting for a core: µs per run** (each process's threads' run-queue wait ÷ their runs over the same window, /proc/PID/task/TID/schedstat: how long each run, once ready, waited for one of the machine's cores; every hop through the process pays it; median over runs)", (s) => h.runqueue_wait_us_per_run[s], "all runs");
}

/**
 * Collections by role: per 100k orders (of which major), the pause per 1,000 orders and the
 * longest pause. nats-server (Go) has none to count.
 */
export function gcTable(h: Headline): string[] {
  const show = (g: GcFigures | undefined): string => (g === undefined ? "–" : `${g.per_100k} (${g.major_per_100k}) · ${g.pause_ms_per_1k} · ${g.pause_max_ms}`);
  return roleTable(h, "**Garbage collection** over the same window (each Node process's `--trace-gc` lines; the generator's own observer): collections per 100k orders (of which major) · pause ms per 1,000 orders · longest pause ms; median over runs", (s) => h.gc[s], show);
}

const HOP_ROWS: [keyof Hops, string, string][] = [
  ["client_to_sequencer_us", "1. client → sequencer (record tsUs − client send)", "machine clock"],
  ["sequencer_queue_us", "2. sequencer queueing (BATCH ts − record tsUs)", "sequencer clock"],
  ["sequencer_to_replica_raw_us", "3. sequencer → replica, raw (receipt − BATCH ts)", "two clocks"],
  ["sequencer_to_replica_compensated_us", "3. sequencer → replica, skew-compensated", "two clocks − offset"],
  ["replica_receipt_to_send_us", "4. replica: batch receipt → reports handed to the socket", "replica clock"],
  ["replica_to_client_us", "5. replica → client (derived: 2–5 − 2 − 3 − 4; p50 and mean only)", "—"],
  ["sequencer_to_client_us", "2–5 measured per order (client receipt − record tsUs)", "machine clock"],
];

function hopTable(h: Headline, total: Omit<Percentiles, "count">): string[] {
  const hp = h.hops;
  const sum = hp.client_to_sequencer_us.p50 + hp.sequencer_queue_us.p50 + hp.sequencer_to_replica_compensated_us.p50 + hp.replica_receipt_to_send_us.p50 + hp.replica_to_client_us.p50;
  return [
    "**Lockstep order→fill, hop by hop** (filled takers through r1; hops 2–4 from r1's histograms, every record of the measured window; median over runs)",
    "",
    "| µs | clock | p50 | p99 | p99.9 | max | mean |",
    "|---|---|---:|---:|---:|---:|---:|",
    ...HOP_ROWS.map(([k, name, clock]) => `| ${name} | ${clock} | ${cell(hp[k].p50)} | ${cell(hp[k].p99)} | ${cell(hp[k].p999)} | ${cell(hp[k].max)} | ${cell(hp[k].mean)} |`),
    `| order→fill, service time (from the actual send) | machine clock | ${fmt(total.p50)} | ${fmt(total.p99)} | ${fmt(total.p999)} | ${fmt(total.max)} | |`,
    "",
    `Sum of the hops' p50s (1, 2, 3 compensated, 4, 5): ${fmt(Math.round(sum))} µs, against order→fill service p50 ${fmt(total.p50)} µs.`,
  ];
}

// ---- SVG ----------------------------------------------------------------------------------

const W = 760;
const H = 420;
const M = { left: 70, right: 20, top: 30, bottom: 50 };
const X_MAX = 6; // 99.9999 %

/** x of a percentile: log10(1 / (1 − p)), the HdrHistogram plot's axis; 100 % is drawn at 99.9999 %. */
const xOf = (p: number): number => Math.log10(1 / (1 - Math.min(p, 99.9999) / 100));

function pctPoints(p: Percentiles): [number, number][] {
  return [[50, p.p50], [90, p.p90], [99, p.p99], [99.9, p.p999], [99.99, p.p9999], [100, p.max]];
}

export function svgPlot(run: E2eRun, title: string): string {
  const r1 = run.lockstep.replicas[0];
  const series: { name: string; color: string; pts: [number, number][] }[] = [
    { name: "Lockstep order→fill", color: "#d62728", pts: run.lockstep.fill_curve },
    { name: "floor order→fill", color: "#1f77b4", pts: run.floor.fill_curve },
    ...(run.nats === undefined ? [] : [{ name: "NATS JetStream peer order→fill", color: "#9467bd", pts: run.nats.fill_curve }]),
    ...(r1 === undefined ? [] : [
      { name: `${r1.id} one-way raw`, color: "#ff7f0e", pts: pctPoints(r1.one_way_raw_us) },
      { name: `${r1.id} one-way compensated`, color: "#2ca02c", pts: pctPoints(r1.one_way_compensated_us) },
    ]),
  ].filter((s) => s.pts.length > 0);
  const all = series.flatMap((s) => s.pts.map(([, v]) => Math.max(1, v)));
  const yMin = Math.pow(10, Math.floor(Math.log10(Math.min(...all, 10))));
  const yMax = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 100))));
  const px = (p: number): number => M.left + (xOf(p) / X_MAX) * (W - M.left - M.right);
  const py = (v: number): number => H - M.bottom - ((Math.log10(Math.max(1, v)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (H - M.top - M.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (const [p, label] of [[0, "0%"], [90, "90%"], [99, "99%"], [99.9, "99.9%"], [99.99, "99.99%"], [99.999, "99.999%"], [99.9999, "max"]] as [number, string][]) {
    out.push(`<line x1="${px(p)}" y1="${M.top}" x2="${px(p)}" y2="${H - M.bottom}" stroke="#ddd"/>`, `<text x="${px(p)}" y="${H - M.bottom + 16}" text-anchor="middle">${label}</text>`);
  }
  for (let v = yMin; v <= yMax; v *= 10) {
    out.push(`<line x1="${M.left}" y1="${py(v)}" x2="${W - M.right}" y2="${py(v)}" stroke="#ddd"/>`, `<text x="${M.left - 6}" y="${py(v) + 4}" text-anchor="end">${v >= 1000 ? `${v / 1000} ms` : `${v} µs`}</text>`);
  }
  out.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">percentile (log scale of 1/(1−p))</text>`);
  series.forEach((s, i) => {
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.pts.map(([p, v]) => `${px(p).toFixed(1)},${py(v).toFixed(1)}`).join(" ")}"/>`);
    out.push(`<rect x="${M.left + 10}" y="${M.top + 8 + i * 16}" width="12" height="3" fill="${s.color}"/>`, `<text x="${M.left + 28}" y="${M.top + 13 + i * 16}">${escapeXml(s.name)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
