/**
 * The capacity simulation (src/shard/capacity.ts): even popularity over many instruments scales
 * with the shards; one instrument with most of the orders caps the venue at its shard whatever
 * N is; gateways cap it at their cores; a pin moves the hot instrument's load where it says; the
 * same seed gives the same rows.
 */
import { describe, expect, it } from "vitest";
import { capacity, popularity, trial, type NodeCosts, type Workload } from "../src/shard/capacity.js";
import { Rng } from "../src/util/rng.js";

const costs: NodeCosts = { sequencer: 40, servingReplica: 35, replica: 25, gateway: 60 };
const even: Workload = { instruments: 10_000, skew: 0, gatewayShare: 0, gateways: 1, utilizationMax: 0.7 };
/** One shard's ceiling: 70 % of a core over its dearest node's 40 µs per order. */
const ONE = 0.7e6 / 40;

describe("capacity by simulation", () => {
  it("even popularity over 10,000 instruments: N shards carry at least 0.9 N times one shard's rate, each limited by a sequencer", () => {
    const rows = capacity(costs, even, [1, 2, 4, 8, 16], 3, 1);
    expect(rows[0]!.max_rate_per_s.median).toBe(Math.round(ONE));
    for (const r of rows) {
      expect(r.efficiency, `N=${r.shards}`).toBeGreaterThanOrEqual(0.9);
      expect(r.max_rate_per_s.median).toBeGreaterThan(0.9 * r.shards * ONE);
      expect(r.limited_by).toMatch(/^s\d+'s sequencer$/);
    }
  });

  it("an instrument with most of the orders caps the venue at its own shard's ceiling, however many shards", () => {
    const hot: Workload = { ...even, instruments: 100, skew: 4 };
    const share = popularity(100, 4, new Rng(1));
    const top = Math.max(...share);
    expect(top).toBeGreaterThan(0.9);
    const rows = capacity(costs, hot, [2, 8, 32], 5, 1);
    for (const r of rows) {
      expect(r.hottest_share_median).toBeCloseTo(top, 4);
      expect(r.max_rate_per_s.median).toBeLessThanOrEqual(Math.round(ONE / top) + 1);
      expect(r.efficiency).toBeLessThan(1 / r.shards + 0.1);
    }
  });

  it("gateways cap it at their cores: all orders through one gateway give 70 % of a core over its cost, whatever N", () => {
    const rows = capacity(costs, { ...even, gatewayShare: 1, gateways: 1 }, [1, 4, 16], 2, 1);
    for (const r of rows.slice(1)) {
      expect(r.limited_by).toBe("gateways");
      expect(r.max_rate_per_s.median).toBe(Math.round(0.7e6 / 60));
    }
    // Four gateways for half the orders: 4 × 0.7e6 / (60 × 0.5).
    expect(capacity(costs, { ...even, gatewayShare: 0.5, gateways: 4 }, [16], 1, 1)[0]).toMatchObject({ limited_by: "gateways", max_rate_per_s: { median: Math.round((4 * 0.7e6) / 30) } });
  });

  it("a pin puts the hot instrument's orders on the shard it names", () => {
    const share = popularity(50, 2, new Rng(9));
    let hottest = 1;
    for (let id = 2; id <= 50; id++) if (share[id]! > share[hottest]!) hottest = id;
    const w: Workload = { ...even, instruments: 50, skew: 2 };
    for (const to of ["s1", "s2", "s3"]) {
      const t = trial(costs, { ...w, pins: new Map([[hottest, to]]) }, ["s1", "s2", "s3"], share);
      expect(t.limitedBy).toBe(`${to}'s sequencer`);
      expect(t.busiestShare).toBeGreaterThanOrEqual(share[hottest]!);
    }
  });

  it("the same seed gives the same rows", () => {
    const w: Workload = { ...even, instruments: 2_000, skew: 1, gatewayShare: 0.3, gateways: 2 };
    expect(capacity(costs, w, [3, 5], 4, 42)).toEqual(capacity(costs, w, [3, 5], 4, 42));
  });
});
