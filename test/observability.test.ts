/**
 * What operators see: every node serves Prometheus text on /metrics (latency summaries with
 * every quantile, counters, the clock offset estimate) and JSON on /stats, and `lockstep stats`
 * turns them into one table; the trading SDK measures order→ack round trips.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { TradingClient } from "../src/client/index.js";
import { runTraffic } from "../src/client/traffic.js";
import { TestCluster, until } from "./cluster-helpers.js";

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});

describe("observability", () => {
  it("/metrics, /stats and `lockstep stats` report progress, clock offset and latencies", async () => {
    cluster = new TestCluster();
    await cluster.start(2);
    const c = cluster;
    const t = await TradingClient.connect(c.tradeUrl, 1);
    await runTraffic(t, { instrument: 1, commands: 3_000, seed: 2, windowMax: 64, mid: 10_000 });
    expect(t.ackLatencyUs.summary().count).toBe(3_000);
    expect(t.ackLatencyUs.summary().p50).toBeGreaterThan(0);
    // The skew estimate needs probes spanning half a second.
    await until(() => c.replicas.every((r) => r.skewEstimate() !== null), 10_000);
    const seqUrl = `http://127.0.0.1:${c.sequencer.port}`;
    const repUrl = `http://127.0.0.1:${c.replicas[0]!.port}`;
    const seqMetrics = await (await fetch(`${seqUrl}/metrics`)).text();
    expect(seqMetrics).toContain("lockstep_sequencer_commands_total 3000");
    expect(seqMetrics).toMatch(/lockstep_sequencer_replica_lag_seq\{replica="r1"\} \d+/);
    const repMetrics = await (await fetch(`${repUrl}/metrics`)).text();
    for (const q of ["0.5", "0.9", "0.99", "0.999", "0.9999"]) expect(repMetrics).toContain(`lockstep_replica_one_way_raw_us{replica="r1",quantile="${q}"}`);
    expect(repMetrics).toMatch(/lockstep_replica_apply_us_count\{replica="r1"\} 3000/);
    expect(repMetrics).toMatch(/lockstep_replica_clock_offset_bound_us\{replica="r1"\} \d+/);
    const stats = (await (await fetch(`${repUrl}/stats`)).json()) as { skew: { offset_us: number; bound_us: number }; latency: { one_way_raw_us: { count: number } } };
    // Same machine, same clock: the estimated offset is within its bound of zero.
    expect(Math.abs(stats.skew.offset_us)).toBeLessThanOrEqual(stats.skew.bound_us);
    expect(stats.latency.one_way_raw_us.count).toBe(3_000);
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, "..", "bin", "lockstep.js"), "stats", seqUrl, repUrl, `http://127.0.0.1:${c.replicas[1]!.port}`, "--once"], { timeout: 20_000 });
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^sequencer\s+sequencer\s+3000/);
    expect(lines[2]).toMatch(/^r1\s+replica\s+3000\s+\d+\s+-?\d+ ± \d+/);
    await t.close();
  });
});
