/**
 * Forks are refused, never applied: a replica whose state came from another log (here: its
 * snapshot directory from another cluster) is refused by the sequencer on subscribe, says so
 * in its stats, and keeps its state; replicas reporting different hashes at the same
 * checkpoint raise the divergence alarm; a replica ignores a sequencer of an older epoch.
 */
import { cpSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { TradingClient } from "../src/client/index.js";
import { runTraffic } from "../src/client/traffic.js";
import { encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION } from "../src/protocol/messages.js";
import { freePort } from "../src/cluster/ports.js";
import { Sequencer } from "../src/sequencer/sequencer.js";
import { TestCluster, until } from "./cluster-helpers.js";

const clusters: TestCluster[] = [];
afterEach(() => clusters.splice(0).forEach((c) => c.stop()));

describe("forks and divergence", () => {
  it("a replica whose state comes from another log is refused and keeps its state", async () => {
    const a = new TestCluster();
    const b = new TestCluster();
    clusters.push(a, b);
    await a.start(1);
    await b.start(0);
    for (const [c, seed] of [[a, 1], [b, 2]] as const) {
      const t = await TradingClient.connect(c.tradeUrl, 1);
      await runTraffic(t, { instrument: 1, commands: 2_000, seed, windowMax: 64, mid: 10_000 });
      await t.close();
    }
    const ra = a.replicas[0]!;
    await ra.waitFor(a.sequencer.lastSeq);
    ra.stop();
    cpSync(join(a.dir, "r1"), join(b.dir, "stranger"), { recursive: true });
    const stranger = await b.addReplica("stranger");
    const before = stranger.stateHash();
    await until(() => (stranger.stats() as { forked: string | null }).forked !== null);
    expect((stranger.stats() as { forked: string }).forked).toMatch(/forked/);
    expect(stranger.appliedSeq).toBe(2_000);
    expect(stranger.stateHash()).toBe(before);
    expect((b.sequencer.stats() as { replicas: unknown[] }).replicas).toEqual([]);
  });

  it("fencing: once a replica has followed epoch 2, a sequencer still at epoch 1 on the same log is ignored", async () => {
    const c = new TestCluster();
    clusters.push(c);
    await c.start(0, { epoch: 2 });
    // The replica knows two sequencer addresses; a deposed leader will come back on the second.
    const port2 = await freePort();
    const r = await c.addReplica("r1", { sequencerUrl: [`ws://127.0.0.1:${c.sequencer.port}/replicate`, `ws://127.0.0.1:${port2}/replicate`] });
    const t = await TradingClient.connect(c.tradeUrl, 1);
    await runTraffic(t, { instrument: 1, commands: 200, seed: 3, windowMax: 16, mid: 10_000 });
    await t.close();
    await r.waitFor(200);
    c.sequencer.stop();
    // Same journal, more records, but the old epoch.
    const old = new Sequencer({ ...c.options, port: port2, epoch: 1 });
    c.sequencer = old;
    await old.start();
    const t2 = await TradingClient.connect(c.tradeUrl, 1);
    await runTraffic(t2, { instrument: 1, commands: 50, seed: 4, windowMax: 16, mid: 10_000 });
    await t2.close();
    await until(() => (r.stats() as { stale_epoch_batches: number }).stale_epoch_batches > 0);
    expect(old.lastSeq).toBe(250);
    expect(r.appliedSeq).toBe(200);
    expect((r.stats() as { epoch: number }).epoch).toBe(2);
  });

  it("replicas reporting different hashes at the same checkpoint raise the divergence alarm", async () => {
    const c = new TestCluster();
    clusters.push(c);
    await c.start(1);
    const t = await TradingClient.connect(c.tradeUrl, 1);
    await runTraffic(t, { instrument: 1, commands: 1_500, seed: 9, windowMax: 64, mid: 10_000 });
    const honest = c.replicas[0]!;
    await honest.waitFor(1_500);
    const ck = (honest.stats() as { checkpoint: { seq: number; hash: string } }).checkpoint;
    expect(ck.seq).toBe(1_000);
    // A second "replica" subscribes properly, then claims another hash at the same checkpoint.
    const liar = new WebSocket(`ws://127.0.0.1:${c.sequencer.port}/replicate`);
    await new Promise((r) => liar.once("open", r));
    const { GENESIS_CHAIN } = await import("../src/protocol/record.js");
    liar.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUBSCRIBE, rid: "liar", from: 1, chain: GENESIS_CHAIN }));
    await new Promise((r) => liar.once("message", r));
    liar.send(encode({ v: PROTOCOL_VERSION, t: MsgType.STATUS, rid: "liar", seq: 1_000, ck: 1_000, ckh: "0000000000000000" }));
    await until(() => (c.sequencer.stats() as { divergences: number }).divergences === 1);
    liar.close();
    await t.close();
  });
});
