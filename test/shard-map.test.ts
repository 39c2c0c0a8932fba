/**
 * The shard map (src/shard/map.ts) and its place in etcd (src/shard/store.ts): a map that breaks
 * a rule is refused with the rule it breaks; in a real etcd (a child process on loopback) the
 * first map is written once, every change bumps the version by one through a compare-and-swap
 * so a stale or racing writer is told so, a watch delivers each change, and a corrupt value is
 * refused with a reason, by read, write and watch alike, without a crash.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findEtcd, startEtcd, type EtcdProcess } from "../src/cluster/etcd.js";
import { ConfigSchema } from "../src/config/config.js";
import { encodeShardMap, firstShardMap, offRule, parseShardMap, placementOf, SHARD_MAP_BYTES_MAX, SHARD_MAP_KEY, ShardMapError, validateShardMap, withPin, withWeight, type ShardMap, type ShardSpec } from "../src/shard/map.js";
import { placement, plan } from "../src/shard/rendezvous.js";
import { ShardMapStore, type StoredShardMap } from "../src/shard/store.js";

const etcd = findEtcd();
if ("missing" in etcd) console.warn(`shard map etcd tests skipped: ${etcd.missing}`);

const spec = (id: string, weight = 1): ShardSpec => ({ id, weight, endpoints: { trade: [`ws://127.0.0.1:7001/${id}/trade`], feed: [`ws://127.0.0.1:7101/${id}/feed`] } });
const INSTRUMENTS = Array.from({ length: 100 }, (_, i) => i + 1);
const first = (): ShardMap => firstShardMap([spec("a"), spec("b", 2)], { 7: "a" }, INSTRUMENTS);

/** The problem code of what `f` throws (or rejects with), and its message. */
async function problem(f: () => unknown): Promise<[string, string]> {
  try {
    await f();
  } catch (err) {
    if (err instanceof ShardMapError) return [err.problem, err.message];
    throw err;
  }
  throw new Error("expected a ShardMapError");
}

describe("shard map document", () => {
  it("the first map places every instrument by the rule, pins included, and round-trips through its text", () => {
    const m = first();
    expect(m.version).toBe(1);
    expect(placementOf(m)).toEqual(placement(INSTRUMENTS, [{ id: "a" }, { id: "b", weight: 2 }], new Map([[7, "a"]])));
    expect(placementOf(m).get(7)).toBe("a");
    expect(offRule(m)).toEqual([]);
    expect(parseShardMap(encodeShardMap(m), "x")).toEqual(m);
  });

  it("refuses, with the rule broken, an instrument on two shards, a pin to an unknown shard or instrument, a duplicate id, a bad URL or weight", async () => {
    const m = first();
    const [a, b] = m.shards as [ShardMap["shards"][0], ShardMap["shards"][0]];
    const bad: [unknown, RegExp][] = [
      [{ ...m, shards: [a, { ...b, instruments: [...b.instruments, a.instruments[0]!] }] }, /instrument \d+ is on shard "a" and on shard "b"/],
      [{ ...m, pins: { 7: "z" } }, /pins\.7: pinned to shard "z", which is not in the map/],
      [{ ...m, pins: { 1000: "a" } }, /instrument 1000 is pinned but not on any shard/],
      [{ ...m, shards: [a, { ...b, id: "a" }] }, /shard id "a" is used twice/],
      [{ ...m, shards: [{ ...a, endpoints: { trade: ["http://x/trade"], feed: a.endpoints.feed } }, b] }, /shards\.0\.endpoints\.trade\.0: must be a ws:\/\/ or wss:\/\/ URL/],
      [{ ...m, shards: [{ ...a, weight: 17 }, b] }, /shards\.0\.weight/],
      [{ ...m, version: 0 }, /version/],
      [{ ...m, extra: 1 }, /Unrecognized key/],
    ];
    for (const [value, reason] of bad) {
      const [code, message] = await problem(() => validateShardMap(value, "the test map"));
      expect(code).toBe("INVALID");
      expect(message).toMatch(/^the test map is not a valid shard map: /);
      expect(message).toMatch(reason);
    }
    expect(await problem(() => parseShardMap("{not json", "k"))).toEqual(["NOT_JSON", expect.stringMatching(/^k is not JSON \(/)]);
    expect(await problem(() => parseShardMap(" ".repeat(SHARD_MAP_BYTES_MAX + 1), "k"))).toEqual(["TOO_LARGE", `k holds ${SHARD_MAP_BYTES_MAX + 1} bytes; a shard map is at most ${SHARD_MAP_BYTES_MAX} bytes`]);
  });
});

describe("a weight or a pin changed", () => {
  it("is the next version, placing every instrument where it was; the rule's moves for the new weights and pins are what is off the rule", async () => {
    const m = first();
    const heavier = withWeight(m, "a", 3);
    expect([heavier.version, heavier.shards.map((s) => s.weight)]).toEqual([2, [3, 2]]);
    expect(placementOf(heavier)).toEqual(placementOf(m));
    const toA = plan(placementOf(m), placement(INSTRUMENTS, [{ id: "a", weight: 3 }, { id: "b", weight: 2 }], new Map([[7, "a"]])));
    expect(toA.length).toBeGreaterThan(0);
    expect(toA.every((x) => x.from === "b" && x.to === "a")).toBe(true);
    expect(offRule(heavier)).toEqual(toA);

    const onA = INSTRUMENTS.find((i) => i !== 7 && placementOf(m).get(i) === "a")!;
    const pinned = withPin(m, onA, "b");
    expect([pinned.version, pinned.pins]).toEqual([2, { 7: "a", [onA]: "b" }]);
    expect(offRule(pinned)).toEqual([{ instrument: onA, from: "a", to: "b" }]);
    const unpinned = withPin(withPin(m, 7, undefined), 7, undefined);
    expect([unpinned.version, unpinned.pins]).toEqual([3, {}]);
    expect(placementOf(unpinned)).toEqual(placementOf(m));
    expect(offRule(unpinned)).toEqual(plan(placementOf(m), placement(INSTRUMENTS, [{ id: "a" }, { id: "b", weight: 2 }])));

    expect(await problem(() => withWeight(m, "z", 2))).toEqual(["INVALID", 'shard "z" is not in the map (version 1; shards: a, b)']);
    expect((await problem(() => withWeight(m, "a", 17)))[1]).toMatch(/^the map with shard a's weight 17 is not a valid shard map: shards\.0\.weight/);
    expect(await problem(() => withPin(m, 1000, "a"))).toEqual(["INVALID", "instrument 1000 is not on any shard of the map (version 1)"]);
    expect(await problem(() => withPin(m, 1, "z"))).toEqual(["INVALID", 'shard "z" is not in the map (version 1; shards: a, b)']);
    expect(m).toEqual(first());
  });
});

describe("the configuration's sharding section", () => {
  const local = JSON.parse(readFileSync(join(import.meta.dirname, "..", "config", "local.json"), "utf8")) as Record<string, unknown>;
  const issues = (sharding: unknown): string[] => {
    const r = ConfigSchema.safeParse({ ...local, sharding });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("is optional, takes shards with a default weight of 1, and refuses a duplicate shard, a pin to an unknown shard or instrument", () => {
    expect(ConfigSchema.parse(local).sharding).toBeUndefined();
    expect(ConfigSchema.parse({ ...local, sharding: { shards: [{ id: "a", endpoints: spec("a").endpoints }] } }).sharding).toEqual({ shards: [spec("a")], pins: {} });
    expect(issues({ shards: [spec("a"), spec("a")], pins: { 1: "z", 99: "a" } })).toEqual([
      'sharding.shards.1.id: shard id "a" is used twice', 'sharding.pins.1: shard "z" is not listed in sharding.shards', "sharding.pins.99: no instrument 99",
    ]);
  });
});

describe.skipIf("missing" in etcd)("shard map in etcd", () => {
  let server: EtcdProcess;
  let raw: Etcd3;
  const dir = mkdtempSync(join(tmpdir(), "lockstep-shardmap-"));
  const stores: ShardMapStore[] = [];
  let keyN = 0;
  /** A store on a key of its own, so tests do not share a map. */
  const store = (key = `${SHARD_MAP_KEY}-test-${++keyN}`): ShardMapStore => {
    const s = new ShardMapStore([server.url], key);
    stores.push(s);
    return s;
  };
  const keyOf = (s: ShardMapStore): string => (s as unknown as { key: string }).key;

  beforeAll(async () => {
    server = await startEtcd(dir, join(dir, "logs"));
    raw = new Etcd3({ hosts: [server.url] });
  }, 30_000);
  afterAll(async () => {
    for (const s of stores) s.close();
    raw?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes the first map once; each change is one version more; a stale or racing writer is refused and told the current version", async () => {
    const s = store();
    expect(await s.read()).toBeNull();
    expect(await problem(() => s.readOrFail())).toEqual(["MISSING", expect.stringContaining("write the first with `lockstep shards init`")]);
    expect(await problem(() => s.write({ ...first(), version: 2 }))).toEqual(["STALE", "version 2 was written against version 1, but etcd has no shard map"]);
    await s.write(first());
    expect((await s.readOrFail()).map).toEqual(first());
    expect(await problem(() => s.write(first()))).toEqual(["EXISTS", "a shard map already exists in etcd (version 1); change it rather than writing a first one"]);

    const v2 = firstShardMap([spec("a"), spec("b", 2), spec("c")], {}, INSTRUMENTS);
    await s.write({ ...v2, version: 2 });
    expect((await s.readOrFail()).map.version).toBe(2);
    const [code, message] = await problem(() => s.write({ ...v2, version: 2 }));
    expect(code).toBe("STALE");
    expect(message).toBe("stale shard map: version 2 was made from version 1, but etcd now has version 2; read the map again and redo the change");

    // Two writers both read version 2 and race to write version 3: exactly one wins.
    const results = await Promise.allSettled([s.write({ ...v2, version: 3 }), store(keyOf(s)).write({ ...first(), version: 3 })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(ShardMapError);
    expect((lost.reason as ShardMapError).problem).toBe("STALE");
    expect((await s.readOrFail()).map.version).toBe(3);
  });

  it("a watch delivers each change, and for a corrupt value or a deleted key an error with the reason; it goes on watching", async () => {
    const s = store();
    await s.write(first());
    const { rev } = await s.readOrFail();
    const seen: (StoredShardMap | ShardMapError)[] = [];
    const stop = await s.watch((m) => seen.push(m), (e) => seen.push(e), rev);
    const v2 = { ...firstShardMap([spec("a"), spec("b", 2), spec("c")], {}, INSTRUMENTS), version: 2 };
    await s.write(v2);
    await raw.put(keyOf(s)).value("{\"version\": 3, \"shards\": [");
    await raw.put(keyOf(s)).value(JSON.stringify({ ...v2, version: 3, shards: [] }));
    await raw.delete().key(keyOf(s));
    for (let i = 0; i < 100 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    await stop();
    expect(seen).toHaveLength(4);
    expect((seen[0] as StoredShardMap).map).toEqual(v2);
    expect(seen.slice(1).map((e) => (e as ShardMapError).problem)).toEqual(["NOT_JSON", "INVALID", "DELETED"]);
    expect((seen[1] as ShardMapError).message).toMatch(new RegExp(`^etcd key ${keyOf(s)} is not JSON \\(`));
    expect((seen[2] as ShardMapError).message).toMatch(/is not a valid shard map: shards: Array must contain at least 1 element/);
  });

  it("a corrupt map in etcd is refused by read and by write, with the reason", async () => {
    const s = store();
    await raw.put(keyOf(s)).value("not json");
    expect(await problem(() => s.read())).toEqual(["NOT_JSON", expect.stringMatching(new RegExp(`^etcd key ${keyOf(s)} is not JSON`))]);
    expect((await problem(() => s.write({ ...first(), version: 2 })))[0]).toBe("NOT_JSON");
    await raw.put(keyOf(s)).value(JSON.stringify({ version: 1, shards: [{ id: "a" }] }));
    const [code, message] = await problem(() => s.read());
    expect(code).toBe("INVALID");
    expect(message).toMatch(/shards\.0\.endpoints: Required; shards\.0\.instruments: Required$/);
  });

  it("an etcd that does not answer is one error naming it", async () => {
    const s = new ShardMapStore(["http://127.0.0.1:1"]);
    stores.push(s);
    const [code, message] = await problem(() => s.read());
    expect(code).toBe("ETCD");
    expect(message).toMatch(/^cannot read the shard map in etcd at http:\/\/127\.0\.0\.1:1: /);
  }, 20_000);
});
