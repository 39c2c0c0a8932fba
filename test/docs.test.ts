/** The documentation stays true to the code: every reason code is documented with its number. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REASON_NAME } from "../src/engine/index.js";

describe("docs/engine.md", () => {
  it("lists every reason code with its number and name", () => {
    const doc = readFileSync(join(import.meta.dirname, "..", "docs", "engine.md"), "utf8");
    for (const [code, name] of Object.entries(REASON_NAME)) {
      if (code === "0") continue;
      expect(doc, name).toMatch(new RegExp(`\\| ${code} \\| ${name} \\|`));
    }
  });
});
