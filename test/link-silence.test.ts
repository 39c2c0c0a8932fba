/**
 * Silent links (the replication link, both ends): a link that accepts bytes and delivers none,
 * with no FIN and no RST, is noticed by its deadline, not by TCP. Through the in-project proxy
 * on loopback: (1) the sequencer → replica direction blackholed: the replica cuts the link
 * within its silence deadline, keeps trying, and once healed catches up and agrees;
 * (2) the replica → sequencer direction blackholed: the sequencer cuts the silent follower
 * within its deadline, so it stops counting for `replicas:K` acks; (3) a replica's feed goes
 * silent under a client: the SDK notices within its deadline, moves to the next replica and
 * resumes its reports with none lost or repeated; (4) the trade link goes silent, either way:
 * the trading client drops it within its deadline, its pending request fails (outcome
 * unknown), and a new login once healed trades at once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FeedClient, TradingClient } from "../src/client/index.js";
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

async function proxied(c: TestCluster, port = c.sequencer.port, path = "/replicate"): Promise<string> {
  proxy = LatencyProxy.passThrough(port, 1);
  return `ws://127.0.0.1:${await proxy.listen()}${path}`;
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

  it("a feed client notices a silent replica within its deadline, moves on, and resumes its reports with none lost or repeated", async () => {
    cluster = new TestCluster();
    await cluster.start(2);
    const c = cluster;
    const [r1, r2] = c.replicas as [typeof c.replicas[0], typeof c.replicas[0]];
    const reports: string[] = [];
    const failovers: number[] = [];
    const feed = new FeedClient({
      urls: [await proxied(c, r1.port, "/feed"), c.feedUrl(r2)], account: 1, silenceMsMax: SILENCE_MS,
      onReport: (m) => reports.push(`${m.seq}/${m.n}`), onFailover: () => failovers.push(performance.now()),
    });
    await feed.connect();
    const t = await TradingClient.connect(c.tradeUrl, 1);
    const order = (i: number) => t.submit({ instrument: 1, side: i % 2 === 0 ? "buy" : "sell", price: 100 + (i % 3), quantity: 1 });
    let last = 0;
    for (let i = 0; i < 20; i++) last = (await order(i)).seq;
    await feed.caughtUp(last, 5_000);
    expect(feed.lastReport.seq).toBe(last);
    // A quiet but live replica (nothing trades) answers pings: no false alarm over 3 deadlines.
    await new Promise((r) => setTimeout(r, 3 * SILENCE_MS));
    expect(feed.silences).toBe(0);
    proxy!.fault({ down: "blackhole" });
    const cutAt = performance.now();
    for (let i = 20; i < 40; i++) last = (await order(i)).seq;
    await until(() => failovers.length > 0, 5_000);
    expect(failovers[0]! - cutAt, "silence noticed within the deadline").toBeLessThan(DETECT_MS_MAX);
    expect(feed.silences).toBe(1);
    expect(feed.url).toBe(c.feedUrl(r2));
    await feed.caughtUp(last, 5_000);
    expect(feed.lastReport).toMatchObject({ seq: last, done: true });
    // Every command's reports once, in order: what the account would read from a fresh subscription.
    const all: string[] = [];
    const fresh = new FeedClient({ urls: [c.feedUrl(r2)], account: 1, onReport: (m) => all.push(`${m.seq}/${m.n}`) });
    await fresh.connect();
    await fresh.caughtUp(last, 5_000);
    fresh.close();
    expect(reports).toEqual(all);
    feed.close();
    await t.close();
  });

  for (const dir of ["up", "down"] as const) {
    it(`a trading client notices a trade link silent ${dir === "up" ? "towards" : "from"} the sequencer within its deadline, and trades again once healed`, async () => {
      cluster = new TestCluster();
      await cluster.start(1);
      const url = await proxied(cluster, cluster.sequencer.port, "/trade");
      const t = await TradingClient.connect(url, 1, 5_000, undefined, undefined, { silenceMsMax: SILENCE_MS });
      expect((await t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 })).seq).toBe(1);
      // A quiet but live sequencer answers pings: no false alarm over 3 deadlines.
      await new Promise((r) => setTimeout(r, 3 * SILENCE_MS));
      expect(t.silences).toBe(0);
      proxy!.fault(dir === "up" ? { up: "blackhole" } : { down: "blackhole" });
      const cutAt = performance.now();
      const lost = t.submit({ instrument: 1, side: "sell", price: 101, quantity: 1 }).then(() => "acked", (e: Error) => e.message);
      await t.closed;
      expect(performance.now() - cutAt, "silence noticed within the deadline").toBeLessThan(DETECT_MS_MAX);
      expect(t.silences).toBe(1);
      expect(await lost).toMatch(/connection closed before the ACK/);
      proxy!.fault({ up: "pass", down: "pass" });
      const again = await TradingClient.connect(url, 1, 5_000);
      const healedAt = performance.now();
      expect((await again.submit({ instrument: 1, side: "buy", price: 99, quantity: 1 })).seq).toBeGreaterThan(1);
      expect(performance.now() - healedAt).toBeLessThan(1_000);
      await again.close();
    });
  }
});
