/**
 * Two `lockstep gateway` processes behind haproxy, run from config/haproxy-gateways.cfg (the
 * example in docs/scaling.md, ports replaced by free ones), in front of two shards whose map is
 * in etcd. One client, through haproxy only: trades instruments of both shards, gets its reports
 * and both books, cancels by id; the gateway holding its trading connection is killed (kill -9),
 * the client reconnects through haproxy to the other, cancels an order placed before by its id,
 * trades on, and its feed resumes with every report once; a map written to etcd while all this
 * runs moves an instrument, and the gateways route it to its new shard. Needs haproxy and etcd
 * (.ci/run installs both); skipped with a message where either is missing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeedClient, TradingClient } from "../src/client/index.js";
import { findEtcd, startEtcd, type EtcdProcess } from "../src/cluster/etcd.js";
import { killNode, spawnNode, stopNode, type NodeProcess } from "../src/cluster/launcher.js";
import { freePort } from "../src/cluster/ports.js";
import type { InstrumentConfig } from "../src/engine/index.js";
import type { GatewayStats } from "../src/gateway/gateway.js";
import { shardOrderOf } from "../src/gateway/ids.js";
import { ReportKind, type Report } from "../src/protocol/messages.js";
import type { ShardMap } from "../src/shard/map.js";
import { ShardMapStore } from "../src/shard/store.js";
import { TestCluster, until } from "./cluster-helpers.js";
import { has, listening } from "./lockstep-cli.js";

const HAVE_HAPROXY = has("haproxy");
const HAVE_ETCD = !("missing" in findEtcd());
if (!HAVE_HAPROXY || !HAVE_ETCD) console.warn(`gateway haproxy test skipped: ${[HAVE_HAPROXY ? "" : "haproxy", HAVE_ETCD ? "" : "etcd"].filter((x) => x !== "").join(" and ")} missing (.ci/run installs both from Debian's packages)`);

const EXAMPLE = join(import.meta.dirname, "..", "config", "haproxy-gateways.cfg");
const inst = (id: number): InstrumentConfig => ({ id, symbol: `I${id}`, tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 });


async function writeMap(url: string, m: ShardMap): Promise<void> {
  const store = new ShardMapStore([url]);
  try {
    await store.write(m);
  } finally {
    store.close();
  }
}

async function stats(g: NodeProcess): Promise<GatewayStats> {
  return (await (await fetch(String(g.ready.stats), { signal: AbortSignal.timeout(2_000) })).json()) as GatewayStats;
}

/** Connects through haproxy, retrying a bounded number of times (a dead gateway may take a connection before its health check fails). */
async function connectTrading(url: string, account: number): Promise<TradingClient> {
  let last: unknown;
  for (let i = 0; i < 20; i++) {
    try {
      return await TradingClient.connect(url, account, 2_000);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

describe.skipIf(!HAVE_HAPROXY || !HAVE_ETCD)("gateways behind haproxy", () => {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-gw-haproxy-"));
  let etcd: EtcdProcess | undefined;
  const shards: TestCluster[] = [];
  const gws: NodeProcess[] = [];
  let haproxy: ChildProcess | null = null;
  let front = 0;
  let map: (version: number, bHolds: number[]) => ShardMap;

  beforeAll(async () => {
    etcd = await startEtcd(dir, join(dir, "logs"));
    for (const held of [[1, 3], [2, 3]]) {
      const c = new TestCluster();
      await c.start(0, { instruments: held.map(inst) });
      await c.addReplica("r1", { instruments: held.map(inst) });
      shards.push(c);
    }
    const entry = (k: number, id: string, instruments: number[]) => ({ id, weight: 1, endpoints: { trade: [shards[k]!.tradeUrl], feed: [shards[k]!.feedUrl(shards[k]!.replicas[0]!)] }, instruments });
    map = (version, bHolds) => ({ version, shards: [entry(0, "a", [1, 3].filter((i) => !bHolds.includes(i))), entry(1, "b", bHolds)], pins: {} });
    await writeMap(etcd.url, map(1, [2]));
    for (const name of ["gw1", "gw2"]) gws.push(await spawnNode(name, ["gateway", "--shards-etcd", etcd.url, "--port", "0"], join(dir, "logs")));
    front = await freePort();
    const cfg = readFileSync(EXAMPLE, "utf8").replace("127.0.0.1:7400", `127.0.0.1:${front}`)
      .replace("127.0.0.1:7300", `127.0.0.1:${String(gws[0]!.ready.port)}`).replace("127.0.0.1:7301", `127.0.0.1:${String(gws[1]!.ready.port)}`);
    writeFileSync(join(dir, "haproxy.cfg"), cfg);
    haproxy = spawn("haproxy", ["-f", join(dir, "haproxy.cfg"), "-db"], { stdio: "ignore" });
    await listening(front);
  }, 60_000);

  afterAll(async () => {
    haproxy?.kill("SIGKILL");
    await Promise.all(gws.map(stopNode));
    for (const c of shards) c.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("trades on both shards through haproxy, keeps trading when its gateway is killed, and follows a map change in etcd", async () => {
    const trade = `ws://127.0.0.1:${front}/trade`;
    const feedUrl = `ws://127.0.0.1:${front}/feed`;
    const reports: Report[] = [];
    const feed = new FeedClient({ urls: [feedUrl], account: 11, instrument: 1, onReport: (r) => reports.push(r) });
    const bookB = new FeedClient({ urls: [feedUrl], instrument: 2 });
    await Promise.all([feed.connect(), bookB.connect()]);
    let t = await connectTrading(trade, 11);
    const onA = await t.submit({ instrument: 1, side: "buy", price: 90, quantity: 2 });
    const onB = await t.submit({ instrument: 2, side: "sell", price: 110, quantity: 3 });
    const spare = await t.submit({ instrument: 2, side: "buy", price: 80, quantity: 1 });
    expect([onA.sh, onB.sh, spare.sh]).toEqual([0, 1, 1]);
    expect([shardOrderOf(onA.oid)!.shard, shardOrderOf(onB.oid)!.shard]).toEqual([0, 1]);
    const cancel = await t.cancel(spare.oid);
    await Promise.all([feed.caughtUp(onA.seq, 10_000, 0), feed.caughtUp(cancel.seq, 10_000, 1)]);
    expect(reports.filter((r) => r.k === ReportKind.ACCEPTED).map((r) => r.oid).sort()).toEqual([onA.oid, onB.oid, spare.oid].sort());
    expect(reports.filter((r) => r.k === ReportKind.CANCELLED).map((r) => r.oid)).toEqual([spare.oid]);
    await until(() => feed.book.seq >= onA.seq && bookB.book.seq >= onB.seq, 10_000);
    expect(feed.book.top().bids).toEqual([[90, 2]]);
    expect(bookB.book.top().asks).toEqual([[110, 3]]);

    // Kill -9 the gateway holding the trading connection; the client comes back through haproxy.
    const holding = (await Promise.all(gws.map(stats))).findIndex((s) => s.trade_connections === 1);
    expect(holding).toBeGreaterThanOrEqual(0);
    await killNode(gws[holding]!);
    await t.closed;
    t = await connectTrading(trade, 11);
    try {
      expect((await stats(gws[1 - holding]!)).trade_connections).toBe(1);
      const cancelA = await t.cancel(onA.oid);
      expect(cancelA.sh).toBe(0);
      const take = await t.submit({ instrument: 2, side: "buy", price: 110, quantity: 1 });
      await Promise.all([feed.caughtUp(cancelA.seq, 10_000, 0), feed.caughtUp(take.seq, 10_000, 1)]);
      expect(reports.filter((r) => r.k === ReportKind.CANCELLED).map((r) => r.oid).sort()).toEqual([onA.oid, spare.oid].sort());
      expect(reports.filter((r) => r.k === ReportKind.FILL).map((r) => r.oid).sort()).toEqual([onB.oid, take.oid].sort());
      const keys = reports.map((r) => `${r.sh}/${r.seq}/${r.n}`);
      expect(new Set(keys).size).toBe(keys.length);

      // Instrument 3 moves to shard b in etcd; the gateway left running routes it there.
      expect((await t.submit({ instrument: 3, side: "buy", price: 50, quantity: 1 })).sh).toBe(0);
      await writeMap(etcd!.url, map(2, [2, 3]));
      const deadline = Date.now() + 10_000;
      while ((await stats(gws[1 - holding]!)).map_version !== 2) {
        if (Date.now() > deadline) throw new Error("the gateway did not take map version 2");
        await new Promise((r) => setTimeout(r, 20));
      }
      const moved = await t.submit({ instrument: 3, side: "buy", price: 50, quantity: 1 });
      expect(moved.sh).toBe(1);
      expect(shards[1]!.sequencer.lastSeq).toBe(moved.seq);
    } finally {
      feed.close();
      bookB.close();
      await t.close();
    }
  }, 60_000);
});
