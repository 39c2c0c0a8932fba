/**
 * Silent links (the replication link, both ends): a link that accepts bytes and delivers none,
 * with no FIN and no RST, is noticed by its deadline, not by TCP. Through the in-project proxy
 * on loopback: (1) the sequencer → replica direction blackholed: the replica cuts the link
 * within its silence deadline, keeps trying, and once healed catches up and agrees;
 * (2) the replica → sequencer direction blackholed: the sequencer cuts the silent follower
 * within its deadline, so it stops counting for `replicas:K` acks.
 */
import { afterEach, describe, expect, it } from "vitest";
import { TradingClient } from "../src/client/index.js";
import { LatencyProxy } from "../src/tools/netsim/proxy.js";
import { TestCluster, until } from "./cluster-helpers.js";

const SILENCE_MS = 400;
/** The deadline, a check period (a quarter of it) and scheduling slack on a busy machine. */
const DETECT_MS_MAX = SILENCE_MS * 1.25 + 500;

let cluster: TestCluster | null = null;
let proxy: LatencyProxy | null = null;
afterEach(async () => {
  await proxy?.close();
  cluster?.stop();
  cluster = proxy = null;
});

async function proxied(c: TestCluster): Promise<string> {
  proxy = new LatencyProxy({ targetHost: "127.0.0.1", targetPort: c.sequencer.port, up: { delayMs: 0, jitterMs: 0 }, down: { delayMs: 0, jitterMs: 0 }, bufferBytesMax: 1 << 20, seed: 1 });
  return `ws://127.0.0.1:${await proxy.listen()}/replicate`;
}

describe("silent links", () => {
  it("a replica notices a blackholed sequencer link within its deadline, and catches up after heal", async () => {
    cluster = new TestCluster();
    await cluster.start(1);
    const c = cluster;
    const r = await c.addReplica("r2", { sequencerUrl: await proxied(c), silenceMsMax: SILENCE_MS });
    const t = await TradingClient.connect(c.tradeUrl, 1);
    const a = await t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 });
    await r.waitFor(a.seq);
    proxy!.fault({ down: "blackhole" });
    const cutAt = performance.now();
    const before = r.stats().link_silences;
    await until(() => r.stats().link_silences > before, 5_000);
    expect(performance.now() - cutAt).toBeLessThan(DETECT_MS_MAX);
    const b = await t.submit({ instrument: 1, side: "sell", price: 101, quantity: 1 });
    expect(r.appliedSeq).toBeLessThan(b.seq);
    proxy!.fault({ down: "pass" });
    await r.waitFor(b.seq);
    expect(r.stateHash()).toBe(c.replicas[0]!.stateHash());
    await t.close();
  });

  it("the sequencer cuts a follower it hears nothing from within its deadline", async () => {
    cluster = new TestCluster();
    await cluster.start(0, { followerSilenceMsMax: SILENCE_MS });
    const c = cluster;
    const r = await c.addReplica("r1", { sequencerUrl: await proxied(c) });
    await until(() => c.sequencer.stats().replicas.length === 1, 5_000);
    proxy!.fault({ up: "blackhole" });
    const cutAt = performance.now();
    await until(() => c.sequencer.stats().silent_followers >= 1, 5_000);
    expect(performance.now() - cutAt).toBeLessThan(DETECT_MS_MAX);
    void r;
  });
});
