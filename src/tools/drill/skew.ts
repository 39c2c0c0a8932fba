/**
 * The skew drill: a sequencer with a true clock and replicas whose clocks are given known
 * offsets and drifts, all as separate processes, under order traffic. Every second it compares
 * each replica's estimated offset with the error injected into its clock (what the estimator
 * must recover), checks the reported bound, and at the end reports raw, skew-compensated and
 * true one-way times side by side.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TradingClient } from "../../client/trading.js";
import { runTraffic } from "../../client/traffic.js";
import { spawnNode, statsOf, stopNode, type NodeProcess, type ReplicaStats } from "../../cluster/launcher.js";

export interface SkewDrillOptions {
  readonly baseConfig: string;
  readonly offsetsMs: readonly number[];
  readonly driftsPpm: readonly number[];
  readonly durationS: number;
  readonly ratePerS: number;
  readonly log: (line: string) => void;
}

export interface SkewDrillReplica {
  id: string;
  injected_offset_us: number;
  injected_drift_ppm: number;
  estimated_offset_us: number;
  error_us: number;
  bound_us: number;
  /** Largest |error| seen at the once-a-second checks from 5 s on. */
  max_error_after_5s_us: number;
  /** Whether |error| ≤ bound held at every once-a-second check. */
  bound_held: boolean;
  raw_one_way_p50_us: number;
  compensated_one_way_p50_us: number;
  true_one_way_p50_us: number;
  raw_one_way_p99_us: number;
  compensated_one_way_p99_us: number;
  true_one_way_p99_us: number;
}

const WARMUP_S = 5;

/** A copy of the base config with one replica per injected clock, on free ports. */
function drillConfig(base: string, dir: string, offsetsMs: readonly number[], driftsPpm: readonly number[]): string {
  const cfg = JSON.parse(readFileSync(base, "utf8")) as { sequencer: Record<string, unknown>; replicas: unknown[] };
  cfg.sequencer.port = 0;
  cfg.sequencer.clock = { offsetMs: 0, driftPpm: 0 };
  cfg.replicas = offsetsMs.map((offsetMs, i) => ({ id: `d${i + 1}`, port: 0, clock: { offsetMs, driftPpm: driftsPpm[i] ?? 0 } }));
  const path = join(dir, "drill-config.json");
  writeFileSync(path, JSON.stringify(cfg, null, 2));
  return path;
}

export async function runSkewDrill(o: SkewDrillOptions): Promise<{ replicas: SkewDrillReplica[] }> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-drill-skew-"));
  const logDir = join(dir, "logs");
  mkdirSync(logDir);
  const nodes: NodeProcess[] = [];
  try {
    const config = drillConfig(o.baseConfig, dir, o.offsetsMs, o.driftsPpm);
    const seq = await spawnNode("sequencer", ["sequencer", "--config", config, "--data", dir, "--port", "0"], logDir);
    nodes.push(seq);
    const replicas = await Promise.all(o.offsetsMs.map((_, i) => spawnNode(`d${i + 1}`, ["replica", "--config", config, "--id", `d${i + 1}`, "--data", dir, "--port", "0", "--sequencer", String(seq.ready.replicate), "--drill-truth"], logDir)));
    nodes.push(...replicas);
    o.log(`drill skew: ${replicas.length} replicas, offsets ${o.offsetsMs.join(", ")} ms, drifts ${o.driftsPpm.join(", ")} ppm, ${o.durationS} s at ${o.ratePerS} orders/s`);
    const checks = replicas.map(() => ({ maxErrorAfterWarmup: 0, boundHeld: true }));
    const started = performance.now();
    const client = await TradingClient.connect(String(seq.ready.trade), 1);
    const traffic = runTraffic(client, { instrument: 1, commands: Math.ceil(o.ratePerS * o.durationS), seed: 77, windowMax: 256, mid: 10_000, ratePerS: o.ratePerS });
    const sampler = setInterval(() => {
      void Promise.all(replicas.map((r) => statsOf<ReplicaStats>(r))).then((rs) => {
        const t = (performance.now() - started) / 1000;
        rs.forEach((s, i) => {
          if (s.skew === null || s.clock_injected_error_us === undefined) return;
          const err = Math.abs(s.skew.offset_us - s.clock_injected_error_us);
          if (err > s.skew.bound_us) checks[i]!.boundHeld = false;
          if (t >= WARMUP_S) checks[i]!.maxErrorAfterWarmup = Math.max(checks[i]!.maxErrorAfterWarmup, err);
          o.log(`  t=${t.toFixed(0)}s ${s.id}: estimated ${s.skew.offset_us} µs, injected ${s.clock_injected_error_us} µs, error ${err} µs, bound ${s.skew.bound_us} µs`);
        });
      }).catch(() => undefined);
    }, 1000);
    await traffic;
    clearInterval(sampler);
    await client.close();
    const rs = await Promise.all(replicas.map((r) => statsOf<ReplicaStats>(r)));
    return { replicas: rs.map((s, i) => report(s, o.driftsPpm[i] ?? 0, checks[i]!)) };
  } finally {
    await Promise.all(nodes.map(stopNode));
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(s: ReplicaStats, driftPpm: number, check: { maxErrorAfterWarmup: number; boundHeld: boolean }): SkewDrillReplica {
  const injected = s.clock_injected_error_us ?? 0;
  const estimated = s.skew?.offset_us ?? 0;
  const l = s.latency;
  return {
    id: s.id, injected_offset_us: injected, injected_drift_ppm: driftPpm, estimated_offset_us: estimated,
    error_us: Math.abs(estimated - injected), bound_us: s.skew?.bound_us ?? 0,
    max_error_after_5s_us: check.maxErrorAfterWarmup, bound_held: check.boundHeld && Math.abs(estimated - injected) <= (s.skew?.bound_us ?? 0),
    raw_one_way_p50_us: l.one_way_raw_us!.p50, compensated_one_way_p50_us: l.one_way_compensated_us!.p50, true_one_way_p50_us: l.one_way_true_us!.p50,
    raw_one_way_p99_us: l.one_way_raw_us!.p99, compensated_one_way_p99_us: l.one_way_compensated_us!.p99, true_one_way_p99_us: l.one_way_true_us!.p99,
  };
}
