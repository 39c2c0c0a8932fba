/**
 * ShardedTradingClient (src/client/sharded.ts) against two groups in this process, each holding
 * only its own instruments, so an ACK proves the command reached the right shard (the other's
 * sequencer would refuse the instrument): commands route by instrument; the two shards hand out
 * the same oids and the SDK's ids still differ; cancel and modify by the returned reference
 * reach the order's shard; what the map cannot route is refused with its reason; a newer map
 * routes new commands and leaves the one in flight where it was sent; reports come per shard.
 * `lockstep client --shard-map FILE` routes its lines the same way. With an etcd on the path,
 * the same client reads the map from etcd and follows a change there.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { orderId, parseOrderId, ShardedTradingClient, ShardFeeds, ShardRouteError, type ShardedAck } from "../src/client/sharded.js";
import { LockstepError } from "../src/client/trading.js";
import { findEtcd, startEtcd, type EtcdProcess } from "../src/cluster/etcd.js";
import type { InstrumentConfig } from "../src/engine/index.js";
import { ReportKind, type Report } from "../src/protocol/messages.js";
import type { ShardMap } from "../src/shard/map.js";
import { ShardMapStore } from "../src/shard/store.js";
import { TestCluster, until } from "./cluster-helpers.js";
import { client, lockstep, noStack } from "./lockstep-cli.js";

const inst = (id: number): InstrumentConfig => ({ id, symbol: `I${id}`, tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 });
/** Shard a's group holds 1 and 3; shard b's holds 2, 3 and 4 (3 is where a new map moves it). */
const HELD = { a: [1, 3], b: [2, 3, 4] } as const;

async function group(instruments: readonly number[]): Promise<TestCluster> {
  const c = new TestCluster();
  const insts = instruments.map(inst);
  await c.start(0, { instruments: insts });
  await c.addReplica("r1", { instruments: insts });
  return c;
}

const clusters: Record<"a" | "b", TestCluster> = {} as Record<"a" | "b", TestCluster>;
const entry = (id: "a" | "b", instruments: number[]) => ({
  id, weight: 1, endpoints: { trade: [clusters[id].tradeUrl], feed: [clusters[id].feedUrl(clusters[id].replicas[0]!)] }, instruments,
});
const mapV1 = (): ShardMap => ({ version: 1, shards: [entry("a", [1, 3]), entry("b", [2, 4])], pins: {} });
const mapV2 = (): ShardMap => ({ version: 2, shards: [entry("a", [1]), entry("b", [2, 3, 4])], pins: {} });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ShardRouteError) return err.reason;
    throw err;
  }
  throw new Error("expected a ShardRouteError");
}

beforeAll(async () => {
  clusters.a = await group(HELD.a);
  clusters.b = await group(HELD.b);
});
afterAll(() => {
  clusters.a?.stop();
  clusters.b?.stop();
});

describe("ShardedTradingClient", () => {
  it("order ids: \"<shard>:<oid>\" round-trips, anything else does not parse", () => {
    expect(parseOrderId(orderId("s-1_x", 42))).toEqual({ shard: "s-1_x", oid: 42 });
    for (const bad of ["", "a", ":1", "a:", "a:0", "a:-1", "a:1.5", "a b:1", "a:99999999999999999"]) expect(parseOrderId(bad), bad).toBeNull();
  });

  it("routes by instrument; both shards hand out oid 1, the ids differ; cancel and modify by the reference reach the order's shard", async () => {
    const c = new ShardedTradingClient(mapV1(), { account: 1 });
    try {
      const onA = await c.submit({ instrument: 1, side: "buy", price: 100, quantity: 5, clientOrderId: "x1" });
      const onB = await c.submit({ instrument: 2, side: "buy", price: 100, quantity: 5, clientOrderId: "x1" });
      expect([onA.shard, onB.shard]).toEqual(["a", "b"]);
      expect(onA.oid).toBe(onB.oid);
      expect([onA.id, onB.id]).toEqual([`a:${onA.oid}`, `b:${onB.oid}`]);
      const onB2 = await c.submit({ instrument: 4, side: "sell", price: 200, quantity: 5 });
      expect(onB2.shard).toBe("b");

      const modified = await c.modify(onA.id, 101, 4);
      expect(modified.shard).toBe("a");
      expect((await c.cancel(onA.id)).shard).toBe("a");
      // The same client order id on both shards: the instrument says which one is meant.
      expect((await c.cancel({ instrument: 2, clientOrderId: "x1" })).shard).toBe("b");
      expect((await c.cancel({ shard: "b", oid: onB2.oid })).shard).toBe("b");
      // The order is gone on its shard: the cancel reaches it, and the engine's report says so (the ack is the log's).
      const again: ShardedAck = await c.cancel({ shard: "a", clientOrderId: "x1" });
      expect(again.shard).toBe("a");
      expect(clusters.a.sequencer.lastSeq).toBe(again.seq);
      const acks = await c.cancelAll();
      expect(acks.map((a) => a.shard)).toEqual(["a", "b"]);
    } finally {
      await c.close();
    }
  });

  it("the kill switch cancels the account's orders on every shard, also from a client that has sent nothing to them yet", async () => {
    const account = 11;
    const open = async (k: "a" | "b"): Promise<number> => {
      const r = clusters[k].replicas[0]!;
      const res = await fetch(`http://127.0.0.1:${r.port}/v1/orders`, { headers: { "x-lockstep-account": String(account) } });
      return ((await res.json()) as { orders: unknown[] }).orders.length;
    };
    const trader = new ShardedTradingClient(mapV1(), { account });
    const kill = new ShardedTradingClient(mapV1(), { account });
    try {
      const placed = [
        await trader.submit({ instrument: 1, side: "buy", price: 100, quantity: 5 }), await trader.submit({ instrument: 3, side: "sell", type: "stop", stopPrice: 50, quantity: 1 }),
        await trader.submit({ instrument: 2, side: "sell", price: 300, quantity: 5 }), await trader.submit({ instrument: 4, side: "buy", type: "oco", price: 90, stopPrice: 400, quantity: 2 }),
      ];
      const last = (k: "a" | "b"): number => Math.max(...placed.filter((p) => p.shard === k).map((p) => p.seq));
      await until(() => clusters.a.replicas[0]!.appliedSeq >= last("a") && clusters.b.replicas[0]!.appliedSeq >= last("b"));
      expect([await open("a"), await open("b")]).toEqual([2, 3]);
      const acks = await kill.cancelAll();
      expect(acks.map((a) => a.shard)).toEqual(["a", "b"]);
      await until(() => clusters.a.replicas[0]!.appliedSeq >= acks[0]!.seq && clusters.b.replicas[0]!.appliedSeq >= acks[1]!.seq);
      expect([await open("a"), await open("b")]).toEqual([0, 0]);
    } finally {
      await Promise.all([trader.close(), kill.close()]);
    }
  });

  it("refuses what the map cannot route, with its reason, and the wire's refusals stay LockstepErrors", async () => {
    const c = new ShardedTradingClient(mapV1(), { account: 2 });
    try {
      expect(await refusal(c.submit({ instrument: 9, side: "buy", price: 100, quantity: 1 }))).toBe("INSTRUMENT_NOT_IN_MAP");
      expect(await refusal(c.cancel("a-7"))).toBe("BAD_ORDER_ID");
      expect(await refusal(c.cancel("zz:1"))).toBe("UNKNOWN_SHARD");
      expect(await refusal(c.modify({ instrument: 9, clientOrderId: "q" }, 1, 1))).toBe("INSTRUMENT_NOT_IN_MAP");
      const wire = await c.submit({ instrument: 1, side: "buy", price: 100, quantity: 0 }).catch((e: unknown) => e);
      expect(wire).toBeInstanceOf(LockstepError);
      const dead = new ShardedTradingClient({ ...mapV1(), shards: [{ ...entry("a", [1]), endpoints: { trade: ["ws://127.0.0.1:1/trade"], feed: ["ws://127.0.0.1:1/feed"] } }] }, { account: 2 });
      expect(await refusal(dead.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 }))).toBe("SHARD_UNREACHABLE");
      await dead.close();
    } finally {
      await c.close();
    }
    expect(await refusal(c.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 }))).toBe("CLOSED");
  });

  it("a newer map routes new commands by it; the command in flight stays with the shard it was sent to; an older map is ignored", async () => {
    const c = new ShardedTradingClient(mapV1(), { account: 3 });
    try {
      const inFlight = c.submit({ instrument: 3, side: "buy", price: 100, quantity: 1 });
      expect(c.setMap(mapV2())).toBe(true);
      expect((await inFlight).shard).toBe("a");
      const moved = await c.submit({ instrument: 3, side: "buy", price: 100, quantity: 1 });
      expect(moved.shard).toBe("b");
      expect(clusters.b.sequencer.lastSeq).toBe(moved.seq);
      expect(c.setMap(mapV1())).toBe(false);
      expect((await c.submit({ instrument: 3, side: "buy", price: 100, quantity: 1 })).shard).toBe("b");
    } finally {
      await c.close();
    }
  });

  it("ShardFeeds: an account's reports arrive from each shard, named by their shard", async () => {
    const seen: { shard: string; r: Report }[] = [];
    const feeds = new ShardFeeds(mapV1(), { account: 4, onReport: (shard, r) => seen.push({ shard, r }) });
    await feeds.connect();
    const c = new ShardedTradingClient(mapV1(), { account: 4 });
    try {
      const acks = [await c.submit({ instrument: 1, side: "buy", price: 90, quantity: 1 }), await c.submit({ instrument: 2, side: "buy", price: 90, quantity: 1 })];
      for (const a of acks) await feeds.caughtUp(a.shard, a.seq);
      const accepted = seen.filter((x) => x.r.k === ReportKind.ACCEPTED).map((x) => orderId(x.shard, x.r.oid));
      expect(accepted).toEqual(expect.arrayContaining(acks.map((a) => a.id)));
    } finally {
      feeds.close();
      await c.close();
    }
  });
});

describe("lockstep client --shard-map", () => {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-client-map-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("sends its instrument's lines to that shard and reads the book and reports from that shard's replicas", async () => {
    const file = join(dir, "map.json");
    writeFileSync(file, JSON.stringify(mapV1()));
    const r = await client(["--shard-map", file, "--account", "6", "--instrument", "4"], "buy 2 @ 100 id c1\nbook\ncancel id c1\nquit\n");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ack seq=\d+ order=\d+ shard=b/);
    expect(r.out).toMatch(/book seq=\d+ bids=\[\[100,2\]\] asks=\[\]/);
    expect(r.out).toMatch(/report seq=\d+ cancelled order=\d+ coid=c1/);
  });

  it("an instrument on no shard, a file that is not a map, or two destinations: one line, no stack", async () => {
    const file = join(dir, "map.json");
    writeFileSync(file, JSON.stringify(mapV1()));
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ version: 1, shards: [] }));
    const [a, b, c] = await Promise.all([
      lockstep("client", "--shard-map", file, "--account", "6", "--instrument", "9"),
      lockstep("client", "--shard-map", bad, "--account", "6"),
      lockstep("client", "--shard-map", file, "--trade", "ws://127.0.0.1:1/trade", "--account", "6"),
    ]);
    expect([a.code, b.code, c.code]).toEqual([1, 1, 2]);
    expect(a.stderr).toContain("INSTRUMENT_NOT_IN_MAP: instrument 9 is on no shard of the shard map (version 1)");
    expect(b.stderr).toContain("is not a valid shard map: shards:");
    expect(c.stderr).toContain("client needs one of --trade");
    for (const x of [a, b, c]) noStack(x.stderr);
  });
});

const etcd = findEtcd();
describe.skipIf("missing" in etcd)("ShardedTradingClient.fromEtcd", () => {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-sharded-"));
  let server: EtcdProcess | undefined;
  beforeAll(async () => {
    server = await startEtcd(dir, join(dir, "logs"));
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the map from etcd and follows a new version written there", async () => {
    const store = new ShardMapStore([server!.url]);
    await store.write(mapV1());
    const seen: number[] = [];
    const c = await ShardedTradingClient.fromEtcd([server!.url], { account: 5, onMap: (m) => seen.push(m.version) });
    try {
      expect((await c.submit({ instrument: 3, side: "buy", price: 100, quantity: 1 })).shard).toBe("a");
      await store.write(mapV2());
      await until(() => seen.includes(2), 10_000);
      expect((await c.submit({ instrument: 3, side: "buy", price: 100, quantity: 1 })).shard).toBe("b");
    } finally {
      await c.close();
      store.close();
    }
  });
});
