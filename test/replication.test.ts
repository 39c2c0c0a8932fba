/**
 * Replication behaviours a trading system relies on: (1) a feed client whose replica dies
 * moves to another and ends with exactly the report stream the survivor produced, nothing lost
 * or repeated; (2) a replica that stops reading does not stall the sequencer or the other
 * replicas, the sequencer's buffering for it stays bounded, and it catches up when it reads
 * again; (3) with ack "replicas:1" no ACK is sent before a replica has applied the command.
 */
import { afterEach, describe, expect, it } from "vitest";
import { stalledSubscriber } from "../src/tools/netsim/stalled.js";
import { FeedClient, TradingClient } from "../src/client/index.js";
import { runTraffic } from "../src/client/traffic.js";
import { GENESIS_CHAIN } from "../src/protocol/record.js";
import { encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, type Report } from "../src/protocol/messages.js";
import { TestCluster, until } from "./cluster-helpers.js";

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});


describe("replication", () => {
  it("a feed client fails over to another replica with no lost and no duplicated report", async () => {
    cluster = new TestCluster();
    await cluster.start(2);
    const c = cluster;
    const [a, b] = c.replicas as [typeof c.replicas[0], typeof c.replicas[0]];
    const got: Report[] = [];
    let failovers = 0;
    const feed = new FeedClient({ urls: [c.feedUrl(a!), c.feedUrl(b!)], account: 1, onReport: (r) => got.push(r), onFailover: () => failovers++ });
    await feed.connect();
    const reference: Report[] = [];
    const watcher = new FeedClient({ urls: [c.feedUrl(b!)], account: 1, onReport: (r) => reference.push(r) });
    await watcher.connect();
    const t = await TradingClient.connect(c.tradeUrl, 1);
    const first = runTraffic(t, { instrument: 1, commands: 3_000, seed: 11, windowMax: 64, mid: 10_000 });
    await until(() => got.length > 500);
    a!.stop(); // the client's replica dies mid-stream
    await first;
    await runTraffic(t, { instrument: 1, commands: 1_000, seed: 12, windowMax: 64, mid: 10_000 });
    await b!.waitFor(c.sequencer.lastSeq);
    await until(() => reference.length > 0 && got.length === reference.length);
    expect(failovers).toBe(1);
    expect(got.map((r) => `${r.seq}/${r.n}`)).toEqual(reference.map((r) => `${r.seq}/${r.n}`));
    expect(got).toEqual(reference);
    await t.close();
    feed.close();
    watcher.close();
  });

  it("a replica that stops reading is held at the buffer limit, stalls no one, and catches up when it reads again", async () => {
    const limit = 64 * 1024;
    cluster = new TestCluster();
    await cluster.start(1, { replicaBufferBytesMax: limit, batchRecordsMax: 256 });
    const c = cluster;
    const t = await TradingClient.connect(c.tradeUrl, 1);
    // About 5 MB of log: more than the ~1 MB the kernel takes into a fresh loopback connection.
    await runTraffic(t, { instrument: 1, commands: 150_000, seed: 5, windowMax: 512, mid: 10_000 });
    // A replica that asks for the whole log and then does not read: catch-up is pumped until the
    // sequencer's own buffer for it reaches the limit, and no further.
    const stalled = await stalledSubscriber(c.sequencer.port, "/replicate", encode({ v: PROTOCOL_VERSION, t: MsgType.SUBSCRIBE, rid: "stalled", from: 1, chain: GENESIS_CHAIN }));
    const view = (): { id: string; sent: number; buffered_peak_bytes: number }[] => (c.sequencer.stats() as { replicas: { id: string; sent: number; buffered_peak_bytes: number }[] }).replicas;
    await until(() => view().some((r) => r.id === "stalled" && r.sent > 0));
    // Meanwhile everyone else goes on: more orders are acked and applied by the live replica.
    const more = await runTraffic(t, { instrument: 1, commands: 5_000, seed: 6, windowMax: 512, mid: 10_000 });
    expect(more.acked).toBe(5_000);
    await c.replicas[0]!.waitFor(c.sequencer.lastSeq);
    const stuck = view().find((r) => r.id === "stalled")!;
    expect(stuck.sent).toBeLessThan(c.sequencer.lastSeq);
    // One batch frame (256 records of < 64 bytes each, plus framing) may go past the limit.
    expect(stuck.buffered_peak_bytes).toBeGreaterThan(0);
    expect(stuck.buffered_peak_bytes).toBeLessThan(limit + 256 * 64 + 1024);
    let received = 0;
    stalled.on("data", (d: Buffer) => { received += d.length; });
    stalled.resume();
    await until(() => view().find((r) => r.id === "stalled")!.sent === c.sequencer.lastSeq);
    expect(received).toBeGreaterThan(1_000_000);
    stalled.destroy();
    await t.close();
  });

  it('ack "replicas:1" holds every ACK until a replica has applied the command', async () => {
    cluster = new TestCluster();
    await cluster.start(0, { ack: { mode: "replicas", count: 1 } });
    const c = cluster;
    const t = await TradingClient.connect(c.tradeUrl, 1);
    let acked = false;
    const ack = t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 }).then((a) => { acked = true; return a; });
    // No replica yet: give the sequencer several turns of its event loop to (wrongly) ack.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(acked).toBe(false);
    const r = await c.addReplica("r1");
    const a = await ack;
    expect(r.appliedSeq).toBeGreaterThanOrEqual(a.seq);
    await t.close();
  });
});
