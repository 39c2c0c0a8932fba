/**
 * `lockstep shards move` between two real groups (a sequencer and two replicas each, as
 * processes, as `lockstep start --shards 2` runs them) sharing one etcd. Proves: (1) a move
 * whose target cannot be reached changes nothing, and one whose import the target refuses (a
 * client order id its owner holds on both shards; found after the HALT) is undone, the target's
 * import aborted and the source trading again, each with a reason and no stack; (2) under load, instrument 1's book (resting limits, stops, an OCO pair, client ids,
 * a partial fill) moves from s1 to s2 with equal book hashes before and after, instruments 2
 * (on s1) and 3 (on s2) trade throughout, orders for instrument 1 meanwhile are refused
 * INSTRUMENT_MOVING (then INSTRUMENT_MOVED), the map goes to its next version, owners get MOVED on s1
 * and IMPORTED on s2 and can cancel a moved order on s2 by its new id, and every replica of
 * each shard ends at its shard's last seq with one state hash; a client of a gateway gets its
 * moved order's IMPORTED report with the id it knew as the former id, and cancels it by the new
 * one through the gateway; (3) a move of an instrument on
 * no shard, to an unknown shard or to its own shard is refused with its reason; (4) a mover
 * killed with SIGKILL between MOVE_BEGIN and MOVE_END leaves the source halted and the target
 * importing, which `--abort` undoes (the source trades again, the map unchanged) and a new run
 * of the move finishes (the partial import aborted and done again: equal hashes, the map's next
 * version, both shards' replicas in agreement); (5) a target replica killed with SIGKILL mid-import
 * and started again catches up, and the move completes with both target replicas agreeing; (6) a
 * source replica that is down is left out (the move goes on with the other within
 * othersGraceMs, not after replicaWaitMsMax); (7) the mover's link to the target reset mid-import:
 * it undoes the import over a fresh link (the source trades again), and a second run moves it;
 * (8) a mover killed after it wrote the map and before the source's release: a second run finds
 * the source halted on the other shard and releases it; (9) a mover killed during the export:
 * the source halted, the target untouched, and a second run exports and imports; (10) a later
 * run's claim mid-import: the running mover stops (SUPERSEDED) undoing nothing, and the next run
 * finishes the move; (11) a mover that died with its HALT held in a proxy: `--abort` claims the
 * instrument, and the HALT delivered after that is refused as stale (the book trades on); (12) a
 * dead mover's MOVE_CLAIM held in a proxy and delivered during the next run's import is refused
 * (it names a claim that is no longer the latest) and that run finishes; (13) two runs of one
 * move started together end with the instrument moved once, never live on both. (4)'s second kill also holds the killed mover's frames in the proxy and lets
 * go of them during the next run's import: the claims make the target's replicas refuse them
 * (MOVE_STALE) instead of taking their rows into that import.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { FeedClient } from "../src/client/feed.js";
import { TradingClient } from "../src/client/trading.js";
import { drain, spawnNode, statsOf, stopNode, type ReplicaStats, type SequencerStats } from "../src/cluster/launcher.js";
import { findEtcd } from "../src/cluster/etcd.js";
import { Reason } from "../src/engine/index.js";
import { MsgType, ReportKind, type Report } from "../src/protocol/messages.js";
import type { MoveExportResponse } from "../src/protocol/rest.js";
import type { ShardMap } from "../src/shard/map.js";
import { MOVE_LIMITS, type MoveResult } from "../src/shard/move.js";
import type { MoveGroup } from "../src/tools/move-groups.js";
import { within } from "../src/tools/drill/failover.js";
import { LatencyProxy } from "../src/tools/netsim/proxy.js";
import { BIN, lastJson, lockstep, noStack } from "./lockstep-cli.js";
import { useMoveGroups } from "./move-fixture.js";

const OPERATOR = 9000;
const TRADER = 7;
/** An account that trades through a `lockstep gateway` reading the map in etcd. */
const GATEWAY_TRADER = 12;
/** The owner of instrument 2's book in the test of a mover killed mid-import. */
const MIDWAY_TRADER = 41;
/** Orders per second of each background flow, and how long a flow may run at most (it is stopped sooner). */
const FLOW_RATE_PER_S = 400;
const FLOW_MS_MAX = 30_000;

type Group = MoveGroup;

const etcd = findEtcd();
describe.skipIf("missing" in etcd)("lockstep shards move", () => {
  const fx = useMoveGroups("lockstep-move-", [[3], [1, 2]], OPERATOR);
  const { dir, groups } = fx;

  const trade = (g: Group): string => String(g.seq.ready.trade);
  const feeds = (g: Group): string[] => g.replicas.map((r) => String(r.ready.feed));
  const entry = (g: Group, instruments: number[], tradeUrls = [trade(g)]): ShardMap["shards"][number] => ({ id: g.id, weight: 1, endpoints: { trade: tradeUrls, feed: feeds(g) }, instruments });
  const exportAt = async (g: Group, id: number): Promise<MoveExportResponse> => {
    const url = String(g.replicas[0]!.ready.feed).replace(/^ws/, "http").replace(/\/feed$/, "");
    return (await fetch(`${url}/v1/move/${id}`)).json() as Promise<MoveExportResponse>;
  };
  const move = (...args: string[]): ReturnType<typeof lockstep> => lockstep("shards", "move", "--etcd", fx.etcdUrl(), "--account", String(OPERATOR), ...args);
  /** A proxy passing everything to `url`'s port (until shaped or faulted), for the tests' slowed and reset links. */
  const proxyTo = (url: string, seed: number): LatencyProxy => LatencyProxy.passThrough(Number(new URL(url).port), seed);
  /** Starts `lockstep shards move --inst … --to …` as a process and kills it with SIGKILL once `until` ends (or fails). */
  const killMover = async (inst: number, to: string, until: () => Promise<unknown>): Promise<void> => {
    const mover = spawn(process.execPath, [BIN, "shards", "move", "--etcd", fx.etcdUrl(), "--account", String(OPERATOR), "--inst", String(inst), "--to", to], { stdio: "ignore" });
    const exited = once(mover, "exit");
    try {
      await until();
    } finally {
      mover.kill("SIGKILL");
      await exited;
    }
  };

  /** Each replica's count of steps refused MOVE_STALE on `g`. */
  const staleCounts = async (g: Group): Promise<number[]> => Promise.all(g.replicas.map(async (r) => (await statsOf<ReplicaStats>(r)).engine_rejects.MOVE_STALE ?? 0));

  it("(1) a target that cannot be reached changes nothing; an import the target refuses is found out after the HALT and the move is undone", async () => {
    const [s1, s2] = groups as [Group, Group];
    // In this map s2's trade URL is a loopback port nobody listens on (9, discard).
    await fx.store().write({ version: 1, shards: [entry(s1, [1, 2]), entry(s2, [3], ["ws://127.0.0.1:9/trade"])], pins: {} });
    const dead = await move("--inst", "1", "--to", "s2", "--json");
    expect(dead.code, dead.stderr).toBe(1);
    expect(lastJson(dead.stdout)).toMatchObject({ error: "SHARD_UNREACHABLE", left_as: "nothing was changed" });
    noStack(dead.stderr);
    expect((await exportAt(s1, 1)).mode).toBe("ACTIVE");
    await fx.store().write({ version: 2, shards: [entry(s1, [1, 2]), entry(s2, [3])], pins: {} });
    // Account 31 holds client order id "clash" on both shards: s2 refuses that row of the import, so the import cannot end.
    const a1 = await TradingClient.connect(trade(s1), 31);
    const a2 = await TradingClient.connect(trade(s2), 31);
    await a1.submit({ instrument: 1, side: "buy", price: 5_000, quantity: 1, clientOrderId: "clash" });
    await a1.submit({ instrument: 1, side: "sell", price: 15_000, quantity: 1 });
    await a2.submit({ instrument: 3, side: "buy", price: 5_000, quantity: 1, clientOrderId: "clash" });
    const refused = await move("--inst", "1", "--to", "s2", "--json");
    expect(refused.code, refused.stderr).toBe(1);
    expect(lastJson(refused.stdout)).toMatchObject({ error: "IMPORT_MISMATCH", left_as: "undone: the import on s2 was aborted and s1 trades the instrument again" });
    noStack(refused.stderr);
    expect((await exportAt(s1, 1))).toMatchObject({ mode: "ACTIVE", halt_seq: 0 });
    expect((await exportAt(s2, 1))).toMatchObject({ mode: "AWAY", orders: [] });
    expect((await fx.store().read())!.map.version).toBe(2);
    // s1 trades instrument 1 again: account 31's orders there are cancelled (so the next test's move has no clash).
    await a1.cancel({ clientOrderId: "clash" });
    await a1.cancelAll();
    await Promise.all([a1.close(), a2.close()]);
  });

  it("(2) moves instrument 1 under load: equal hashes, other instruments trade on, INSTRUMENT_MOVING meanwhile, map version 3, replicas agree", async () => {
    const [s1, s2] = groups as [Group, Group];
    const c1 = await TradingClient.connect(trade(s1), TRADER);
    const reports1: Report[] = [];
    const reports2: Report[] = [];
    const f1 = new FeedClient({ urls: feeds(s1), account: TRADER, onReport: (x) => reports1.push(x) });
    const f2 = new FeedClient({ urls: feeds(s2), account: TRADER, onReport: (x) => reports2.push(x) });
    // The flow on instrument 1 trades as account TRADER + 1 (see flow).
    const flowReports: Report[] = [];
    const f3 = new FeedClient({ urls: feeds(s1), account: TRADER + 1, onReport: (x) => flowReports.push(x) });
    await Promise.all([f1.connect(), f2.connect(), f3.connect()]);
    // A client of a gateway that follows the map in etcd (version 2 now): one resting order on instrument 1.
    const gw = await spawnNode("gateway", ["gateway", "--shards-etcd", fx.etcdUrl(), "--port", "0"], join(dir, "logs"));
    // Stopped however the test ends: a failed assertion used to leave the gateway process running.
    onTestFinished(() => stopNode(gw));
    const gwReports: Report[] = [];
    const gwTrade = await TradingClient.connect(String(gw.ready.trade), GATEWAY_TRADER);
    const gwFeed = new FeedClient({ urls: [String(gw.ready.feed)], account: GATEWAY_TRADER, onReport: (x) => gwReports.push(x) });
    await gwFeed.connect();
    const gwOrder = (await gwTrade.submit({ instrument: 1, side: "buy", price: 8_000, quantity: 3 })).oid;
    // And one with a client order id, cancelled by it through the gateway after the move.
    const gwNamed = (await gwTrade.submit({ instrument: 1, side: "buy", price: 7_990, quantity: 2, clientOrderId: "gw-named" })).oid;
    // A book with depth on both sides, a partial fill, a stop, an OCO pair and client ids.
    const placed: number[] = [];
    for (let i = 0; i < 200; i++) {
      const buy = i % 2 === 0;
      placed.push((await c1.submit({ instrument: 1, side: buy ? "buy" : "sell", price: buy ? 9_000 - (i % 40) : 11_000 + (i % 40), quantity: 5 + (i % 3), ...(i % 10 === 0 ? { clientOrderId: `m${i}` } : {}) })).oid);
    }
    await c1.submit({ instrument: 1, side: "buy", price: 11_001, quantity: 2 });
    await c1.submit({ instrument: 1, side: "sell", type: "stop", stopPrice: 8_000, quantity: 3 });
    await c1.submit({ instrument: 1, side: "sell", type: "oco", price: 12_000, stopPrice: 8_500, quantity: 4, clientOrderId: "pair" });
    const before = await exportAt(s1, 1);
    expect(before.orders.length).toBe(205);
    expect(before.orders.some((o) => o[12] !== 0)).toBe(true);

    let stop = false;
    const flows = [flow(trade(s1), 2, () => stop), flow(trade(s2), 3, () => stop), flow(trade(s1), 1, () => stop)];
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const r = await move("--inst", "1", "--to", "s2", "--json");
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    const [a2, a3, a1] = await Promise.all(flows);
    expect(r.code, r.stderr).toBe(0);
    const m = lastJson(r.stdout) as unknown as MoveResult;
    // The flow on instrument 1 added orders of its own (account 8) before the HALT.
    expect(m).toMatchObject({ instrument: 1, from: "s1", to: "s2", outcome: "moved", hashes_equal: true, map_version_before: 2, map_version: 3 });
    expect(m.orders).toBeGreaterThanOrEqual(205);
    expect(m.hash_after).toBe(m.hash_before);
    expect(m.replicas_agreeing).toEqual({ from: 2, to: 2 });
    // Instruments 2 and 3 were acked while the move ran; instrument 1's orders meanwhile were refused by s1's engine.
    expect(a2.ackedAt.filter((t) => t >= t0 && t <= t1).length).toBeGreaterThan(0);
    expect(a3.ackedAt.filter((t) => t >= t0 && t <= t1).length).toBeGreaterThan(0);
    expect(a2.refused + a3.refused).toBe(0);
    const map = (await fx.store().read())!.map;
    expect(map.version).toBe(3);
    expect(map.shards.find((s) => s.id === "s2")!.instruments).toEqual([1, 3]);
    expect(map.shards.find((s) => s.id === "s1")!.instruments).toEqual([2]);
    const after = await exportAt(s2, 1);
    expect(after).toMatchObject({ mode: "ACTIVE", book_hash: m.hash_before });
    const seeded = (rows: MoveExportResponse["orders"]): unknown[] => rows.filter((o) => o[1] === TRADER).map((o) => o.slice(1));
    expect(seeded(after.orders)).toEqual(seeded(before.orders));
    expect((await exportAt(s1, 1)).mode).toBe("AWAY");

    // Every replica of each shard at its last seq, with one hash.
    for (const g of groups) {
      const last = (await statsOf<SequencerStats>(g.seq)).seq;
      const rs = await drain(g.replicas, last, 20_000);
      expect(rs.map((x) => x.seq), g.id).toEqual([last, last]);
      expect(new Set(rs.map((x: ReplicaStats) => x.hash)).size, g.id).toBe(1);
    }
    await until(() => reports2.some((x) => x.k === ReportKind.IMPORTED && x.foid === placed[0]));
    await until(() => flowReports.length > 0 && flowReports.at(-1)!.seq >= a1.lastSeq);
    const codes = flowReports.filter((x) => x.k === ReportKind.REJECTED).map((x) => x.code);
    expect(a1.acked).toBeGreaterThan(0);
    expect(codes).toContain(Reason.INSTRUMENT_MOVING);
    expect(codes).toContain(Reason.INSTRUMENT_MOVED);
    expect(reports1.filter((x) => x.k === ReportKind.MOVED && x.to === "s2").length).toBeGreaterThanOrEqual(200);
    // The owner cancels a moved order on s2 by the id its IMPORTED report gives.
    const imported = reports2.find((x) => x.k === ReportKind.IMPORTED && x.foid === placed[0])!;
    expect(imported.from).toBe("s1");
    const c2 = await TradingClient.connect(trade(s2), TRADER);
    await c2.cancel(imported.oid);
    await c2.cancel({ clientOrderId: "pair" });
    await until(() => reports2.filter((x) => x.k === ReportKind.CANCELLED).length >= 3);

    // Through the gateway: MOVED names the id the client knew; IMPORTED gives it as the former
    // id, with the new id (on s2, shard number 1) by which the client cancels it, still through the gateway.
    await until(() => gwReports.some((x) => x.k === ReportKind.IMPORTED));
    expect(gwReports.find((x) => x.k === ReportKind.MOVED)).toMatchObject({ oid: gwOrder, to: "s2", sh: 0 });
    const gwImported = gwReports.find((x) => x.k === ReportKind.IMPORTED)!;
    expect(gwImported).toMatchObject({ from: "s1", foid: gwOrder, sh: 1 });
    expect(gwImported.oid).not.toBe(gwOrder);
    await gwTrade.cancel(gwImported.oid);
    await until(() => gwReports.some((x) => x.k === ReportKind.CANCELLED && x.oid === gwImported.oid));
    // By client order id, the gateway sends the cancel to the shard holding the instrument now: the target, where the order went.
    const namedImported = gwReports.find((x) => x.k === ReportKind.IMPORTED && x.foid === gwNamed)!;
    expect(namedImported).toMatchObject({ coid: "gw-named", sh: 1 });
    const seen = gwReports.length;
    await gwTrade.cancel({ clientOrderId: "gw-named" });
    const answer = (): Report | undefined => gwReports.slice(seen).find((x) => x.coid === "gw-named" && (x.k === ReportKind.CANCELLED || x.k === ReportKind.REJECTED));
    await until(() => answer() !== undefined);
    expect(answer()).toMatchObject({ k: ReportKind.CANCELLED, oid: namedImported.oid, sh: 1 });
    await Promise.all([c1.close(), c2.close(), f1.close(), f2.close(), f3.close(), gwTrade.close(), gwFeed.close()]);
  }, 120_000);

  it("(3) refusals: an instrument on no shard, an unknown shard, its own shard, bad flags", async () => {
    const cases: [string[], number, string][] = [
      [["--inst", "99", "--to", "s1"], 1, "INSTRUMENT_NOT_IN_MAP"],
      [["--inst", "1", "--to", "s9"], 1, "UNKNOWN_SHARD"],
      [["--inst", "1", "--to", "s2"], 1, "SAME_SHARD"],
      [["--inst", "x", "--to", "s2"], 2, "--inst must be an integer"],
      [["--to", "s2"], 2, "shards move needs --inst"],
      [["--inst", "1", "--to", "no way"], 2, "--to takes the target shard's id"],
    ];
    for (const [args, code, text] of cases) {
      const r = await move(...args);
      expect(r.code, args.join(" ")).toBe(code);
      expect(r.stderr).toContain(text);
      noStack(r.stderr);
    }
    expect((await fx.store().read())!.map.version).toBe(3);
  });

  it("(4) a mover killed mid-import leaves the source halted and the target importing: --abort undoes that, and running the move again finishes it", async () => {
    const [s1, s2] = groups as [Group, Group];
    const c = await TradingClient.connect(trade(s1), MIDWAY_TRADER);
    const place = async (i: number): Promise<void> => {
      await c.submit({ instrument: 2, side: i % 2 === 0 ? "buy" : "sell", price: i % 2 === 0 ? 9_000 - (i % 60) : 11_000 + (i % 60), quantity: 1 + (i % 4) });
    };
    for (let i = 0; i < 300; i++) await place(i);
    // The movers reach s2's sequencer through a proxy; while one is to be killed, it passes 4,000 bytes/s toward s2, so
    // the import's frames (some 12 KB) take seconds and the kill lands between MOVE_BEGIN and MOVE_END whatever the machine's speed.
    const proxy = proxyTo(trade(s2), 3);
    try {
      const viaProxy = `ws://127.0.0.1:${await proxy.listen()}/trade`;
      await fx.store().write({ version: 4, shards: [entry(s1, [2]), entry(s2, [1, 3], [viaProxy])], pins: {} });
      // s2 shows the import begun, and the mover has written rows (more than a MOVE_BEGIN's bytes) that the proxy still holds:
      // a kill before the mover had the BEGIN's ACK would leave no frame in flight.
      const importingWithRowsQueued = async (): Promise<true | undefined> => ((await exportAt(s2, 2)).mode === "IMPORTING" && proxy.queuedUp > 2_000 ? true : undefined);
      const killedMidImport = async (): Promise<void> => {
        proxy.shape({ up: { bytesPerS: 4_000 } });
        try {
          await killMover(2, "s2", () => within("s2 importing instrument 2, the mover's rows queued in the proxy", 20_000, importingWithRowsQueued));
        } finally {
          proxy.shape({ up: { bytesPerS: 0 } });
        }
        expect((await exportAt(s1, 2)).mode).toBe("HALTED");
      };

      const first = await exportAt(s1, 2);
      await killedMidImport();
      const undo = await move("--inst", "2", "--to", "s2", "--abort", "--json");
      expect(undo.code, undo.stderr).toBe(0);
      expect(lastJson(undo.stdout)).toMatchObject({ outcome: "aborted", from: "s1", to: "s2", hash_before: first.book_hash });
      expect(await exportAt(s1, 2)).toMatchObject({ mode: "ACTIVE", halt_seq: 0, book_hash: first.book_hash });
      expect(await exportAt(s2, 2)).toMatchObject({ mode: "AWAY", orders: [] });
      // s1 trades instrument 2 again, and the map never changed.
      await place(300);
      expect((await exportAt(s1, 2)).orders.length).toBe(first.orders.length + 1);
      expect((await fx.store().read())!.map.version).toBe(4);

      // Killed again; this time what the killed mover had sent and the proxy not yet passed on is held there (as a
      // middlebox may), and delivered once the next run is importing: those rows would join its import but for the
      // claims, and are refused as stale (MOVE_STALE) instead.
      const second = await exportAt(s1, 2);
      const rejectsOf = async (): Promise<Record<string, number>[]> => Promise.all(s2.replicas.map(async (r) => (await statsOf<ReplicaStats>(r)).engine_rejects));
      const rejectsBefore = await rejectsOf();
      proxy.shape({ up: { bytesPerS: 4_000 } });
      let deliverStale = (): void => undefined;
      let done: Awaited<ReturnType<typeof move>>;
      try {
        await killMover(2, "s2", () => within("s2 importing instrument 2, the mover's rows queued in the proxy", 20_000, importingWithRowsQueued));
        deliverStale = proxy.holdOpen();
        const killedClaim = (await exportAt(s2, 2)).move_claim;
        const running = move("--inst", "2", "--to", "s2", "--json");
        await within("s2 importing instrument 2 for the next run", 20_000, async () => {
          const now = await exportAt(s2, 2);
          return now.mode === "IMPORTING" && now.move_claim > killedClaim ? true : undefined;
        });
        deliverStale();
        proxy.shape({ up: { bytesPerS: 0 } });
        done = await running;
      } finally {
        deliverStale();
        proxy.shape({ up: { bytesPerS: 0 } });
      }
      expect(done.code, done.stderr).toBe(0);
      // Meanwhile every replica of s2 refused stale steps of the killed mover, and no row.
      (await rejectsOf()).forEach((now, i) => {
        const was = rejectsBefore[i]!;
        expect((now.MOVE_STALE ?? 0) - (was.MOVE_STALE ?? 0), JSON.stringify(now)).toBeGreaterThan(0);
        expect((now.IMPORT_INVALID ?? 0) - (was.IMPORT_INVALID ?? 0), JSON.stringify(now)).toBe(0);
      });
      expect(lastJson(done.stdout)).toMatchObject({
        outcome: "moved", orders: second.orders.length, hash_before: second.book_hash, hash_after: second.book_hash, hashes_equal: true, map_version_before: 4, map_version: 5,
      });
      expect(await exportAt(s2, 2)).toMatchObject({ mode: "ACTIVE", book_hash: second.book_hash });
      expect((await exportAt(s1, 2)).mode).toBe("AWAY");
      expect((await fx.store().read())!.map.shards.find((x) => x.id === "s2")!.instruments).toEqual([1, 2, 3]);
      for (const g of groups) {
        const last = (await statsOf<SequencerStats>(g.seq)).seq;
        const rs = await drain(g.replicas, last, 20_000);
        expect(rs.map((x) => x.seq), g.id).toEqual([last, last]);
        expect(new Set(rs.map((x: ReplicaStats) => x.hash)).size, g.id).toBe(1);
      }
    } finally {
      await c.close();
      await proxy.close();
    }
  }, 90_000);

  it("(5) a target replica killed with SIGKILL mid-import and started again: the move completes, both of the target's replicas agreeing", async () => {
    const [s1, s2] = groups as [Group, Group];
    // Instrument 2 (on s2 since (4)) goes back to s1, whose replica r2 is killed while the import's frames trickle in.
    const before = await exportAt(s2, 2);
    const proxy = proxyTo(trade(s1), 5);
    // r2 is reached through a proxy of its own, so that the URL the map gives for it (and the mover holds) outlives the process.
    let r2Proxy = proxyTo(String(s1.replicas[1]!.ready.feed), 5);
    try {
      const viaProxy = `ws://127.0.0.1:${await proxy.listen()}/trade`;
      const r2Port = await r2Proxy.listen();
      const s1Entry = { ...entry(s1, [], [viaProxy]), endpoints: { trade: [viaProxy], feed: [String(s1.replicas[0]!.ready.feed), `ws://127.0.0.1:${r2Port}/feed`] } };
      await fx.store().write({ version: 6, shards: [s1Entry, entry(s2, [1, 2, 3])], pins: {} });
      proxy.shape({ up: { bytesPerS: 4_000 } });
      const moving = move("--inst", "2", "--to", "s1", "--json");
      const r2 = s1.replicas[1]!;
      await within("s1's r2 showing instrument 2 importing", 20_000, async () => (((await (await fetch(`http://127.0.0.1:${r2Port}/v1/move/2?orders=0`)).json()) as MoveExportResponse).mode === "IMPORTING" ? true : undefined));
      const exited = once(r2.child, "exit");
      r2.child.kill("SIGKILL");
      await exited;
      // Started again, it recovers from its data and follows the log on from where it was; its proxy now leads to it.
      s1.replicas[1] = await spawnNode("s1-r2", ["replica", "--config", join(s1.dir, "config.json"), "--id", "r2", "--data", s1.dir, "--sequencer", String(s1.seq.ready.replicate), "--port", "0"], join(s1.dir, "logs"));
      await r2Proxy.close();
      r2Proxy = proxyTo(String(s1.replicas[1].ready.feed), 5);
      await r2Proxy.listen(r2Port);
      proxy.shape({ up: { bytesPerS: 0 } });
      const done = await moving;
      expect(done.code, done.stderr).toBe(0);
      expect(lastJson(done.stdout)).toMatchObject({
        outcome: "moved", from: "s2", to: "s1", orders: before.orders.length, hash_before: before.book_hash, hash_after: before.book_hash, hashes_equal: true,
        replicas_agreeing: { from: 2, to: 2 }, map_version_before: 6, map_version: 7,
      });
      const last = (await statsOf<SequencerStats>(s1.seq)).seq;
      const rs = await drain(s1.replicas, last, 20_000);
      expect(rs.map((x) => x.seq)).toEqual([last, last]);
      expect(new Set(rs.map((x: ReplicaStats) => x.hash)).size).toBe(1);
    } finally {
      await Promise.all([proxy.close(), r2Proxy.close()]);
    }
  }, 90_000);

  it("(6) a source replica that is down is left out: the move goes on with the one that answers, not after waiting out replicaWaitMsMax", async () => {
    const [s1, s2] = groups as [Group, Group];
    // The map with direct endpoints again (the last move wrote it with (5)'s proxies, now closed).
    await fx.store().write({ version: 8, shards: [entry(s1, [2]), entry(s2, [1, 3])], pins: {} });
    const before = await exportAt(s1, 2);
    // r1, the replica the mover reads the rows from first, is killed.
    const r1 = s1.replicas[0]!;
    const exited = once(r1.child, "exit");
    r1.child.kill("SIGKILL");
    await exited;
    try {
      const r = await move("--inst", "2", "--to", "s2", "--json");
      expect(r.code, r.stderr).toBe(0);
      const m = lastJson(r.stdout) as unknown as MoveResult;
      expect(m).toMatchObject({ outcome: "moved", from: "s1", to: "s2", orders: before.orders.length, hash_before: before.book_hash, hashes_equal: true, replicas_agreeing: { from: 1, to: 2 }, map_version: 9 });
      // Well under replicaWaitMsMax (10 s), which a dead replica used to cost twice (its rows, then its hash).
      expect(m.ms.export).toBeLessThan(MOVE_LIMITS.othersGraceMs + 2_000);
      expect(m.ms.total).toBeLessThan(MOVE_LIMITS.replicaWaitMsMax / 2);
    } finally {
      s1.replicas[0] = await spawnNode("s1-r1", ["replica", "--config", join(s1.dir, "config.json"), "--id", "r1", "--data", s1.dir, "--sequencer", String(s1.seq.ready.replicate), "--port", "0"], join(s1.dir, "logs"));
    }
    const last = (await statsOf<SequencerStats>(s1.seq)).seq;
    const rs = await drain(s1.replicas, last, 20_000);
    expect(rs.map((x) => x.seq)).toEqual([last, last]);
    expect(new Set(rs.map((x: ReplicaStats) => x.hash)).size).toBe(1);
    expect((await exportAt(s2, 2))).toMatchObject({ mode: "ACTIVE", book_hash: before.book_hash });
  }, 90_000);

  it("(7) the mover's link to the target reset mid-import: a fresh link undoes the import and the source trades again; a second run moves it", async () => {
    const [s1, s2] = groups as [Group, Group];
    const before = await exportAt(s2, 2);
    const proxy = proxyTo(trade(s1), 7);
    try {
      const viaProxy = `ws://127.0.0.1:${await proxy.listen()}/trade`;
      // Current endpoints (s1's r1 was started again in (6), on another port), s1's trade URL through the proxy.
      await fx.store().write({ version: 10, shards: [entry(s1, [], [viaProxy]), entry(s2, [1, 2, 3])], pins: {} });
      proxy.shape({ up: { bytesPerS: 4_000 } });
      const moving = move("--inst", "2", "--to", "s1", "--json");
      await within("s1 showing instrument 2 importing", 20_000, async () => ((await exportAt(s1, 2)).mode === "IMPORTING" ? true : undefined));
      proxy.shape({ up: { bytesPerS: 0 } });
      expect(proxy.reset()).toBeGreaterThan(0);
      const undone = await moving;
      expect(undone.code, undone.stderr).toBe(1);
      expect(lastJson(undone.stdout)).toMatchObject({ error: "STEP_REFUSED", left_as: "undone: the import on s1 was aborted and s2 trades the instrument again" });
      noStack(undone.stderr);
      expect(await exportAt(s1, 2)).toMatchObject({ mode: "AWAY", orders: [] });
      expect(await exportAt(s2, 2)).toMatchObject({ mode: "ACTIVE", halt_seq: 0, book_hash: before.book_hash });
      expect((await fx.store().read())!.map.version).toBe(10);

      const done = await move("--inst", "2", "--to", "s1", "--json");
      expect(done.code, done.stderr).toBe(0);
      expect(lastJson(done.stdout)).toMatchObject({ outcome: "moved", from: "s2", to: "s1", hash_before: before.book_hash, hashes_equal: true, map_version: 11 });
    } finally {
      await proxy.close();
    }
  }, 90_000);

  it("(8) a mover killed after it wrote the map, before it released the source: running the move again releases the source", async () => {
    const [s1, s2] = groups as [Group, Group];
    const before = await exportAt(s1, 2);
    // The mover reaches both sequencers through proxies: s2's slows the import so that s1's can be throttled once s1 is halted,
    // which holds back the release (the last step) until the mover, having written the map, is killed.
    const toSource = proxyTo(trade(s1), 8);
    const toTarget = proxyTo(trade(s2), 9);
    try {
      const [viaS1, viaS2] = [`ws://127.0.0.1:${await toSource.listen()}/trade`, `ws://127.0.0.1:${await toTarget.listen()}/trade`];
      const version = (await fx.store().read())!.map.version + 1;
      await fx.store().write({ version, shards: [entry(s1, [2], [viaS1]), entry(s2, [1, 3], [viaS2])], pins: {} });
      toTarget.shape({ up: { bytesPerS: 4_000 } });
      await killMover(2, "s2", async () => {
        await within("s1 showing instrument 2 halted", 20_000, async () => ((await exportAt(s1, 2)).mode === "HALTED" ? true : undefined));
        toSource.shape({ up: { bytesPerS: 1 } });
        toTarget.shape({ up: { bytesPerS: 0 } });
        await within("the map naming s2 for instrument 2", 20_000, async () => ((await fx.store().read())!.map.version === version + 1 ? true : undefined));
      });
      // The release the mover sent is dropped with its connection, never reaching s1.
      toSource.reset();
      toSource.shape({ up: { bytesPerS: 0 } });
      expect((await exportAt(s1, 2)).mode).toBe("HALTED");
      expect(await exportAt(s2, 2)).toMatchObject({ mode: "ACTIVE", book_hash: before.book_hash });

      const done = await move("--inst", "2", "--to", "s2", "--json");
      expect(done.code, done.stderr).toBe(0);
      expect(lastJson(done.stdout)).toMatchObject({ outcome: "moved", from: "s1", to: "s2", hash_before: before.book_hash, hash_after: before.book_hash, hashes_equal: true, map_version_before: version + 1, map_version: version + 1 });
      await within("s1's replicas applying the release", 20_000, async () => ((await exportAt(s1, 2)).mode === "AWAY" ? true : undefined));
      expect((await exportAt(s1, 2)).orders).toEqual([]);
      // Nothing left to finish: the same move again is refused, and changes nothing.
      const again = await move("--inst", "2", "--to", "s2", "--json");
      expect(again.code).toBe(1);
      expect(lastJson(again.stdout)).toMatchObject({ error: "SAME_SHARD", left_as: "nothing was changed" });
      noStack(again.stderr);
    } finally {
      await Promise.all([toSource.close(), toTarget.close()]);
    }
  }, 90_000);

  it("(9) a mover killed during the export (the source halted, the target untouched): running the move again exports and imports", async () => {
    const [s1, s2] = groups as [Group, Group];
    const before = await exportAt(s2, 2);
    expect(before.mode).toBe("ACTIVE");
    // The mover reads s2's replicas through proxies that pass their answers at 2,000 bytes/s: the export of the book
    // (tens of KB) takes seconds, and the kill lands in it, after the HALT and before anything reaches s1.
    const viaProxies = await Promise.all(s2.replicas.map(async (r, i) => {
      const p = proxyTo(String(r.ready.feed), 20 + i);
      return { p, feed: `ws://127.0.0.1:${await p.listen()}/feed` };
    }));
    try {
      const version = (await fx.store().read())!.map.version + 1;
      await fx.store().write({ version, shards: [entry(s1, []), { ...entry(s2, [1, 2, 3]), endpoints: { trade: [trade(s2)], feed: viaProxies.map((x) => x.feed) } }], pins: {} });
      for (const { p } of viaProxies) p.shape({ down: { bytesPerS: 2_000 } });
      await killMover(2, "s1", () => within("s2 showing instrument 2 halted", 20_000, async () => ((await exportAt(s2, 2)).mode === "HALTED" ? true : undefined)));
      for (const { p } of viaProxies) p.shape({ down: { bytesPerS: 0 } });
      expect(await exportAt(s1, 2)).toMatchObject({ mode: "AWAY", orders: [] });
      expect(await exportAt(s2, 2)).toMatchObject({ mode: "HALTED", book_hash: before.book_hash });

      const done = await move("--inst", "2", "--to", "s1", "--json");
      expect(done.code, done.stderr).toBe(0);
      expect(lastJson(done.stdout)).toMatchObject({ outcome: "moved", from: "s2", to: "s1", orders: before.orders.length, hash_before: before.book_hash, hash_after: before.book_hash, hashes_equal: true, map_version: version + 1 });
      expect(await exportAt(s1, 2)).toMatchObject({ mode: "ACTIVE", book_hash: before.book_hash });
      await within("s2's replicas applying the release", 20_000, async () => ((await exportAt(s2, 2)).mode === "AWAY" ? true : undefined));
    } finally {
      await Promise.all(viaProxies.map(({ p }) => p.close()));
    }
  }, 90_000);

  it("(10) a later claim supersedes a run mid-import: that run stops (SUPERSEDED) undoing nothing, its steps refused as stale; the next run finishes the move", async () => {
    const [s1, s2] = groups as [Group, Group];
    const before = await exportAt(s1, 2);
    expect(before.mode).toBe("ACTIVE");
    const proxy = proxyTo(trade(s2), 10);
    const op = await TradingClient.connect(trade(s2), OPERATOR);
    try {
      const version = (await fx.store().read())!.map.version + 1;
      await fx.store().write({ version, shards: [entry(s1, [2]), entry(s2, [1, 3], [`ws://127.0.0.1:${await proxy.listen()}/trade`])], pins: {} });
      proxy.shape({ up: { bytesPerS: 4_000 } });
      const first = move("--inst", "2", "--to", "s2", "--json");
      await within("s2 showing instrument 2 importing", 20_000, async () => ((await exportAt(s2, 2)).mode === "IMPORTING" ? true : undefined));
      // Another operator's run claims instrument 2 on s2 over the running one's claim (the claim alone, as a run's first step).
      const claim = await op.moveStep({ t: MsgType.MOVE_CLAIM, inst: 2, mc: (await exportAt(s2, 2)).move_claim });
      proxy.shape({ up: { bytesPerS: 0 } });
      const stopped = await first;
      expect(stopped.code, stopped.stdout).toBe(1);
      expect(lastJson(stopped.stdout)).toMatchObject({ error: "SUPERSEDED", left_as: expect.stringMatching(/^left to the later run/) });
      noStack(stopped.stderr);
      // Nothing was undone (its undo steps would be refused as stale): s1 halted, s2 importing under the later claim.
      expect(await exportAt(s1, 2)).toMatchObject({ mode: "HALTED", book_hash: before.book_hash });
      expect(await exportAt(s2, 2)).toMatchObject({ mode: "IMPORTING", move_claim: claim.seq });
      expect((await fx.store().read())!.map.version).toBe(version);

      const done = await move("--inst", "2", "--to", "s2", "--json");
      expect(done.code, done.stderr).toBe(0);
      expect(lastJson(done.stdout)).toMatchObject({ outcome: "moved", from: "s1", to: "s2", orders: before.orders.length, hash_before: before.book_hash, hash_after: before.book_hash, hashes_equal: true, map_version: version + 1 });
      expect((await exportAt(s2, 2)).move_claim).toBeGreaterThan(claim.seq);
      await within("s1's replicas applying the release", 20_000, async () => ((await exportAt(s1, 2)).mode === "AWAY" ? true : undefined));
    } finally {
      await op.close();
      await proxy.close();
    }
  }, 90_000);

  it("(11) a mover that died with its HALT still in a proxy: --abort claims the instrument, so the HALT delivered after it is refused as stale and the instrument trades on", async () => {
    const [s1, s2] = groups as [Group, Group];
    // Instrument 2 is on s2 since (10). A mover (an operator connection) claims it there and sends the HALT into a
    // proxy that holds it, then dies.
    const proxy = proxyTo(trade(s2), 11);
    const trader = await TradingClient.connect(trade(s2), MIDWAY_TRADER);
    try {
      const viaProxy = `ws://127.0.0.1:${await proxy.listen()}/trade`;
      const version = (await fx.store().read())!.map.version + 1;
      await fx.store().write({ version, shards: [entry(s1, []), entry(s2, [1, 2, 3], [viaProxy])], pins: {} });
      const dying = await TradingClient.connect(viaProxy, OPERATOR);
      const claim = await dying.moveStep({ t: MsgType.MOVE_CLAIM, inst: 2, mc: (await exportAt(s2, 2)).move_claim });
      const stale = (): Promise<number[]> => staleCounts(s2);
      const staleBefore = await stale();
      const letGo = proxy.holdOpen();
      try {
        void dying.moveStep({ t: MsgType.MOVE_HALT, inst: 2, mc: claim.seq }).catch(() => undefined);
        // Dead once the proxy holds the HALT (a socket destroyed sooner may never have written it).
        await within("the HALT held in the proxy", 10_000, async () => (proxy.queuedUp > 0 ? true : undefined));
        dying.terminate();
        expect((await exportAt(s2, 2)).mode).toBe("ACTIVE");
        const undo = await move("--inst", "2", "--to", "s1", "--abort", "--json");
        expect(undo.code, undo.stderr).toBe(0);
        expect(lastJson(undo.stdout)).toMatchObject({ outcome: "aborted", from: "s2", to: "s1" });
        expect((await exportAt(s2, 2)).move_claim).toBeGreaterThan(claim.seq);
      } finally {
        letGo();
      }
      // The HALT reaches s2 now, and is refused: each replica counts one MOVE_STALE more than before it, and the book still trades.
      await within("s2's replicas refusing the late HALT", 20_000, async () => ((await stale()).every((n, i) => n === staleBefore[i]! + 1) ? true : undefined));
      expect(await exportAt(s2, 2)).toMatchObject({ mode: "ACTIVE", halt_seq: 0 });
      const reports: Report[] = [];
      const feed = new FeedClient({ urls: feeds(s2), account: MIDWAY_TRADER, onReport: (x) => reports.push(x) });
      await feed.connect();
      try {
        const ack = await trader.submit({ instrument: 2, side: "buy", price: 8_000, quantity: 1 });
        await until(() => reports.some((r) => r.oid === ack.oid));
        expect(reports.filter((r) => r.oid === ack.oid).map((r) => r.k)).toEqual([ReportKind.ACCEPTED]);
      } finally {
        await feed.close();
      }
    } finally {
      await trader.close();
      await proxy.close();
    }
  }, 90_000);

  it("(12) a dead mover's MOVE_CLAIM delivered during a later run is refused (it names a claim that is no longer the latest): the run goes on and moves the instrument", async () => {
    const [s1, s2] = groups as [Group, Group];
    // Instrument 2 trades on s2 since (10). A mover connects to s1 through a proxy, which holds its MOVE_CLAIM
    // (made over the claim it read, as a mover's is), and dies. The next run reaches s1 through another proxy,
    // slowed so that the held claim lands on s1 mid-import.
    const held = proxyTo(trade(s1), 12);
    const slow = proxyTo(trade(s1), 13);
    try {
      const version = (await fx.store().read())!.map.version + 1;
      await fx.store().write({ version, shards: [entry(s1, [], [`ws://127.0.0.1:${await slow.listen()}/trade`]), entry(s2, [1, 2, 3])], pins: {} });
      const before = await exportAt(s2, 2);
      expect(before.mode).toBe("ACTIVE");
      const dying = await TradingClient.connect(`ws://127.0.0.1:${await held.listen()}/trade`, OPERATOR);
      const over = (await exportAt(s1, 2)).move_claim;
      const letGo = held.holdOpen();
      try {
        void dying.moveStep({ t: MsgType.MOVE_CLAIM, inst: 2, mc: over }).catch(() => undefined);
        await within("the MOVE_CLAIM held in the proxy", 10_000, async () => (held.queuedUp > 0 ? true : undefined));
        dying.terminate();
        slow.shape({ up: { bytesPerS: 4_000 } });
        const run = move("--inst", "2", "--to", "s1", "--json");
        await within("s1 showing instrument 2 importing", 20_000, async () => ((await exportAt(s1, 2)).mode === "IMPORTING" ? true : undefined));
        const mine = (await exportAt(s1, 2)).move_claim;
        expect(mine).toBeGreaterThan(over);
        const staleBefore = await staleCounts(s1);
        letGo();
        // The late claim is sequenced on s1 and refused there: one MOVE_STALE more on each replica, the run's claim still the latest.
        await within("s1's replicas refusing the late claim", 20_000, async () => ((await staleCounts(s1)).every((n, i) => n === staleBefore[i]! + 1) ? true : undefined));
        expect((await exportAt(s1, 2)).move_claim).toBe(mine);
        slow.shape({ up: { bytesPerS: 0 } });
        const done = await run;
        expect(done.code, done.stdout + done.stderr).toBe(0);
        expect(lastJson(done.stdout)).toMatchObject({ outcome: "moved", from: "s2", to: "s1", hash_before: before.book_hash, hash_after: before.book_hash, hashes_equal: true, map_version: version + 1 });
      } finally {
        letGo();
      }
      await within("s2's replicas applying the release", 20_000, async () => ((await exportAt(s2, 2)).mode === "AWAY" ? true : undefined));
      expect(await exportAt(s1, 2)).toMatchObject({ mode: "ACTIVE", book_hash: before.book_hash });
    } finally {
      await held.close();
      await slow.close();
    }
  }, 90_000);

  it("(13) two runs of the same move started together: never live on both shards; one moves it, or both stop at their claims having changed nothing and a third run moves it", async () => {
    const [s1, s2] = groups as [Group, Group];
    // Instrument 2 trades on s1 since (12).
    const version = (await fx.store().read())!.map.version + 1;
    await fx.store().write({ version, shards: [entry(s1, [2]), entry(s2, [1, 3])], pins: {} });
    const before = await exportAt(s1, 2);
    expect(before.mode).toBe("ACTIVE");
    const runs = await Promise.all([move("--inst", "2", "--to", "s2", "--json"), move("--inst", "2", "--to", "s2", "--json")]);
    const ends = runs.map((r) => {
      noStack(r.stderr);
      const j = lastJson(r.stdout);
      return r.code === 0 ? String(j.outcome) : String(j.error);
    });
    // Whichever ran second stopped because the other claimed (SUPERSEDED), found the move done (SAME_SHARD), or lost the map's compare-and-swap.
    for (const e of ends) expect(["moved", "SUPERSEDED", "SAME_SHARD", "MAP_WRITE_FAILED"], `${ends.join(", ")}: ${runs.map((r) => `exit ${r.code}: ${r.stdout.slice(-600)} ${r.stderr.slice(-600)}`).join(" / ")}`).toContain(e);
    if (!ends.includes("moved")) {
      expect(ends).toEqual(["SUPERSEDED", "SUPERSEDED"]);
      expect(runs.map((r) => lastJson(r.stdout).left_as)).toEqual(expect.arrayContaining([expect.stringMatching(/left to the/)]));
      expect(await exportAt(s1, 2)).toMatchObject({ mode: "ACTIVE", book_hash: before.book_hash });
      const third = await move("--inst", "2", "--to", "s2", "--json");
      expect(third.code, third.stdout + third.stderr).toBe(0);
    }
    await within("s1's replicas applying the release", 20_000, async () => ((await exportAt(s1, 2)).mode === "AWAY" ? true : undefined));
    expect(await exportAt(s2, 2)).toMatchObject({ mode: "ACTIVE", book_hash: before.book_hash });
    const map = (await fx.store().read())!.map;
    expect(map.shards.find((sh) => sh.id === "s2")!.instruments).toContain(2);
    expect(map.shards.find((sh) => sh.id === "s1")!.instruments).not.toContain(2);
  }, 90_000);

  it("(14) a run that read the map before another run finished the same move (the source released, the target trading): it writes the map and reports the move checked, exit 0", async () => {
    const [s1, s2] = groups as [Group, Group];
    // After (13): instrument 2 is AWAY on s1 and ACTIVE on s2. A map naming s1 again is what a
    // run that read the map before the other run wrote it goes on from.
    const traded = await exportAt(s2, 2);
    expect([(await exportAt(s1, 2)).mode, traded.mode]).toEqual(["AWAY", "ACTIVE"]);
    const version = (await fx.store().read())!.map.version + 1;
    await fx.store().write({ version, shards: [entry(s1, [2]), entry(s2, [1, 3])], pins: {} });
    const r = await move("--inst", "2", "--to", "s2", "--json");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ outcome: "moved", from: "s1", to: "s2", hash_before: "", hash_after: traded.book_hash, hashes_equal: true, import_seqs: [0, 0], map_version: version + 1 });
    const map = (await fx.store().read())!.map;
    expect(map.shards.find((sh) => sh.id === "s2")!.instruments).toContain(2);
    expect(map.shards.find((sh) => sh.id === "s1")!.instruments).not.toContain(2);
    expect(await exportAt(s2, 2)).toMatchObject({ mode: "ACTIVE", book_hash: traded.book_hash });
    // The same, in words.
    await fx.store().write({ version: version + 2, shards: [entry(s1, [2]), entry(s2, [1, 3])], pins: {} });
    const text = await move("--inst", "2", "--to", "s2");
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toContain("an earlier run imported the book (s2 trades it, so its engine found the import equal to the halted book); s1's book is released");
    expect(text.stdout).not.toContain("DIFFERENT");
  }, 60_000);
});

/** Waits for a condition fed by incoming reports, re-checking every 10 ms; bounded. */
async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Limit orders on one instrument at FLOW_RATE_PER_S until `stop` (or FLOW_MS_MAX); the time of each ack, and refusals. */
async function flow(url: string, instrument: number, stop: () => boolean): Promise<{ acked: number; refused: number; ackedAt: number[]; lastSeq: number }> {
  const c = await TradingClient.connect(url, TRADER + instrument);
  const out = { acked: 0, refused: 0, ackedAt: [] as number[], lastSeq: 0 };
  const end = performance.now() + FLOW_MS_MAX;
  for (let i = 0; !stop() && performance.now() < end; i++) {
    try {
      out.lastSeq = (await c.submit({ instrument, side: i % 2 === 0 ? "buy" : "sell", price: 10_000 + (i % 7) - 3, quantity: 1 })).seq;
      out.acked++;
      out.ackedAt.push(performance.now());
    } catch {
      out.refused++;
    }
    await new Promise((r) => setTimeout(r, 1000 / FLOW_RATE_PER_S));
  }
  await c.close();
  return out;
}
