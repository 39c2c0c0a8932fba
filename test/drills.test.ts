/**
 * Short versions of the failure drills, as real processes killed with SIGKILL, so CI guards
 * them: no divergence, no acked order lost, no seq acked twice, no execution report lost or
 * repeated across a client's failover, and every process cleaned up.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { findEtcd } from "../src/cluster/etcd.js";

const etcd = findEtcd();
if ("missing" in etcd) console.warn(`sequencer-failover drill test skipped: ${etcd.missing}`);
const BIN = join(import.meta.dirname, "..", "bin", "lockstep.js");
const results = mkdtempSync(join(tmpdir(), "lockstep-drills-"));
afterAll(() => rmSync(results, { recursive: true, force: true }));

async function drill(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, "drill", ...args, "--json", "--results", results], { timeout: 90_000 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
}

describe("slow-consumer bench (short)", () => {
  it("with 100 stalled subscribers and a 10x flood attached, the sequencer and the other replica keep serving within milliseconds", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, "bench", "slow-consumers", "--duration", "4", "--rate", "100", "--stalled", "100", "--json", "--results", results], { timeout: 90_000 });
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as { quiet: { fills: number; p50_ms: number }; stressed: { fills: number; p50_ms: number; p99_ms: number }; flood_rate_limited: number; stalled: number };
    expect(r.stalled).toBe(100);
    expect(r.flood_rate_limited).toBeGreaterThan(0);
    expect(r.quiet.fills).toBeGreaterThan(300);
    expect(r.stressed.fills).toBeGreaterThan(300);
    // What a 4-second run on a shared 2-core machine can show reliably: no collapse, service
    // within milliseconds. The flood is real extra load on the same two cores, so the median
    // moves by a factor that depends on the machine and on what else runs (stressed p50 3.0-5.6 ms
    // and p99 37-45 ms alone on a quiet machine, 2026-12-01; 12.4 ms p50 once inside the suite),
    // so the bounds are absolute and wide: a stall (a sequencer or replica blocked by a stalled
    // subscriber) costs hundreds of milliseconds or fills. The 1.5x p99 target is a bench figure
    // (docs/benchmarks.md).
    const figures = JSON.stringify({ quiet: r.quiet, stressed: r.stressed });
    expect(r.stressed.p50_ms, figures).toBeLessThan(50);
    expect(r.stressed.p99_ms, figures).toBeLessThan(250);
  });
});

describe("failure drills (short)", () => {
  it("replica-kill: replicas killed with -9 recover from snapshot + catch-up and agree", async () => {
    const r = await drill("replica-kill", "--kills", "3", "--rate", "3000");
    expect(r).toMatchObject({ kills: 3, diverged: 0, lost: 0, duplicates: 0 });
    expect(r.acked as number).toBeGreaterThan(1000);
    expect(r.final_seq as number).toBeGreaterThanOrEqual(r.acked as number);
  });

  it("client-failover: the client's replica dies; it receives exactly the sequencer log's reports, once, in order", async () => {
    const r = await drill("client-failover", "--rate", "2000");
    expect(r).toMatchObject({ lost: 0, duplicates: 0, diverged: 0, in_order: true, identical_to_log: true });
    expect(r.reports as number).toBeGreaterThan(500);
  });

  it("sequencer-restart: killing the sequencer with -9 loses no acked order; clients reconnect and continue", async () => {
    const r = await drill("sequencer-restart", "--kills", "2", "--rate", "2000", "--fsync", "always");
    expect(r).toMatchObject({ kills: 2, lost: 0, duplicates: 0, diverged: 0 });
    expect(r.reconnects as number).toBeGreaterThanOrEqual(2);
    expect(r.journal_seq as number).toBeGreaterThanOrEqual(r.acked as number);
  });

  it.skipIf("missing" in etcd)("sequencer-failover: the leader is killed (once with its disk); the standby takes over with a higher epoch, nothing acked is lost, the old leader comes back fenced", async () => {
    const r = await drill("sequencer-failover", "--kills", "2", "--rate", "2000", "--wipe");
    expect(r).toMatchObject({ kills: 2, disks_wiped: 1, lost: 0, duplicates: 0, seq_reused: 0, diverged: 0, revived_leaders_fenced: 2, epochs: [2, 3] });
    expect(r.acked as number).toBeGreaterThan(1000);
    expect((r.first_ack_ms as { max: number }).max).toBeLessThan(10_000);
  });

  it.skipIf("missing" in etcd)("nemesis: seeded rounds of faults where nothing dies; the same seed gives the same schedule; the history check finds nothing wrong", async () => {
    const r = await drill("nemesis", "--duration", "3", "--rate", "300", "--seed", "7", "--faults", "blackhole,pause,clock");
    expect(r).toMatchObject({ seed: 7, settled: true, lost: 0, duplicates: 0, forks: 0, diverged: 0, report_mismatches: 0, phantom_acks: 0, rejected_in_log: 0 });
    expect((r.ops as { ack: number }).ack).toBeGreaterThan(300);
    const kinds = (r.schedule as { faults: { kind: string }[]; skipped: string[] }[]).map((x) => [...x.faults.map((f) => f.kind), ...x.skipped].sort().join("+"));
    // planRounds(7, [blackhole, pause, clock]) is fixed by the seed: its first rounds, whatever the timing.
    const { planRounds } = await import("../src/tools/drill/nemesis.js");
    const plan = planRounds(7, ["blackhole", "pause", "clock"]);
    expect(kinds).toEqual(kinds.map(() => (plan.next().value as { faults: { kind: string }[] }).faults.map((f) => f.kind).sort().join("+")));
  });
});
