/**
 * The replica (src/replica), in the replicated cluster for real: a sequencer and replicas on loopback (ephemeral ports,
 * real WebSockets, real journal files). Three replicas fed the same ≥ 50k commands from
 * several clients end with identical state hashes and identical execution-report streams; a
 * replica started late catches up from seq 1 through the journal and agrees; the SDK round
 * trip (order → ack → fill → book update with a valid checksum) works.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FeedClient, TradingClient } from "../src/client/index.js";
import { runTraffic } from "../src/client/traffic.js";
import type { Report } from "../src/protocol/messages.js";
import { TestCluster, until } from "./cluster-helpers.js";

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});

const ACCOUNTS = [1, 2, 3, 4];

describe("replicated cluster", () => {
  it("three replicas agree on state hash and execution reports after 50k+ commands; a late replica catches up", async () => {
    cluster = new TestCluster();
    await cluster.start(3);
    const c = cluster;
    const feeds = c.replicas.map((r) => {
      const reports = new Map<number, Report[]>(ACCOUNTS.map((a) => [a, []]));
      const clients = ACCOUNTS.map((acct) => new FeedClient({ urls: [c.feedUrl(r)], account: acct, onReport: (rep) => reports.get(acct)!.push(rep) }));
      return { reports, clients };
    });
    await Promise.all(feeds.flatMap((f) => f.clients.map((fc) => fc.connect())));
    const traders = await Promise.all(ACCOUNTS.map((a) => TradingClient.connect(c.tradeUrl, a)));
    const results = await Promise.all(traders.map((t, i) => runTraffic(t, { instrument: 1, commands: 13_000, seed: 100 + i, windowMax: 256, mid: 10_000 })));
    const lastSeq = Math.max(...results.map((r) => r.lastSeq));
    expect(results.reduce((s, r) => s + r.acked, 0)).toBe(52_000);
    expect(c.sequencer.lastSeq).toBe(52_000);
    await Promise.all(c.replicas.map((r) => r.waitFor(lastSeq)));
    const hashes = c.replicas.map((r) => r.stateHash());
    expect(new Set(hashes).size).toBe(1);

    // Every report the replicas produced has reached its feed clients: compare the streams.
    const total = (f: (typeof feeds)[number]): number => [...f.reports.values()].reduce((s, l) => s + l.length, 0);
    await until(() => feeds.every((f) => total(f) === total(feeds[0]!)) && total(feeds[0]!) > 52_000);
    for (const acct of ACCOUNTS) {
      const ref = feeds[0]!.reports.get(acct)!;
      for (const f of feeds.slice(1)) expect(f.reports.get(acct)).toEqual(ref);
    }

    const late = await c.addReplica("late");
    await late.waitFor(lastSeq);
    expect(late.stateHash()).toBe(hashes[0]);
    expect((c.sequencer.stats() as { divergences: number }).divergences).toBe(0);
    // Nobody read reports from the late replica while it applied them, so it kept them unencoded;
    // clients resuming from it now get every one, equal to what the live subscribers got.
    const lateReports = new Map<number, Report[]>(ACCOUNTS.map((a) => [a, []]));
    const lateClients = ACCOUNTS.map((acct) => new FeedClient({ urls: [c.feedUrl(late)], account: acct, onReport: (rep) => lateReports.get(acct)!.push(rep) }));
    await Promise.all(lateClients.map((fc) => fc.connect()));
    await until(() => ACCOUNTS.every((a) => lateReports.get(a)!.length === feeds[0]!.reports.get(a)!.length));
    for (const acct of ACCOUNTS) expect(lateReports.get(acct)).toEqual(feeds[0]!.reports.get(acct));
    lateClients.forEach((fc) => fc.close());
    for (const t of traders) await t.close();
    for (const f of feeds) f.clients.forEach((fc) => fc.close());
  });

  it("SDK round trip: order → ack → fill report → book update with a valid checksum", async () => {
    cluster = new TestCluster();
    await cluster.start(1);
    const c = cluster;
    const fills: Report[] = [];
    const books: number[] = [];
    let mismatches = 0;
    const feed = new FeedClient({
      urls: [c.feedUrl(c.replicas[0]!)], account: 2, instrument: 1,
      onReport: (r) => { if (r.k === 2) fills.push(r); },
      onBook: (b) => books.push(b.seq),
      onChecksumMismatch: () => mismatches++,
    });
    await feed.connect();
    const maker = await TradingClient.connect(c.tradeUrl, 1);
    const taker = await TradingClient.connect(c.tradeUrl, 2);
    const a1 = await maker.submit({ instrument: 1, side: "sell", price: 101, quantity: 5 });
    expect(a1.oid).toBe(a1.seq);
    const a2 = await taker.submit({ instrument: 1, side: "buy", price: 101, quantity: 3 });
    await until(() => fills.length === 1 && books.includes(a2.seq));
    expect(fills[0]).toMatchObject({ seq: a2.seq, oid: a2.oid, px: 101, qty: 3, left: 0, liq: 1 });
    expect(feed.book.top()).toEqual({ bids: [], asks: [[101, 2]] });
    expect(mismatches).toBe(0);
    await maker.close();
    await taker.close();
    feed.close();
  });

  it("a command with thousands of reports (the kill switch over 20,000 orders, some 1.3 MB of frames) reaches a subscriber whole and in order, and the next command's after it", async () => {
    cluster = new TestCluster();
    await cluster.start(1);
    const c = cluster;
    const reports: Report[] = [];
    const feed = new FeedClient({ urls: [c.feedUrl(c.replicas[0]!)], account: 7, instrument: 1, onReport: (r) => reports.push(r) });
    await feed.connect();
    const trader = await TradingClient.connect(c.tradeUrl, 7);
    const N = 20_000;
    for (let i = 0; i < N; i += 2000) await Promise.all(Array.from({ length: 2000 }, (_, k) => trader.submit({ instrument: 1, side: "buy", price: 50 + ((i + k) % 40), quantity: 1 })));
    const kill = await trader.cancelAll();
    const after = await trader.submit({ instrument: 1, side: "buy", price: 10, quantity: 1 });
    await until(() => reports.some((r) => r.seq === after.seq), 60_000);
    // Its reports: one CANCELLED per order (then the kill switch's own KILL_DONE), numbered from 0, the last marked.
    const ofKill = reports.filter((r) => r.seq === kill.seq);
    const cancels = ofKill.filter((r) => r.k === 3);
    expect(cancels).toHaveLength(N);
    expect(new Set(cancels.map((r) => r.oid)).size).toBe(N);
    expect(ofKill.every((r, i) => r.n === i && r.last === (i === ofKill.length - 1 ? true : undefined))).toBe(true);
    expect(reports.filter((r) => r.seq === after.seq)).toMatchObject([{ n: 0, last: true, k: 0, px: 10 }]);
    // Every report in seq order, none twice.
    expect(reports.every((r, i) => i === 0 || r.seq > reports[i - 1]!.seq || (r.seq === reports[i - 1]!.seq && r.n === reports[i - 1]!.n + 1))).toBe(true);
    await trader.close();
    feed.close();
  }, 90_000);
});


describe("replica restart", () => {
  it("a corrupt snapshot is detected, set aside and counted; the replica catches up from the sequencer instead", async () => {
    cluster = new TestCluster();
    await cluster.start(1);
    const c = cluster;
    const t = await TradingClient.connect(c.tradeUrl, 1);
    await runTraffic(t, { instrument: 1, commands: 2_000, seed: 8, windowMax: 64, mid: 10_000 });
    const r1 = c.replicas[0]!;
    await r1.waitFor(c.sequencer.lastSeq);
    const hash = r1.stateHash();
    r1.stop();
    const file = join(c.dir, "r1", "snapshot.msgpack");
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    writeFileSync(file, bytes);
    const back = await c.addReplica("r1");
    expect(back.appliedSeq).toBe(0);
    expect((back.stats() as { snapshot_corruptions: number }).snapshot_corruptions).toBe(1);
    await back.waitFor(c.sequencer.lastSeq);
    expect(back.stateHash()).toBe(hash);
    await t.close();
  });

  it("a replica restarts from its snapshot on disk, catches up, and agrees with its peers", async () => {
    cluster = new TestCluster();
    await cluster.start(2);
    const c = cluster;
    const t = await TradingClient.connect(c.tradeUrl, 1);
    await runTraffic(t, { instrument: 1, commands: 6_000, seed: 3, windowMax: 128, mid: 10_000 });
    const r2 = c.replicas[1]!;
    await r2.waitFor(c.sequencer.lastSeq);
    r2.stop();
    const stoppedAt = r2.appliedSeq;
    await runTraffic(t, { instrument: 1, commands: 4_000, seed: 4, windowMax: 128, mid: 10_000 });
    const back = await c.addReplica("r2");
    expect(back.appliedSeq).toBe(stoppedAt);
    await Promise.all([back.waitFor(c.sequencer.lastSeq), c.replicas[0]!.waitFor(c.sequencer.lastSeq)]);
    expect(back.stateHash()).toBe(c.replicas[0]!.stateHash());
    await t.close();
  });
});
