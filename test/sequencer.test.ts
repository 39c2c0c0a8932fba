/**
 * The sequencer's gateway (src/sequencer): its limits. (Its strict intake and follower rules are
 * in trust-boundaries.test.ts, its leadership in ha.test.ts.) Gateway limits: a token bucket allows its burst then its rate; a connection that sends faster
 * than its bucket gets RATE_LIMITED for the excess (not sequenced), and one connection more than
 * the cap is refused with OVERLOADED and closed.
 */
import { afterEach, describe, expect, it } from "vitest";
import { LockstepError, TradingClient } from "../src/client/index.js";
import { WireReason } from "../src/protocol/messages.js";
import { TokenBucket } from "../src/sequencer/limits.js";
import { TestCluster } from "./cluster-helpers.js";

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});

describe("gateway limits", () => {
  it("a token bucket allows its burst, then its rate", () => {
    const b = new TokenBucket(100, 5, 0);
    expect(Array.from({ length: 8 }, () => b.take(0)).filter(Boolean)).toHaveLength(5);
    expect(b.take(5)).toBe(false);
    expect(b.take(10)).toBe(true); // 10 ms at 100/s = 1 token
    expect(b.take(10)).toBe(false);
  });

  it("commands beyond the connection's bucket are RATE_LIMITED and not sequenced; the connection cap refuses one more", async () => {
    cluster = new TestCluster();
    await cluster.start(0, { limits: { connectionRatePerS: 10, connectionBurst: 20, accountRatePerS: 1_000_000, accountBurst: 1_000_000, connectionsMax: 2 } });
    const c = await TradingClient.connect(cluster.tradeUrl, 1);
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => c.submit({ instrument: 1, side: "buy", price: 100 + i, quantity: 1 })));
    const acked = results.filter((r) => r.status === "fulfilled").length;
    const limited = results.filter((r) => r.status === "rejected" && (r.reason as LockstepError).code === WireReason.RATE_LIMITED).length;
    expect(acked).toBeGreaterThanOrEqual(20);
    expect(acked).toBeLessThan(25);
    expect(acked + limited).toBe(50);
    expect(cluster.sequencer.lastSeq).toBe(acked);
    const second = await TradingClient.connect(cluster.tradeUrl, 2);
    await expect(TradingClient.connect(cluster.tradeUrl, 3)).rejects.toMatchObject({ code: WireReason.OVERLOADED });
    await c.close();
    await second.close();
  });
});
