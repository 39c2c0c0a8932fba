/**
 * A replica that fell behind (here, its process paused while orders flowed) reads many batches
 * at a time when it resumes. It answers them with one STATUS per event-loop turn, not one per
 * batch, and publishes one BOOK_UPDATE per batch and instrument with the batch's net level
 * changes, not one per command; a client's book kept from them passes every checksum and ends
 * equal to the replica's. Real processes on loopback. (Before: one STATUS per batch, and one
 * BOOK_UPDATE per command that changed the book.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { LocalBook, TradingClient } from "../src/client/index.js";
import { decode, encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, type BookSnapshot, type BookUpdate } from "../src/protocol/messages.js";
import { runTraffic } from "../src/client/traffic.js";
import { DrillCluster } from "../src/tools/drill/cluster.js";
import { STATUS_INTERVAL_MS_DEFAULT, statusIntervalFor } from "../src/replica/options.js";

const CONFIG = join(import.meta.dirname, "..", "config", "local.json");
/** Orders sent while the replica is paused, at this rate: enough for hundreds of batches. */
const ORDERS = 3_000;
const RATE_PER_S = 3_000;
/** Orders sent to a replica that keeps up, at this rate: a batch an order, most of them. */
const STEADY_ORDERS = 800;
const STEADY_RATE_PER_S = 400;

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
  it("a replica that fell behind answers the batches it reads in one turn with one STATUS and one BOOK_UPDATE per batch, and still reports every seq and every level", async () => {
    dir = mkdtempSync(join(tmpdir(), "lockstep-progress-"));
    cluster = new DrillCluster({ baseConfig: CONFIG, dir, replicas: 1, sequencer: { limits: LIMITS } });
    const c = cluster;
    await c.start();
    const replica = c.processOf("replica", 0)!;
    const trader = await TradingClient.connect(c.tradeUrl, 1);
    const feed = new WebSocket(c.feedUrl(0), { perMessageDeflate: false });
    const frames: Record<string, unknown>[] = [];
    feed.on("message", (d: Buffer) => frames.push(decode(d) as Record<string, unknown>));
    await new Promise((resolve, reject) => { feed.once("open", resolve); feed.once("error", reject); });
    feed.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUB_BOOK, inst: 1 }));
    const deadlineSnap = performance.now() + 5_000;
    while (frames.length === 0 && performance.now() < deadlineSnap) await new Promise((res) => setTimeout(res, 10));
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

      // Market data: the snapshot, then at most one update per batch, each applying cleanly.
      const snapshot = frames[0] as unknown as BookSnapshot;
      expect(snapshot.t).toBe(MsgType.BOOK_SNAPSHOT);
      const untilUpdate = performance.now() + 10_000;
      const updates = (): BookUpdate[] => frames.filter((f) => f.t === MsgType.BOOK_UPDATE) as unknown as BookUpdate[];
      const book = new LocalBook();
      book.reset(snapshot);
      // The replica's own book now (config/local.json's instrument 1 is DEMO), and its checksum.
      const rest = (await (await fetch(`${c.feedUrl(0).replace("ws://", "http://").replace("/feed", "")}/v1/book/DEMO?depth=10`)).json()) as { seq: number; checksum: number };
      expect(rest.seq).toBe(result.lastSeq);
      while ((updates().at(-1)?.cs ?? -1) !== rest.checksum && performance.now() < untilUpdate) await new Promise((res) => setTimeout(res, 20));
      let prev = snapshot.seq;
      for (const u of updates()) {
        expect(u.seq).toBeGreaterThan(prev);
        prev = u.seq;
        book.apply(u);
        expect(book.checksum(), `checksum after seq ${u.seq}`).toBe(u.cs);
      }
      expect(book.checksum()).toBe(rest.checksum);
      // Thousands of the commands changed the book; the updates are one per batch at most.
      expect(updates().length).toBeGreaterThan(0);
      expect(updates().length).toBeLessThanOrEqual(r!.batches);
    } finally {
      feed.close();
      await trader.close();
    }
  }, 90_000);

  /**
   * A replica that keeps up gets one batch a read; at a few hundred orders a second that is one
   * batch an order. It reports at most one STATUS per statusIntervalMs (STATUS_INTERVAL_MS_DEFAULT)
   * then, not one per batch, and the sequencer still ends up seeing the last seq. (Under a
   * sequencer that acks on replicas, replicas report every turn: statusIntervalFor, below.)
   */
  it("a replica that keeps up sends at most one STATUS per interval, and the sequencer still sees its last seq", async () => {
    const ack = { mode: "journal" };
    dir = mkdtempSync(join(tmpdir(), "lockstep-progress-"));
    cluster = new DrillCluster({ baseConfig: CONFIG, dir, replicas: 1, sequencer: { limits: LIMITS, ack } });
    const c = cluster;
    await c.start();
    const trader = await TradingClient.connect(c.tradeUrl, 1);
    try {
      const [before] = await c.settle(10_000);
      const t0 = performance.now();
      const result = await runTraffic(trader, { instrument: 1, commands: STEADY_ORDERS, seed: 9, windowMax: 8, mid: 10_000, ratePerS: STEADY_RATE_PER_S });
      const [r] = await c.settle(10_000);
      const elapsedMs = performance.now() - t0;
      expect(r!.seq).toBe(result.lastSeq);
      const seen = async (): Promise<number> => (await c.sequencerStats()).replicas.find((x) => x.id === r!.id)?.applied ?? -1;
      const deadline = performance.now() + 10_000;
      while ((await seen()) < result.lastSeq && performance.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      expect(await seen()).toBe(result.lastSeq);
      const batches = r!.batches - before!.batches;
      const statuses = r!.statuses - before!.statuses;
      // Most orders came as a batch of their own.
      expect(batches).toBeGreaterThan(STEADY_ORDERS / 2);
      expect(statuses).toBeLessThanOrEqual(Math.ceil(elapsedMs / STATUS_INTERVAL_MS_DEFAULT) + 2);
      expect(statuses).toBeLessThan(batches * 0.75);
    } finally {
      await trader.close();
    }
  }, 60_000);

  it("replicas of a sequencer that acks on them report every turn; otherwise at the configured interval", () => {
    expect(statusIntervalFor("replicas", 5)).toBe(0);
    expect(statusIntervalFor("journal", 5)).toBe(5);
    expect(statusIntervalFor("none", 20)).toBe(20);
  });
});
