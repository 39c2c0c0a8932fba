/**
 * bench/wake.ts measures a wake-up's CPU in fresh child processes: each case reports its wake-ups
 * and CPU per wake-up from the child's own counters, into the results directory it is given; a
 * bad --seconds is refused with a plain message and exit code 2.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const WAKE_JS = join(import.meta.dirname, "..", "dist", "bench", "wake.js");
const dir = mkdtempSync(join(tmpdir(), "lockstep-wake-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("node dist/bench/wake.js", () => {
  it("measures timer and socket wake-ups at each interval, in fresh processes, into --results", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [WAKE_JS, "--seconds", "0.5", "--results", dir, "--json"], { timeout: 30_000 });
    const out = JSON.parse(stdout.trim()) as { results: { kind: string; interval_ms: number; wakes: number; cpu_us_per_wake: number; user_us_per_wake: number; system_us_per_wake: number }[] };
    expect(out.results.map((r) => `${r.kind}@${r.interval_ms}`)).toEqual(["timer@1", "timer@5", "timer@25", "socket@1", "socket@5", "socket@25"]);
    for (const r of out.results) {
      // 0.5 s at the interval, give or take a loaded machine's lateness.
      expect(r.wakes).toBeGreaterThan((500 / r.interval_ms) * 0.3);
      expect(r.wakes).toBeLessThanOrEqual(500 / r.interval_ms + 2);
      expect(r.cpu_us_per_wake).toBeGreaterThan(0);
      expect(r.cpu_us_per_wake).toBeCloseTo(r.user_us_per_wake + r.system_us_per_wake, 0);
    }
    expect(JSON.parse(readFileSync(join(dir, "wake-latest.json"), "utf8"))).toMatchObject({ seconds: 0.5, results: out.results });
  }, 40_000);

  it("refuses a --seconds that is not a positive number", async () => {
    const err = await promisify(execFile)(process.execPath, [WAKE_JS, "--seconds", "-1", "--results", dir], { timeout: 10_000 }).then(() => null, (e: { code: number; stderr: string }) => e);
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/--seconds must be a number/);
  });
});
