/**
 * The end-to-end benchmark measures what it claims: the pacer is open-loop (a stall delays the
 * sends behind it, and their latency is charged from their intended times), and `bench e2e`
 * runs the floor, the NATS peer (when nats-server is installed) and a cluster as processes and
 * reports them side by side, with ratios, nothing lost, and its result files. (Short and slow: this checks the method, not the performance.)
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
// From the build: the pacer starts its worker thread from a compiled .js file beside it.
import { nowNs, Pacer } from "../dist/src/tools/loadgen/pacer.js";
import { findNatsServer } from "../src/tools/loadgen/nats.js";

const BIN = join(import.meta.dirname, "..", "bin", "lockstep.js");
const results = mkdtempSync(join(tmpdir(), "lockstep-e2e-test-"));
afterAll(() => rmSync(results, { recursive: true, force: true }));

describe("open-loop pacer", () => {
  it("sends on schedule, and a stall does not move later sends: they go at once, charged from their due times", async () => {
    const pacer = new Pacer(2000, 1000);
    const lateUs: number[] = [];
    const started = nowNs();
    const sent = await pacer.run((i) => {
      lateUs.push((nowNs() - pacer.dueNs(i)) / 1000);
      // One 50 ms stall at send 300: the sender cannot keep up for a while.
      if (i === 300) while (nowNs() - pacer.dueNs(300) < 50e6) { /* busy */ }
    });
    const tookMs = (nowNs() - started) / 1e6;
    expect(sent).toBe(1000);
    expect(lateUs.every((x) => x >= 0)).toBe(true);
    // Open loop: the whole run still takes ~0.5 s (closed loop would add the stall to it).
    expect(tookMs).toBeGreaterThan(480);
    expect(tookMs).toBeLessThan(1000);
    // The sends due during the stall (every 0.5 ms) were late by up to ~50 ms: that is what the
    // response-time histograms charge them.
    expect(lateUs[301]!).toBeGreaterThan(40_000);
    expect(lateUs[350]!).toBeGreaterThan(15_000);
    const sorted = [...lateUs.slice(0, 300)].sort((a, b) => a - b);
    expect(sorted[150]!).toBeLessThan(2_000);
  });
});

describe("lockstep bench e2e (short)", () => {
  it("measures the floor and the cluster with one generator and reports ratios, nothing lost, and its files", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, "bench", "e2e", "--rate", "1000", "--duration", "3", "--json", "--results", results], { timeout: 120_000 });
    const h = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      offered_per_s: number; achieved_per_s: number; lost: number; ratio_p50: number; ratio_p99: number;
      order_to_fill_us: { p50: number; p99: number; p999: number; max: number }; order_to_ack_us: { p50: number }; floor_us: { p50: number; p99: number };
      nats_us?: { p50: number }; ratio_to_nats_p50?: number; nats_achieved_per_s?: number;
    };
    expect(h.offered_per_s).toBe(1000);
    expect(h.achieved_per_s).toBeGreaterThan(900);
    expect(h.lost).toBe(0);
    expect(h.order_to_fill_us.p50).toBeGreaterThan(0);
    expect(h.order_to_fill_us.p50).toBeLessThanOrEqual(h.order_to_fill_us.p99);
    expect(h.order_to_fill_us.p99).toBeLessThanOrEqual(h.order_to_fill_us.max);
    expect(h.floor_us.p50).toBeGreaterThan(0);
    expect(h.ratio_p50).toBeCloseTo(h.order_to_fill_us.p50 / h.floor_us.p50, 1);
    const full = JSON.parse(readFileSync(join(results, "e2e-latest.json"), "utf8")) as { runs: { floor: { fills: number; sent: number }; nats?: { fills: number; sent: number }; lockstep: { fills: number; sent: number; hashes_agree: boolean; replicas: unknown[] } }[] };
    const run = full.runs[0]!;
    expect(run.floor.sent).toBe(3000);
    expect(run.lockstep.sent).toBe(3000);
    // Roughly 45 % of orders are takers; most find liquidity.
    expect(run.floor.fills).toBeGreaterThan(1000);
    expect(run.lockstep.fills).toBeGreaterThan(1000);
    expect(run.lockstep.hashes_agree).toBe(true);
    expect(run.lockstep.replicas).toHaveLength(3);
    expect(readFileSync(join(results, "e2e-latest.md"), "utf8")).toContain("Lockstep order→fill");
    // Lockstep, floor, NATS (when installed), and r1's one-way raw and compensated.
    const nats = !("missing" in findNatsServer());
    expect(readFileSync(join(results, "e2e-latest.svg"), "utf8").match(/<polyline/g)).toHaveLength(nats ? 5 : 4);
    if (nats) {
      expect(run.nats!.sent).toBe(3000);
      expect(run.nats!.fills).toBeGreaterThan(1000);
      // A ratio to the peer only when it kept up (it does at this rate on an idle machine).
      if (h.ratio_to_nats_p50 !== undefined) expect(h.ratio_to_nats_p50).toBeCloseTo(h.order_to_fill_us.p50 / h.nats_us!.p50, 1);
      else expect(h.nats_achieved_per_s!).toBeLessThan(950);
    }
  }, 150_000);
});
