import { defineConfig } from "vitest/config";

/**
 * Test files whose assertions hold a measured time close: latency percentiles against a noise
 * band, clock offsets against their bounds, catch-up or a silence deadline within a second or
 * two, lease expiry against a pause, STATUS frames per elapsed ms, wake-ups per sleep. They run
 * last, one at a time, so what they measure does not depend on which other file runs beside them.
 * Every other file runs first, two at a time (this machine class has 2 cores, and those files
 * wait on processes more than they compute): in-process ones, clusters whose assertions are about
 * state, and files whose time bounds have hundreds of ms or seconds of slack or that check only a
 * measurement's shape (e2e-bench.test.ts).
 */
const ALONE = [
  "catch-up", "drill-clock", "drill-shards", "drills", "ha-race", "link-silence", "nemesis", "noise-band",
  "replica-progress", "skew", "sweep", "wake-bench",
].map((f) => `test/${f}.test.ts`);

const shared = {
  globalSetup: ["test/global-setup.ts"],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  // Files share one worker's module cache instead of each loading every module again: the
  // suite re-imported src/ 62 times (25 s of imports; isolate:false was tried 2026-12-01).
  isolate: false,
};

export default defineConfig({
  test: {
    // The JSON report gives .ci/run exact pass/fail counts.
    reporters: ["default", ["json", { outputFile: "test-artifacts/vitest.json" }]],
    projects: [
      { test: { ...shared, name: "paired", include: ["test/**/*.test.ts"], exclude: ALONE, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { test: { ...shared, name: "alone", include: ALONE, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
