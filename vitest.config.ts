import { defineConfig } from "vitest/config";

/**
 * Test files that run in the test process alone: no servers, no child processes, no timers that
 * measure anything. They run first, two at a time; then every other file, one at a time.
 */
const IN_PROCESS = [
  "bench", "client-codec", "docs", "engine.client-ids", "engine.differential", "engine.move", "engine.property", "engine",
  "gateway-ids", "golden", "history", "id-map", "journal", "latency", "lease-validity", "protocol", "reference", "reports.property",
  "report-ring", "ring", "shard-rendezvous",
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
      { test: { ...shared, name: "in-process", include: IN_PROCESS, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      // One file at a time: these start clusters of processes and measure latency, and a
      // measurement must not depend on which other file happens to run beside it.
      { test: { ...shared, name: "cluster", include: ["test/**/*.test.ts"], exclude: IN_PROCESS, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
