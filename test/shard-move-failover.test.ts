/**
 * Moves across a leader failover (docs/scaling.md, "Moving an instrument"): two groups, each a
 * leader and a standby with leadership in one etcd, and two replicas. The mover's frames reach
 * the target through proxies that pass 4,000 bytes/s, so a kill -9 lands between MOVE_BEGIN and
 * MOVE_END.
 *
 * - The target's leader killed: the mover's link drops, it waits for the standby to lead
 *   (leaderWaitMsMax), aborts the partial import there and resumes the source: the move is
 *   undone and the source trades again. Run again, the move finishes on the new leader.
 * - The source's leader killed (it is halted, and has nothing more to do until the release):
 *   the import finishes, the map moves, and the release is sequenced by the source's new leader.
 *
 * Each ends with hashes equal and every replica of both shards in agreement.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TradingClient } from "../src/client/trading.js";
import { PACKAGE_ROOT } from "../src/cluster/launcher.js";
import { findEtcd, startEtcd, type EtcdProcess } from "../src/cluster/etcd.js";
import type { MoveExportResponse } from "../src/protocol/rest.js";
import type { MoveResult } from "../src/shard/move.js";
import { ShardMapStore } from "../src/shard/store.js";
import { DrillCluster } from "../src/tools/drill/cluster.js";
import { within } from "../src/tools/drill/failover.js";
import { LatencyProxy } from "../src/tools/netsim/proxy.js";
import { lastJson, lockstep, noStack } from "./lockstep-cli.js";

const OPERATOR = 9000;
const TRADER = 41;
const inst = (id: number): object => ({ id, symbol: `FO-${id}`, tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 });

const etcdFound = findEtcd();
describe.skipIf("missing" in etcdFound)("a move across a leader failover", () => {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-move-failover-"));
  let etcd: EtcdProcess | undefined;
  let store: ShardMapStore | undefined;
  const groups: DrillCluster[] = [];
  const proxies: LatencyProxy[] = [];
  beforeAll(async () => {
    etcd = await startEtcd(dir, join(dir, "logs"));
    store = new ShardMapStore([etcd.url]);
    for (const [id, away] of [["s1", [2]], ["s2", [1]]] as const) {
      mkdirSync(join(dir, id), { recursive: true });
      const g = new DrillCluster({
        baseConfig: join(PACKAGE_ROOT, "config", "local.json"), dir: join(dir, id), replicas: 2, sequencer: { operatorAccount: OPERATOR },
        config: { instruments: [inst(1), inst(2)], instrumentsAway: [...away] }, ha: { etcd: etcd.url, sequencers: 2, cluster: id },
      });
      groups.push(g);
      await g.start();
    }
  }, 90_000);
  afterAll(async () => {
    await Promise.allSettled(proxies.map((p) => p.close()));
    store?.close();
    await Promise.allSettled(groups.map((g) => g.stop()));
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const restOf = (g: DrillCluster, i: number): string => g.feedUrl(i).replace(/^ws/, "http").replace(/\/feed$/, "");
  const exportAt = async (g: DrillCluster, id: number): Promise<MoveExportResponse> => (await fetch(`${restOf(g, 0)}/v1/move/${id}`)).json() as Promise<MoveExportResponse>;
  /** The export once the replica read shows `mode` (bounded): a replica applies a step some time after its sequencer ACKs it. */
  const modeAt = (g: DrillCluster, id: number, mode: string): Promise<MoveExportResponse> =>
    within(`a replica showing instrument ${id} ${mode}`, 20_000, async () => {
      const e = await exportAt(g, id);
      return e.mode === mode ? e : undefined;
    });
  const moveOf = (id: number, to: string): ReturnType<typeof lockstep> => lockstep("shards", "move", "--etcd", etcd!.url, "--account", String(OPERATOR), "--inst", String(id), "--to", to, "--json");
  const move = (): ReturnType<typeof lockstep> => moveOf(1, "s2");
  /** A proxy in front of each of `g`'s sequencer nodes, to throttle what the mover sends it; their trade URLs. */
  const proxied = async (g: DrillCluster, seed: number): Promise<{ urls: string[]; ps: LatencyProxy[] }> => {
    const ps: LatencyProxy[] = [];
    const urls: string[] = [];
    for (const url of g.tradeUrls) {
      const p = LatencyProxy.passThrough(Number(new URL(url).port), seed);
      proxies.push(p);
      ps.push(p);
      urls.push(`ws://127.0.0.1:${await p.listen()}/trade`);
    }
    return { urls, ps };
  };
  const seed = async (g: DrillCluster, id: number): Promise<void> => {
    const trader = await TradingClient.connectAny(g.tradeUrls, TRADER);
    for (let i = 0; i < 300; i++) {
      await trader.submit({ instrument: id, side: i % 2 === 0 ? "buy" : "sell", price: i % 2 === 0 ? 9_000 - (i % 50) : 11_000 + (i % 50), quantity: 1 + (i % 3) });
    }
    await trader.close();
  };
  const feeds = (g: DrillCluster): string[] => g.ids.map((_, i) => g.feedUrl(i));
  /**
   * Runs `start` (a move) with the frames through `ps` throttled, kills `victim`'s leader once
   * `target` shows instrument `id` importing, lifts the throttle; the move's outcome and the node killed.
   */
  const killMidImport = async (ps: readonly LatencyProxy[], start: () => ReturnType<typeof lockstep>, target: DrillCluster, id: number, victim: DrillCluster): Promise<{ out: Awaited<ReturnType<typeof lockstep>>; killed: number }> => {
    for (const p of ps) p.shape({ up: { bytesPerS: 4_000 } });
    const moving = start();
    await within("the import under way", 20_000, async () => ((await exportAt(target, id)).mode === "IMPORTING" ? true : undefined));
    const killed = await victim.leader();
    await victim.killSequencerNode(killed);
    for (const p of ps) p.shape({ up: { bytesPerS: 0 } });
    return { out: await moving, killed };
  };

  it("the target's leader killed mid-import: the move is undone on its new leader, and a second run moves the book", async () => {
    const [s1, s2] = groups as [DrillCluster, DrillCluster];
    await seed(s1, 1);
    const before = await exportAt(s1, 1);
    // Each of s2's sequencer nodes behind a proxy of its own, throttled while the move is to be caught mid-import.
    const { urls: viaProxy, ps } = await proxied(s2, 11);
    await store!.write({
      version: 1, pins: {},
      shards: [{ id: "s1", weight: 1, endpoints: { trade: s1.tradeUrls, feed: feeds(s1) }, instruments: [1] }, { id: "s2", weight: 1, endpoints: { trade: viaProxy, feed: feeds(s2) }, instruments: [2] }],
    });
    const { out: undone, killed: leader } = await killMidImport(ps, move, s2, 1, s2);
    expect(undone.code, undone.stderr).toBe(1);
    expect(lastJson(undone.stdout)).toMatchObject({ error: "STEP_REFUSED", left_as: "undone: the import on s2 was aborted and s1 trades the instrument again" });
    noStack(undone.stderr);
    expect(await s2.leader()).toBe(1 - leader);
    // The mover waits for the sequencers' ACKs, not for the replicas read here: s2's follow a new leader first.
    expect(await modeAt(s1, 1, "ACTIVE")).toMatchObject({ mode: "ACTIVE", halt_seq: 0, book_hash: before.book_hash });
    expect(await modeAt(s2, 1, "AWAY")).toMatchObject({ mode: "AWAY", orders: [] });

    const done = await move();
    expect(done.code, done.stderr).toBe(0);
    const m = lastJson(done.stdout) as unknown as MoveResult;
    expect(m).toMatchObject({ outcome: "moved", orders: before.orders.length, hash_before: before.book_hash, hash_after: before.book_hash, hashes_equal: true, map_version: 2 });
    // The killed node follows again as a standby; every replica of each shard ends at its leader's seq with one hash.
    await s2.startSequencerNode(leader);
    for (const g of groups) {
      const rs = await g.settle(30_000);
      expect(new Set(rs.map((r) => `${r.seq}:${r.hash}`)).size).toBe(1);
    }
  }, 120_000);

  it("the source's leader killed mid-import: the move still finishes, and its release reaches the source's new leader", async () => {
    const [s1, s2] = groups as [DrillCluster, DrillCluster];
    await seed(s2, 2);
    const before = await exportAt(s2, 2);
    // Instrument 2 goes from s2 to s1; the frames to s1 are throttled so that s2's leader dies while s1 imports.
    const { urls: viaProxy, ps } = await proxied(s1, 12);
    const now = (await store!.readOrFail()).map;
    await store!.write({ ...now, version: now.version + 1, shards: now.shards.map((sh) => (sh.id === "s1" ? { ...sh, endpoints: { trade: viaProxy, feed: feeds(s1) } } : sh)) });
    const { out: done, killed: leader } = await killMidImport(ps, () => moveOf(2, "s1"), s1, 2, s2);
    expect(done.code, done.stderr).toBe(0);
    const m = lastJson(done.stdout) as unknown as MoveResult;
    expect(m).toMatchObject({ outcome: "moved", from: "s2", to: "s1", orders: before.orders.length, hash_before: before.book_hash, hash_after: before.book_hash, hashes_equal: true, map_version: now.version + 2 });
    // The release was sequenced by s2's new leader: its replicas show the book gone.
    expect(await s2.leader()).toBe(1 - leader);
    await modeAt(s2, 2, "AWAY");
    expect(await modeAt(s1, 2, "ACTIVE")).toMatchObject({ mode: "ACTIVE", book_hash: before.book_hash });
    expect((await store!.readOrFail()).map.shards.find((sh) => sh.id === "s1")!.instruments).toContain(2);
    await s2.startSequencerNode(leader);
    for (const g of groups) {
      const rs = await g.settle(30_000);
      expect(new Set(rs.map((r) => `${r.seq}:${r.hash}`)).size).toBe(1);
    }
  }, 120_000);
});
