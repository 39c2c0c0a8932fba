/** `lockstep bench engine`: runs bench/engine-bench and refreshes the README's generated section. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { markdownTable, runEngineBench } from "../../bench/engine-bench.js";
import { numberFlag, parse, UserError } from "./args.js";
import { runSlowConsumerBench } from "../tools/drill/slow-consumers.js";
import { DEFAULT_CONFIG, loadConfig } from "../config/config.js";
import { mkdirSync } from "node:fs";
import os from "node:os";
import cliProgress from "cli-progress";
import { natsSustainedRate, runE2eOnce, type E2eOptions, type E2eRun } from "../tools/loadgen/e2e.js";
import { profileSummary } from "../tools/loadgen/profile.js";
import { costModel, headline, markdown, svgPlot, type Headline } from "../tools/loadgen/report.js";
import { DEFAULT_SWEEP_LIMITS, judgeStep, sweepCapacity, sweepDone, sweepMarkdown, type StepVerdict, type SweepLimits } from "../tools/loadgen/sweep.js";

const REPO = join(import.meta.dirname, "..", "..", "..");
const LOBSTER_MESSAGES = join(REPO, "..", "shared", "data", "lobster", "AAPL_2012-06-21_34200000_57600000_message_10.csv");

/** Replaces the text between `<!-- name:start -->` and `<!-- name:end -->` in a file (the README, a doc), if both are there. */
export function updateGeneratedSection(file: string, name: string, body: string): boolean {
  if (!existsSync(file)) return false;
  const text = readFileSync(file, "utf8");
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return false;
  writeFileSync(file, `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`);
  return true;
}

async function runSlowConsumers(rest: string[]): Promise<number> {
  const { values: v } = parse(rest, { config: { type: "string" }, rate: { type: "string" }, duration: { type: "string" }, stalled: { type: "string" }, flood: { type: "string" }, json: { type: "boolean" }, results: { type: "string" } });
  const num = (name: string, fallback: number, max: number): number => numberFlag(v, name, fallback, 0, max, true);
  const baseConfig = String(v.config ?? DEFAULT_CONFIG);
  const json = v.json === true;
  const log = (line: string): boolean => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const o = { baseConfig, config: loadConfig(baseConfig), ratePerS: num("rate", 100, 10_000), durationS: num("duration", 5, 600), stalled: num("stalled", 100, 10_000), floodFactor: num("flood", 10, 100), log };
  log(`$ lockstep bench slow-consumers ${rest.join(" ")}`.trim());
  const result = await runSlowConsumerBench(o);
  const dir = typeof v.results === "string" ? v.results : join(REPO, "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "slow-consumers-latest.json"), `${JSON.stringify({ date: new Date().toISOString(), command: `lockstep bench slow-consumers ${rest.join(" ")}`.trim(), ...result }, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

const machine = (): string => `${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

/** A progress bar on stderr while a run goes; none under --json or when stderr is not a terminal. */
function progressBar(json: boolean): { update: (phase: string, sent: number, total: number) => void; stop: () => void } {
  if (json || process.stderr.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: "  {phase} [{bar}] {value}/{total} orders", stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
  let started = "";
  return {
    update: (phase, sent, total) => {
      if (started !== phase) {
        if (started !== "") bar.stop();
        bar.start(total, 0, { phase: phase.padEnd(8) });
        started = phase;
      }
      bar.update(sent, { phase: phase.padEnd(8) });
    },
    stop: () => { if (started !== "") bar.stop(); started = ""; },
  };
}

/** Seconds of load before each system's measured window, when --warmup is not given. */
export const WARMUP_S_DEFAULT = 2;
/** The longest warm-up --warmup takes, in seconds. */
const WARMUP_S_MAX = 600;

/** --warmup S: whole seconds, 0 (none) to WARMUP_S_MAX. */
function warmupFlag(x: string | boolean | undefined): number {
  if (x === undefined) return WARMUP_S_DEFAULT;
  const n = Number(x);
  if (typeof x !== "string" || x.trim() === "" || !Number.isInteger(n) || n < 0 || n > WARMUP_S_MAX) throw new UserError(`--warmup must be a whole number of seconds from 0 to ${WARMUP_S_MAX}, not "${String(x)}"`, 2);
  return n;
}

interface E2eFlags { o: Omit<E2eOptions, "ratePerS" | "progress">; repeat: number; json: boolean; resultsDir: string; log: (line: string) => void }

function e2eFlags(rest: string[], extra: Record<string, { type: "string" | "boolean" }>): { flags: E2eFlags; v: Record<string, string | boolean | undefined> } {
  const { values: v } = parse(rest, { config: { type: "string" }, duration: { type: "string" }, warmup: { type: "string" }, replicas: { type: "string" }, clients: { type: "string" }, repeat: { type: "string" }, seed: { type: "string" }, json: { type: "boolean" }, results: { type: "string" }, ...extra });
  const num = (name: string, fallback: number, max: number): number => numberFlag(v, name, fallback, 0, max, true);
  const baseConfig = String(v.config ?? DEFAULT_CONFIG);
  const cfg = loadConfig(baseConfig);
  const json = v.json === true;
  const log = (line: string): void => { (json ? process.stderr : process.stdout).write(`${line}\n`); };
  return {
    v,
    flags: {
      o: { baseConfig, durationS: num("duration", 10, 3600), warmupS: warmupFlag(v.warmup), replicas: num("replicas", 3, 16), clients: num("clients", 4, 256), instrument: cfg.demo.instrument, mid: cfg.demo.mid, seed: num("seed", 1, 2 ** 31), log },
      repeat: num("repeat", 1, 100), json, resultsDir: typeof v.results === "string" ? v.results : join(REPO, "bench", "results"), log,
    },
  };
}

/** `profileDir`: each run's node profiles go to DIR/run-K/<system>/. */
async function measure(f: E2eFlags, ratePerS: number, profileDir?: string): Promise<E2eRun[]> {
  const bar = progressBar(f.json);
  const runs: E2eRun[] = [];
  try {
    for (let k = 0; k < f.repeat; k++) {
      if (f.repeat > 1) f.log(`run ${k + 1}/${f.repeat}`);
      runs.push(await runE2eOnce({ ...f.o, ratePerS, progress: bar.update, ...(profileDir === undefined ? {} : { profileDir: join(profileDir, `run-${k + 1}`) }) }));
      bar.stop();
    }
  } finally {
    bar.stop();
  }
  return runs;
}

function writeResults(dir: string, name: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [ext, body] of Object.entries(files)) writeFileSync(join(dir, `${name}-latest.${ext}`), body);
}

/** The .cpuprofile files below `dir`, and a summary of their self times beside them (profile-summary.md). */
function summarizeProfiles(dir: string, log: (line: string) => void): void {
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".cpuprofile")).sort().map((f) => join(dir, f));
  writeFileSync(join(dir, "profile-summary.md"), profileSummary(files, dir));
  log(`  ${files.length} CPU profiles in ${dir} (self time per function: ${join(dir, "profile-summary.md")})`);
}

async function runE2e(rest: string[]): Promise<number> {
  const { flags: parsed, v } = e2eFlags(rest, { rate: { type: "string" }, profile: { type: "string" }, gateway: { type: "boolean" } });
  const f: E2eFlags = { ...parsed, o: { ...parsed.o, gateway: v.gateway === true } };
  const rate = numberFlag(v, "rate", 20_000, 0, 1_000_000, true);
  const profileDir = typeof v.profile === "string" ? resolve(v.profile) : undefined;
  const command = `lockstep bench e2e ${rest.filter((a) => a !== "--json").join(" ")}`.trim();
  f.log(`$ ${command}`);
  const runs = await measure(f, rate, profileDir);
  if (profileDir !== undefined) summarizeProfiles(profileDir, f.log);
  const h = headline(runs);
  if (h.nats_us !== undefined && h.ratio_to_nats_p50 === undefined) {
    f.log("  the NATS peer did not keep up: finding the rate at which it does");
    const found = await natsSustainedRate({ ...f.o, ratePerS: rate }, rate);
    h.nats_sustained_per_s = found.sustained_per_s;
    h.nats_probes = found.probes;
  }
  const meta = { date: new Date().toISOString(), command, machine: machine() };
  const md = markdown(h, runs, meta);
  writeResults(f.resultsDir, "e2e", {
    json: `${JSON.stringify({ ...meta, headline: h, runs }, null, 2)}\n`, md: `${md}\n`,
    svg: svgPlot(runs[Math.floor((runs.length - 1) / 2)]!, `order→fill at ${rate.toLocaleString("en-US")} orders/s: Lockstep vs the bare relay floor`),
  });
  if (typeof v.results !== "string") {
    updateGeneratedSection(join(REPO, "README.md"), "bench:e2e", `${md}\n\n![order→fill percentile distribution](bench/results/e2e-latest.svg)`);
    updateGeneratedSection(join(REPO, "docs", "benchmarks.md"), "bench:cost", costModel(h, meta));
  }
  if (!f.json) f.log(md);
  process.stdout.write(`${JSON.stringify(h)}\n`);
  return 0;
}

/**
 * Steps the offered rate up, each step a `bench e2e` measurement (floor, peer and Lockstep in one
 * command), and judges each (sweep.ts): Lockstep under the absolute p99 limit, the floor under its
 * own, Lockstep within --ratio-p99 × the floor's p99. Stops once all three have failed.
 */
async function runSweep(rest: string[]): Promise<number> {
  const { flags: f, v } = e2eFlags(rest, { rates: { type: "string" }, "p99-ms": { type: "string" }, "floor-p99-ms": { type: "string" }, "ratio-p99": { type: "string" } });
  const rates = String(v.rates ?? "1000,2000,5000,10000,20000,50000,100000").split(",").map((x) => Number(x));
  if (rates.some((r) => !Number.isInteger(r) || r <= 0 || r > 1_000_000)) throw new UserError("--rates must be a comma-separated list of integers in 1..1000000", 2);
  if (rates.some((r, i) => i > 0 && r <= rates[i - 1]!)) throw new UserError("--rates must rise: each rate above the one before it", 2);
  const limits: SweepLimits = {
    p99LimitUs: numberFlag(v, "p99-ms", DEFAULT_SWEEP_LIMITS.p99LimitUs / 1000, 0, 60_000) * 1000,
    floorP99LimitUs: numberFlag(v, "floor-p99-ms", DEFAULT_SWEEP_LIMITS.floorP99LimitUs / 1000, 0, 60_000) * 1000,
    ratioP99Max: numberFlag(v, "ratio-p99", DEFAULT_SWEEP_LIMITS.ratioP99Max, 0, 1000),
  };
  const command = `lockstep bench sweep ${rest.filter((a) => a !== "--json").join(" ")}`.trim();
  f.log(`$ ${command}`);
  const steps: { rate: number; headline: Headline; verdict: StepVerdict }[] = [];
  for (const rate of rates) {
    f.log(`rate ${rate.toLocaleString("en-US")} orders/s`);
    const h = headline(await measure(f, rate));
    const verdict = judgeStep(h, limits);
    steps.push({ rate, headline: h, verdict });
    const failed = Object.entries(verdict).filter(([, why]) => why !== "").map(([k, why]) => `${k}: ${why}`);
    f.log(`  achieved ${h.achieved_per_s}/s (floor ${h.floor_achieved_per_s}/s), order→fill p50 ${h.order_to_fill_us.p50} µs p99 ${h.order_to_fill_us.p99} µs (${h.ratio_p50}× / ${h.ratio_p99}× the floor)${failed.length === 0 ? "" : `; ${failed.join("; ")}`}`);
    if (sweepDone(steps.map((s) => s.verdict))) break;
  }
  const cap = sweepCapacity(steps);
  const result = {
    ...cap, p99_limit_us: limits.p99LimitUs, floor_p99_limit_us: limits.floorP99LimitUs, ratio_p99_max: limits.ratioP99Max, replicas: f.o.replicas, repeat: f.repeat,
    steps: steps.map((s) => ({ rate: s.rate, sustained: s.verdict.sustained === "", why: s.verdict.sustained, floor_ok: s.verdict.floor === "", floor_why: s.verdict.floor, vs_floor_ok: s.verdict.vs_floor === "", vs_floor_why: s.verdict.vs_floor, ...s.headline })),
  };
  const meta = { date: new Date().toISOString(), command, machine: machine() };
  const md = sweepMarkdown(result, steps, limits, meta);
  writeResults(f.resultsDir, "sweep", { json: `${JSON.stringify({ ...meta, ...result }, null, 2)}\n`, md: `${md}\n` });
  if (typeof v.results !== "string") updateGeneratedSection(join(REPO, "README.md"), "bench:sweep", md);
  if (!f.json) f.log(md);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

export async function runBench(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  if (what === "slow-consumers") return runSlowConsumers(rest);
  if (what === "e2e") return runE2e(rest);
  if (what === "sweep") return runSweep(rest);
  if (what !== "engine") throw new UserError(`bench needs a target: engine, e2e, sweep or slow-consumers${what === undefined ? "" : ` (not "${what}")`}`, 2);
  const { values: v } = parse(rest, { quick: { type: "boolean" }, json: { type: "boolean" }, lobster: { type: "string" } });
  const json = v.json === true;
  const command = `lockstep bench engine${v.quick === true ? " --quick" : ""}${json ? " --json" : ""}`;
  const result = runEngineBench({
    quick: v.quick === true,
    resultsDir: join(REPO, "bench", "results"),
    lobsterFile: typeof v.lobster === "string" ? v.lobster : LOBSTER_MESSAGES,
    log: (line) => (json ? process.stderr : process.stdout).write(`${line}\n`),
  }, command);
  updateGeneratedSection(join(REPO, "README.md"), "bench:engine", markdownTable(result));
  if (json) {
    const scenarios = result.scenarios.map((s) => ({ name: s.name, depth: s.depth, lockstep_ops_per_s: s.lockstep_ops_per_s, peer_ops_per_s: s.peer_ops_per_s, ratio: s.ratio, p50_ns: s.p50_ns, p99_ns: s.p99_ns, p999_ns: s.p999_ns }));
    process.stdout.write(`${JSON.stringify({ scenarios, bytes_per_resting_order: result.bytes_per_resting_order, lobster_replay_ops_per_s: result.lobster_replay_ops_per_s })}\n`);
  }
  return 0;
}
