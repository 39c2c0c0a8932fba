import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // The JSON report gives .ci/run exact pass/fail counts.
    reporters: ["default", ["json", { outputFile: "test-artifacts/vitest.json" }]],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
