/** The documentation stays true to the code: every reason code and message type is documented with its number. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REASON_NAME } from "../src/engine/index.js";
import { MsgType, WIRE_REASON_NAME } from "../src/protocol/messages.js";

const doc = (name: string): string => readFileSync(join(import.meta.dirname, "..", "docs", name), "utf8");

describe("docs", () => {
  it("engine.md lists every engine reason code with its number and name", () => {
    const text = doc("engine.md");
    for (const [code, name] of Object.entries(REASON_NAME)) {
      if (code !== "0") expect(text, name).toMatch(new RegExp(`\\| ${code} \\| ${name} \\|`));
    }
  });

  it("protocol.md lists every wire reason code and every message type with its number", () => {
    const text = doc("protocol.md");
    for (const [code, name] of Object.entries(WIRE_REASON_NAME)) expect(text, name).toMatch(new RegExp(`\\| ${code} \\| ${name} \\|`));
    for (const [name, t] of Object.entries(MsgType)) expect(text, name).toMatch(new RegExp(`\\| ${t} \\| ${name} \\|`));
  });
});
