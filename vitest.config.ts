import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // The JSON report gives .ci/run exact pass/fail counts.
    reporters: ["default", ["json", { outputFile: "test-artifacts/vitest.json" }]],
    // One test file at a time: several files start clusters of processes and measure latency,
    // and a measurement must not depend on which other file happens to run beside it.
    fileParallelism: false,
    // Files share one worker's module cache instead of each loading every module again: the
    // suite re-imported src/ 62 times (25 s of imports; isolate:false was tried 2026-12-01).
    isolate: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
