/**
 * `lockstep shards add` and `lockstep shards rebalance` between two real groups (a sequencer and
 * two replicas each, as processes) sharing an etcd: s1 holds instruments 1-3, s2 is added to
 * the map holding none, and the rebalance moves live every instrument the rule now puts on s2
 * (with s1 and s2 of weight 1 the rule puts all three there), each book arriving with the hash it
 * left with; a second rebalance finds nothing to do; draining s2 moves them back and drops it.
 * And the refusals: an id already in the map, a URL that is not ws://, missing flags, draining
 * a shard not in the map or the only one.
 */
import { describe, expect, it } from "vitest";
import { TradingClient } from "../src/client/trading.js";
import { findEtcd } from "../src/cluster/etcd.js";
import { offRule } from "../src/shard/map.js";
import type { RebalanceResult } from "../src/shard/rebalance.js";
import type { MoveGroup } from "../src/tools/move-groups.js";
import { lastJson, lockstep, noStack } from "./lockstep-cli.js";
import { useMoveGroups } from "./move-fixture.js";

const OPERATOR = 9000;
const TRADER = 7;

const etcd = findEtcd();
describe.skipIf("missing" in etcd)("lockstep shards add, rebalance and drain", () => {
  const fx = useMoveGroups("lockstep-rebalance-", [[], [1, 2, 3]], OPERATOR);
  const { groups } = fx;
  const trade = (g: MoveGroup): string => String(g.seq.ready.trade);
  const feeds = (g: MoveGroup): string => g.replicas.map((r) => String(r.ready.feed)).join(",");
  const shards = (...args: string[]): ReturnType<typeof lockstep> => lockstep("shards", ...args.slice(0, 1), "--etcd", fx.etcdUrl(), ...args.slice(1));

  it("adds s2 holding nothing, then moves every instrument the rule gives it, hashes equal; a second rebalance moves nothing; draining s2 moves them back and drops it", async () => {
    const [s1, s2] = groups as [MoveGroup, MoveGroup];
    await fx.store().write({ version: 1, shards: [{ id: "s1", weight: 1, endpoints: { trade: [trade(s1)], feed: feeds(s1).split(",") }, instruments: [1, 2, 3] }], pins: {} });
    const c = await TradingClient.connect(trade(s1), TRADER);
    for (const inst of [1, 2, 3]) {
      for (let k = 0; k < 5; k++) await c.submit({ instrument: inst, side: k % 2 === 0 ? "buy" : "sell", price: k % 2 === 0 ? 9_000 - k : 11_000 + k, quantity: 1 + k });
    }
    await c.close();

    const added = await shards("add", "--id", "s2", "--trade", trade(s2), "--feed", feeds(s2), "--json");
    expect(added.code, added.stderr).toBe(0);
    expect(lastJson(added.stdout)).toMatchObject({ version: 2, added: "s2", weight: 1, off_rule: 3 });
    const v2 = (await fx.store().readOrFail()).map;
    expect(v2.shards.map((s) => [s.id, s.instruments])).toEqual([["s1", [1, 2, 3]], ["s2", []]]);
    expect(offRule(v2).map((m) => [m.instrument, m.to])).toEqual([[1, "s2"], [2, "s2"], [3, "s2"]]);

    const run = await shards("rebalance", "--account", String(OPERATOR), "--json");
    expect(run.code, run.stderr).toBe(0);
    const r = lastJson(run.stdout) as unknown as RebalanceResult;
    expect(r.map_version_before).toBe(2);
    expect(r.moved.map((m) => [m.instrument, m.from, m.to, m.orders, m.hashes_equal])).toEqual([[1, "s1", "s2", 5, true], [2, "s1", "s2", 5, true], [3, "s1", "s2", 5, true]]);
    expect(r.map_version).toBe(5);
    const v5 = (await fx.store().readOrFail()).map;
    expect(v5.version).toBe(5);
    expect(v5.shards.map((s) => [s.id, s.instruments])).toEqual([["s1", []], ["s2", [1, 2, 3]]]);
    expect(offRule(v5)).toEqual([]);

    const again = await shards("rebalance", "--account", String(OPERATOR));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/every instrument is where the rule puts it; nothing to move/);
    expect(again.stdout).toMatch(/0 instruments moved/);

    // And back: draining s2 moves its three instruments to the rule over s1 alone, then drops s2.
    const drain = await shards("drain", "--id", "s2", "--account", String(OPERATOR), "--json");
    expect(drain.code, drain.stderr).toBe(0);
    const d = lastJson(drain.stdout) as unknown as RebalanceResult;
    expect(d.moved.map((m) => [m.instrument, m.from, m.to, m.orders, m.hashes_equal])).toEqual([[1, "s2", "s1", 5, true], [2, "s2", "s1", 5, true], [3, "s2", "s1", 5, true]]);
    expect(d.removed).toBe("s2");
    expect(d.map_version).toBe(9);
    const v9 = (await fx.store().readOrFail()).map;
    expect(v9.shards.map((s) => [s.id, s.instruments])).toEqual([["s1", [1, 2, 3]]]);
    const only = await shards("drain", "--id", "s1", "--account", String(OPERATOR));
    expect(only.code).toBe(1);
    expect(only.stderr).toMatch(/shard "s1" is the only shard/);
  }, 90_000);

  it("refuses an id the map has, a URL that is not ws://, missing flags, a shard to drain not in the map, each in one line", async () => {
    const cases: [string[], number, RegExp][] = [
      [["add", "--id", "s1", "--trade", "ws://127.0.0.1:1/trade", "--feed", "ws://127.0.0.1:2/feed"], 1, /shard "s1" is already in the map/],
      [["add", "--id", "s9", "--trade", "http://127.0.0.1:1/trade", "--feed", "ws://127.0.0.1:2/feed"], 2, /endpoints\.trade\.0: must be a ws:\/\/ or wss:\/\/ URL/],
      [["add", "--id", "s9", "--feed", "ws://127.0.0.1:2/feed"], 2, /shards add needs --trade/],
      [["add", "--id", "bad id", "--trade", "ws://127.0.0.1:1/trade", "--feed", "ws://127.0.0.1:2/feed"], 2, /id: a shard id is 1-32 ASCII/],
      [["rebalance"], 2, /shards rebalance needs --account A/],
      [["rebalance", "--account", "9000", "--key", "k"], 2, /--key and --secret-env go together/],
      [["drain", "--account", "9000"], 2, /shards drain needs --id S/],
      [["drain", "--id", "s7", "--account", "9000"], 1, /shard "s7" is not in the map/],
    ];
    for (const [args, code, msg] of cases) {
      const r = await shards(...args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      noStack(r.stderr);
    }
  }, 60_000);
});
