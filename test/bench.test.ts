/**
 * The engine benchmark harness measures what it claims: both engines replay the same stream,
 * the generated stream keeps the book near the requested depth, and percentiles are ordered.
 * (Tiny sizes: this checks the harness, not the performance.)
 */
import { describe, expect, it } from "vitest";
import { scenario } from "../bench/engine-bench.js";
import { Op, generateStream } from "../bench/stream.js";

describe("engine benchmark harness", () => {
  it("generates the documented mix around the requested depth", () => {
    const s = generateStream(2_000, 40_000, 5);
    const counts = [0, 0, 0, 0];
    for (let i = s.prefill; i < s.length; i++) counts[s.op[i]!]!++;
    const share = counts.map((c) => c / 40_000);
    expect(share[Op.LIMIT]).toBeCloseTo(0.5, 1);
    expect(share[Op.CANCEL]).toBeCloseTo(0.35, 1);
    expect(share[Op.MODIFY]).toBeCloseTo(0.1, 1);
    expect(share[Op.MARKET]).toBeCloseTo(0.05, 1);
  });

  it("reports both engines, a ratio, ordered percentiles and a depth near the target", () => {
    const lines: string[] = [];
    const sc = scenario(2_000, 20_000, 1, (l) => lines.push(l));
    expect(sc.lockstep_ops_per_s).toBeGreaterThan(0);
    expect(sc.peer_ops_per_s).toBeGreaterThan(0);
    expect(sc.ratio).toBeCloseTo(sc.lockstep_ops_per_s / sc.peer_ops_per_s, 0);
    expect(sc.p50_ns).toBeLessThanOrEqual(sc.p99_ns);
    expect(sc.p99_ns).toBeLessThanOrEqual(sc.p999_ns);
    expect(sc.p999_ns).toBeLessThanOrEqual(sc.max_ns);
    expect(sc.final_depth).toBeGreaterThan(1_000);
    expect(sc.final_depth).toBeLessThan(4_000);
    expect(lines[0]).toContain("steady-2k");
  });
});
