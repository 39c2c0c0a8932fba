/**
 * A replica reports its progress (STATUS) once per event-loop turn, not once per batch: one that
 * fell behind (here, its process paused while orders flowed) reads many batches at a time when
 * it resumes and answers them together. Real processes on loopback. (Before this, every batch
 * had its own STATUS, and statuses equalled batches.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TradingClient } from "../src/client/index.js";
import { runTraffic } from "../src/client/traffic.js";
import { DrillCluster } from "../src/tools/drill/cluster.js";

const CONFIG = join(import.meta.dirname, "..", "config", "local.json");
/** Orders sent while the replica is paused, at this rate: enough for hundreds of batches. */
const ORDERS = 3_000;
const RATE_PER_S = 3_000;

/** Rate limits out of the way (the whole limits object is replaced). */
const LIMITS = { connectionRatePerS: 1_000_000, connectionBurst: 1_000_000, accountRatePerS: 1_000_000, accountBurst: 1_000_000, connectionsMax: 100 };

let cluster: DrillCluster | null = null;
let dir = "";
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

describe("replica progress", () => {
  it("a replica that fell behind answers the batches it reads in one turn with one STATUS, and still reports every seq it applies", async () => {
    dir = mkdtempSync(join(tmpdir(), "lockstep-progress-"));
    cluster = new DrillCluster({ baseConfig: CONFIG, dir, replicas: 1, sequencer: { limits: LIMITS } });
    const c = cluster;
    await c.start();
    const replica = c.processOf("replica", 0)!;
    const trader = await TradingClient.connect(c.tradeUrl, 1);
    try {
      replica.child.kill("SIGSTOP");
      let result;
      try {
        result = await runTraffic(trader, { instrument: 1, commands: ORDERS, seed: 7, windowMax: 64, mid: 10_000, ratePerS: RATE_PER_S });
      } finally {
        replica.child.kill("SIGCONT");
      }
      expect(result.acked + result.rejected).toBe(ORDERS);
      const [r] = await c.settle(30_000);
      expect(r!.seq).toBe(result.lastSeq);
      // The sequencer has heard the replica reach the last seq: progress is still reported in full.
      const seen = async (): Promise<number> => (await c.sequencerStats()).replicas.find((x) => x.id === r!.id)?.applied ?? -1;
      const deadline = performance.now() + 10_000;
      while ((await seen()) < result.lastSeq && performance.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      expect(await seen()).toBe(result.lastSeq);
      // What the paused replica missed arrives as several batches (a few large ones when the
      // sequencer fell back to catching it up, hundreds of tip batches when its buffer held them),
      // and they are read together: fewer STATUS frames than batches (one each, before).
      expect(r!.batches).toBeGreaterThanOrEqual(2);
      expect(r!.statuses).toBeGreaterThanOrEqual(1);
      expect(r!.statuses).toBeLessThan(r!.batches);
    } finally {
      await trader.close();
    }
  }, 90_000);
});
