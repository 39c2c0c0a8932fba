/** `lockstep drill …`: parses flags, runs a drill from src/tools/drill, prints and saves its report. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runGeoDrill } from "../tools/drill/geo.js";
import { runClientFailoverDrill, runReplicaKillDrill, runSequencerFailoverDrill, runSequencerRestartDrill } from "../tools/drill/failover.js";
import { findEtcd } from "../cluster/etcd.js";
import { runSkewDrill } from "../tools/drill/skew.js";
import { DEFAULT_FAULTS, FAULT_KINDS, runNemesisDrill, type FaultKind } from "../tools/drill/nemesis.js";
import { runShardsDrill } from "../tools/drill/shards.js";
import { DEFAULT_CONFIG, loadConfig } from "../config/config.js";
import { numberFlag, parse, UserError } from "./args.js";

const RESULTS = resolve(import.meta.dirname, "..", "..", "..", "bench", "results");

function numberList(v: string | boolean | undefined, fallback: number[], what: string): number[] {
  if (v === undefined) return fallback;
  const xs = String(v).split(",").map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) throw new UserError(`${what} must be a comma-separated list of numbers, not "${String(v)}"`, 2);
  return xs;
}

const GEO_CONFIG = resolve(import.meta.dirname, "..", "..", "..", "config", "geo-3region.json");

function save(resultsDir: string, name: string, command: string, result: object): void {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `drill-${name}-latest.json`), `${JSON.stringify({ date: new Date().toISOString(), command, ...result }, null, 2)}\n`);
}

async function runGeo(rest: string[]): Promise<number> {
  const { values: v } = parse(rest, { config: { type: "string" }, duration: { type: "string" }, rate: { type: "string" }, json: { type: "boolean" }, results: { type: "string" } });
  const configPath = String(v.config ?? GEO_CONFIG);
  const config = loadConfig(configPath);
  if (config.sequencer.clock.offsetMs !== 0 || config.sequencer.clock.driftPpm !== 0) throw new UserError("the geo drill measures against the sequencer's clock: give it no offset or drift", 2);
  if ((config.regions ?? []).length === 0) throw new UserError(`${configPath} names no regions`, 2);
  const durationS = numberFlag(v, "duration", 15, 0, 3600);
  const ratePerS = numberFlag(v, "rate", 50, 0, 10_000);
  const json = v.json === true;
  const log = (line: string): boolean => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const result = await runGeoDrill({ configPath, config, durationS, ratePerS, log });
  save(typeof v.results === "string" ? v.results : RESULTS, "geo", `lockstep drill geo ${rest.join(" ")}`.trim(), result);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    log("replica region        out/back ms  asym/2 µs  injected µs  estimated µs  error µs  bound µs  lag seq p50/p99  lag ms p50/p99  order→fill ms p50/p99");
    for (const r of result.replicas) {
      log(`${r.id.padEnd(7)} ${r.region.padEnd(13)} ${`${r.out_ms}/${r.back_ms}`.padStart(11)} ${String(r.asymmetry_us / 2).padStart(10)} ${String(r.injected_offset_us).padStart(12)} ${String(r.estimated_offset_us).padStart(13)} ${String(r.error_us).padStart(9)} ${String(r.bound_us).padStart(9)}  ${`${r.lag_seq_p50}/${r.lag_seq_p99}`.padStart(15)} ${`${r.lag_p50_ms}/${r.lag_p99_ms}`.padStart(15)} ${`${r.order_to_fill_p50_ms}/${r.order_to_fill_p99_ms}`.padStart(21)}`);
    }
  }
  return 0;
}

const FAILOVER_DRILLS = ["replica-kill", "client-failover", "sequencer-restart", "sequencer-failover"] as const;

async function runFailover(what: (typeof FAILOVER_DRILLS)[number], rest: string[]): Promise<number> {
  const { values: v } = parse(rest, { config: { type: "string" }, kills: { type: "string" }, rate: { type: "string" }, replicas: { type: "string" }, fsync: { type: "string" }, seed: { type: "string" }, wipe: { type: "boolean" }, json: { type: "boolean" }, results: { type: "string" } });
  const baseConfig = String(v.config ?? DEFAULT_CONFIG);
  const config = loadConfig(baseConfig);
  const int = (name: string, fallback: number, max: number): number => numberFlag(v, name, fallback, 0, max, true);
  const fsync = String(v.fsync ?? "batch");
  if (fsync !== "batch" && fsync !== "always") throw new UserError(`--fsync must be batch or always, not "${fsync}"`, 2);
  const json = v.json === true;
  const log = (line: string): boolean => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const common = { baseConfig, config, ratePerS: int("rate", 2000, 100_000), seed: int("seed", 1, 2 ** 31), log };
  // Every flag is checked before anything starts.
  const kills = int("kills", what === "replica-kill" ? 5 : 3, what === "replica-kill" ? 10_000 : 1_000);
  const replicas = int("replicas", 3, 16);
  const etcd = findEtcd();
  if (what === "sequencer-failover" && "missing" in etcd) throw new UserError(`drill sequencer-failover needs etcd: ${etcd.missing}`);
  log(`drill ${what}: ${common.ratePerS} orders/s`);
  const result = what === "replica-kill" ? await runReplicaKillDrill({ ...common, kills, replicas })
    : what === "client-failover" ? await runClientFailoverDrill(common)
    : what === "sequencer-restart" ? await runSequencerRestartDrill({ ...common, kills, fsync })
    : await runSequencerFailoverDrill({ ...common, kills, wipe: v.wipe === true });
  save(typeof v.results === "string" ? v.results : RESULTS, what, `lockstep drill ${what} ${rest.join(" ")}`.trim(), result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

/** `lockstep drill nemesis [--duration S] [--rate R] [--seed N] [--faults kinds] [--json]`. */
async function runNemesis(rest: string[]): Promise<number> {
  const { values: v } = parse(rest, { config: { type: "string" }, duration: { type: "string" }, rate: { type: "string" }, seed: { type: "string" }, faults: { type: "string" }, json: { type: "boolean" }, results: { type: "string" } });
  const baseConfig = String(v.config ?? DEFAULT_CONFIG);
  const config = loadConfig(baseConfig);
  const kinds = (v.faults === undefined ? [...DEFAULT_FAULTS] : String(v.faults).split(",").map((k) => k.trim())) as FaultKind[];
  const unknown = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0 || kinds.length === 0) throw new UserError(`--faults takes a comma-separated list of ${FAULT_KINDS.join(", ")}${unknown.length > 0 ? ` (not "${unknown.join(",")}")` : ""}`, 2);
  const durationS = numberFlag(v, "duration", 60, 0, 3600);
  const ratePerS = numberFlag(v, "rate", 1000, 0, 50_000);
  const seed = numberFlag(v, "seed", 1, 0, 2 ** 31, true);
  const etcd = findEtcd();
  if ("missing" in etcd) throw new UserError(`drill nemesis needs etcd: ${etcd.missing}`);
  const json = v.json === true;
  const log = (line: string): boolean => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const result = await runNemesisDrill({ baseConfig, config, durationS, ratePerS, seed, kinds, log });
  save(typeof v.results === "string" ? v.results : RESULTS, "nemesis", `lockstep drill nemesis ${rest.join(" ")}`.trim(), result);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

/** `lockstep drill shards [--duration S] [--rate R] [--json]`: scale out 2 → 3 shards under load, rebalance, kill s1's leader. */
async function runShards(rest: string[]): Promise<number> {
  const { values: v } = parse(rest, { config: { type: "string" }, duration: { type: "string" }, rate: { type: "string" }, json: { type: "boolean" }, results: { type: "string" } });
  const durationS = numberFlag(v, "duration", 30, 6, 3600);
  const ratePerS = numberFlag(v, "rate", 400, 8, 20_000);
  const etcd = findEtcd();
  if ("missing" in etcd) throw new UserError(`drill shards needs etcd: ${etcd.missing}`);
  const json = v.json === true;
  const log = (line: string): boolean => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const result = await runShardsDrill({ baseConfig: String(v.config ?? DEFAULT_CONFIG), durationS, ratePerS, log });
  save(typeof v.results === "string" ? v.results : RESULTS, "shards", `lockstep drill shards ${rest.join(" ")}`.trim(), result);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const c = result.checks;
    log(`orders: ${result.orders.sent} sent, ${result.orders.acked} acked, ${result.orders.rejected} refused, ${result.orders.unknown} unanswered`);
    log(`rebalance: ${result.rebalance.moved} instruments moved to s3 in ${result.rebalance.ms_total} ms, book hashes ${result.rebalance.hashes_equal ? "equal" : "DIFFERENT"}; map version ${result.map_version}`);
    log(`kill: ${result.kill.killed} (s1's leader); ${result.kill.new_leader} led after ${result.kill.failover_ms} ms`);
    for (const [what, table] of [["order→ack", result.ack_latency], ["order→fill", result.fill_latency]] as const) {
      log(`${`${what} ms p50/p99 (orders)`.padEnd(30)}   quiet            scale-out        kill             tail`);
      for (const [id, ph] of Object.entries(table)) {
        const cell = (p: keyof typeof ph): string => (ph[p] === undefined ? "–" : `${ph[p]!.p50_ms}/${ph[p]!.p99_ms} (${ph[p]!.orders})`).padEnd(17);
        log(`${id.padEnd(30)}   ${cell("quiet")}${cell("scale_out")}${cell("kill")}${cell("tail")}`);
      }
    }
    for (const [id, b] of Object.entries(result.kill_noise_band)) {
      if (b.fill === null) continue;
      log(`${id} order→fill p99 in the kill phase ${b.fill.p99_ms} ms, quiet noise band ${b.fill.p99_low_ms}–${b.fill.p99_high_ms} ms for ${b.fill.orders_per_window} orders: ${b.fill.within ? "within" : "ABOVE"}`);
    }
    const others = result.others_within_noise;
    log(`shards other than s1 within the noise of their quiet run during the kill: ${others === null ? "not judged (no quiet phase or no kill-phase fills)" : others ? "yes" : "NO"}`);
    log(`lost ${c.lost}, duplicates ${c.duplicates}, forks ${c.forks}, diverged ${c.diverged}; unanswered orders in a log ${c.unknown_in_log}, absent ${c.unknown_absent}`);
  }
  const c = result.checks;
  return c.lost + c.duplicates + c.forks + c.diverged === 0 && result.rebalance.hashes_equal && result.rebalance.error === undefined ? 0 : 1;
}

export async function runDrill(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  if (what === "geo") return runGeo(rest);
  if (what === "nemesis") return runNemesis(rest);
  if (what === "shards") return runShards(rest);
  if ((FAILOVER_DRILLS as readonly string[]).includes(what ?? "")) return runFailover(what as (typeof FAILOVER_DRILLS)[number], rest);
  if (what !== "skew") throw new UserError(`drill needs a name: skew, geo, nemesis, shards, ${FAILOVER_DRILLS.join(", ")}${what === undefined ? "" : ` (not "${what}")`}`, 2);
  const { values: v } = parse(rest, { config: { type: "string" }, "offset-ms": { type: "string" }, "drift-ppm": { type: "string" }, duration: { type: "string" }, rate: { type: "string" }, json: { type: "boolean" }, results: { type: "string" } });
  const offsetsMs = numberList(v["offset-ms"], [250, -40, 3], "--offset-ms");
  const driftsPpm = numberList(v["drift-ppm"], offsetsMs.length === 3 ? [40, -25, 10] : offsetsMs.map(() => 0), "--drift-ppm");
  if (driftsPpm.length !== offsetsMs.length) throw new UserError("--drift-ppm needs as many values as --offset-ms", 2);
  if (offsetsMs.some((x) => Math.abs(x) > 3_600_000) || driftsPpm.some((x) => Math.abs(x) > 1000)) throw new UserError("offsets must be within ±1 h and drifts within ±1000 ppm", 2);
  const durationS = numberFlag(v, "duration", 10, 0, 3600);
  const ratePerS = numberFlag(v, "rate", 2000, 0, 1_000_000);
  const json = v.json === true;
  const log = (line: string): boolean => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const result = await runSkewDrill({ baseConfig: String(v.config ?? DEFAULT_CONFIG), offsetsMs, driftsPpm, durationS, ratePerS, log });
  save(typeof v.results === "string" ? v.results : RESULTS, "skew", `lockstep drill skew ${rest.join(" ")}`.trim(), result);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    log("replica  injected µs  estimated µs  error µs  bound µs  held  raw p50/p99 µs      compensated p50/p99  true p50/p99");
    for (const r of result.replicas) {
      log(`${r.id.padEnd(8)} ${String(r.injected_offset_us).padStart(11)} ${String(r.estimated_offset_us).padStart(13)} ${String(r.error_us).padStart(9)} ${String(r.bound_us).padStart(9)}  ${r.bound_held ? "yes " : "NO  "}  ${`${r.raw_one_way_p50_us}/${r.raw_one_way_p99_us}`.padEnd(19)} ${`${r.compensated_one_way_p50_us}/${r.compensated_one_way_p99_us}`.padEnd(20)} ${r.true_one_way_p50_us}/${r.true_one_way_p99_us}`);
    }
  }
  return 0;
}
