/**
 * Short fuzz (the long one is `npm run fuzz`, ≥ 1M frames): hostile frames never make the
 * validator throw or accept something malformed, and sent to a live sequencer they are each
 * answered with a REJECT while nothing is sequenced and the replica's state hash stays put.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hostileFrame } from "../bench/fuzz-frames.js";
import { validateClientFrame } from "../src/protocol/validate.js";

describe("fuzz (short)", () => {
  it("the validator never throws and rejects everything malformed (50k frames)", () => {
    let accepted = 0;
    fc.assert(fc.property(hostileFrame, (b) => {
      const r = validateClientFrame(b, new Set([1]));
      if (r.ok) {
        accepted++;
        const m = r.msg as unknown as Record<string, unknown>;
        for (const k of ["cid", "inst", "side", "qty", "px", "oid", "acct"]) if (m[k] !== undefined) expect(Number.isSafeInteger(m[k]), k).toBe(true);
      }
    }), { seed: 99, numRuns: 50_000 });
    // Mutations of valid frames sometimes stay valid; most hostile frames must not.
    expect(accepted).toBeLessThan(10_000);
  });

  it("a live sequencer answers 20k hostile frames with 20k REJECTs and changes nothing", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, "..", "dist", "bench", "fuzz.js")], {
      env: { ...process.env, FUZZ_FRAMES: "20000", FUZZ_FRAMES_LIVE: "20000" }, timeout: 120_000,
    });
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as { live: Record<string, unknown> };
    expect(r.live).toMatchObject({ frames: 20_000, rejects: 20_000, unexpected_replies: 0, nothing_sequenced: true, hash_unchanged: true, still_serving: true });
  });
});
