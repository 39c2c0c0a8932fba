/**
 * Short fuzz (the long one is `npm run fuzz`, ≥ 1M frames): hostile and structure-aware frames
 * never make the validator throw or accept something malformed; through the whole path (gate,
 * journal, replica) each refused frame gets a REJECT and changes nothing, each accepted one is
 * applied by every replica without a halt, and a journal replay agrees with the replicas.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hostileFrame, structuredFrame } from "../bench/fuzz-frames.js";
import { validateClientFrame } from "../src/protocol/validate.js";

describe("fuzz (short)", () => {
  it("the validator never throws and rejects everything malformed (50k frames)", () => {
    let accepted = 0;
    fc.assert(fc.property(fc.oneof(hostileFrame, structuredFrame), (b) => {
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

  it("20k frames through the whole path: refused ones change nothing, accepted ones apply everywhere; follower and feed abuse are refused", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, "..", "dist", "bench", "fuzz.js")], {
      env: { ...process.env, FUZZ_FRAMES: "20000", FUZZ_FRAMES_LIVE: "20000", FUZZ_FRAMES_FOLLOWER: "2000" }, timeout: 120_000,
    });
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, Record<string, unknown>> & { replica_halts: number };
    expect(r.gate).toMatchObject({ frames: 20_000, seal_failures: 0, apply_throws: 0 });
    expect(r.live).toMatchObject({ frames: 20_000, unexpected_replies: 0, closed_by_server: false, state_changes_for_refused: 0, replica_halted: false, fresh_replica_halted: false, fresh_replica_agrees: true, replay_agrees: true, still_serving: true });
    expect(r.live.acks).toBe(r.live.expected_acks);
    expect((r.live.acks as number) + (r.live.rejects as number)).toBe(20_000);
    // Both outcomes occur: the frames exercise the gate rather than failing at the first byte.
    expect(r.live.acks).toBeGreaterThan(1000);
    expect(r.live.rejects).toBeGreaterThan(1000);
    expect(r.followers).toMatchObject({ progress_beyond_sent: 0, still_serving: true });
    expect(r.followers.status_refused).toBeGreaterThan(0);
    expect(r.feed).toMatchObject({ hash_unchanged: true });
    expect(r.replica_halts).toBe(0);
  });
});
