/**
 * `lockstep drill shards` end to end, short: two groups (a leader and a standby each in one
 * etcd, two replicas) under load routed by the shard map, a third added and rebalanced onto,
 * s1's leader killed. Every acked order is in its shard's log at its seq and no order twice,
 * each shard's journals and replicas agree, every moved book keeps its hash, and every shard
 * acked orders after the kill. Skipped without etcd.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findEtcd } from "../src/cluster/etcd.js";
import type { ShardsDrillResult } from "../src/tools/drill/shards.js";
import { lastJson, lockstep } from "./lockstep-cli.js";

describe.skipIf("missing" in findEtcd())("lockstep drill shards", () => {
  it("scales out 2 → 3 under load, rebalances, survives s1's leader killed: 0 lost, 0 duplicated, 0 forked, 0 diverged", async () => {
    const results = mkdtempSync(join(tmpdir(), "lockstep-drill-shards-results-"));
    try {
      const run = await lockstep("drill", "shards", "--duration", "9", "--rate", "200", "--json", "--results", results);
      expect(run.code, run.stderr).toBe(0);
      const r = lastJson(run.stdout) as unknown as ShardsDrillResult;
      expect(r.checks).toMatchObject({ lost: 0, duplicates: 0, forks: 0, diverged: 0 });
      expect(r.rebalance.error).toBeUndefined();
      expect(r.rebalance.moved).toBeGreaterThan(0);
      expect(r.rebalance.moves.every((m) => m.to === "s3")).toBe(true);
      expect(r.rebalance.hashes_equal).toBe(true);
      expect(r.map_version).toBe(2 + r.rebalance.moved);
      expect(r.kill.new_leader).not.toBe(r.kill.killed);
      expect(r.shards.map((s) => s.id)).toEqual(["s1", "s2", "s3"]);
      for (const s of r.shards) {
        expect(s.journals_identical, s.id).toBe(true);
        expect(new Set(s.replicas.map((x) => x.hash)).size, s.id).toBe(1);
        expect(s.replicas.every((x) => x.seq === s.seq), s.id).toBe(true);
      }
      // Every shard traded after the kill: s1 on its new leader, the others throughout.
      for (const id of ["s1", "s2", "s3"]) {
        expect(r.ack_latency[id]?.tail?.orders ?? 0, id).toBeGreaterThan(0);
        // Takers' fills arrive on each shard's replicas, s3's included once it trades.
        expect(r.fill_latency[id]?.tail?.orders ?? 0, id).toBeGreaterThan(0);
      }
      expect(r.orders.acked).toBeGreaterThan(r.orders.sent * 0.8);
      // s2 had a quiet phase and trades through the kill: its kill-phase p99 is set against its quiet run's noise band.
      const band = r.kill_noise_band.s2!.fill!;
      expect(band.orders_per_window).toBe(r.fill_latency.s2!.kill!.orders);
      expect(band.p99_ms).toBe(r.fill_latency.s2!.kill!.p99_ms);
      expect(band.p99_low_ms).toBeLessThanOrEqual(band.p99_high_ms);
      expect(band.within).toBe(band.p99_ms <= band.p99_high_ms);
      expect(r.kill_noise_band.s3!.fill).toBeNull();
      expect(r.others_within_noise).toBe(band.within);
      // The command saved what it printed.
      expect(JSON.parse(readFileSync(join(results, "drill-shards-latest.json"), "utf8")).checks).toEqual(r.checks);
    } finally {
      rmSync(results, { recursive: true, force: true });
    }
  }, 120_000);
});
