/**
 * `lockstep shards` as a user runs it (the built bin/lockstep.js), against a private etcd: init
 * writes the first map from a configuration's sharding section, once; show prints it; plan
 * prints exactly the moves the rule gives (only to an added shard, only from a removed one) and
 * the share moved, as text and as one JSON object; weight, pin and unpin write the next version
 * and move nothing; mistakes in flags, in the request and in
 * what etcd holds are one line with the reason, exit 2 or 1, never a stack trace.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findEtcd, startEtcd, type EtcdProcess } from "../src/cluster/etcd.js";
import { SHARD_MAP_KEY } from "../src/shard/map.js";
import { placement, plan } from "../src/shard/rendezvous.js";
import { lastJson, lockstep, noStack } from "./lockstep-cli.js";

const etcd = findEtcd();
if ("missing" in etcd) console.warn(`shards CLI tests skipped: ${etcd.missing}`);

const INSTRUMENTS = Array.from({ length: 300 }, (_, i) => i + 1);
const SHARDS = [{ id: "a", weight: 1 }, { id: "b", weight: 2 }, { id: "c", weight: 1 }];
const PINS = new Map([[5, "a"], [6, "a"]]);
const endpoints = (id: string): { trade: string[]; feed: string[] } => ({ trade: [`ws://127.0.0.1:7001/${id}/trade`], feed: [`ws://127.0.0.1:7101/${id}/feed`] });

describe.skipIf("missing" in etcd)("lockstep shards", () => {
  let server: EtcdProcess;
  const dir = mkdtempSync(join(tmpdir(), "lockstep-shards-cli-"));
  const config = join(dir, "sharded.json");

  beforeAll(async () => {
    server = await startEtcd(dir, join(dir, "logs"));
    const cfg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "config", "local.json"), "utf8")) as { instruments: Record<string, unknown>[]; sharding?: unknown };
    const template = cfg.instruments[0]!;
    cfg.instruments = INSTRUMENTS.map((id) => ({ ...template, id, symbol: `I${id}` }));
    cfg.sharding = { shards: SHARDS.map((s) => ({ ...s, endpoints: endpoints(s.id) })), pins: Object.fromEntries(PINS) };
    writeFileSync(config, JSON.stringify(cfg));
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const shards = (...args: string[]): ReturnType<typeof lockstep> => lockstep("shards", ...args, "--etcd", server.url);

  it("init writes the first map once; show prints it", async () => {
    const none = await shards("show");
    expect([none.code, none.stderr]).toEqual([1, `lockstep: there is no shard map in etcd at ${server.url} (etcd key ${SHARD_MAP_KEY}); write the first with \`lockstep shards init\`\n`]);
    const first = await shards("init", "--config", config);
    expect(first.code).toBe(0);
    const expected = placement(INSTRUMENTS, SHARDS, PINS);
    const count = (id: string): number => [...expected.values()].filter((s) => s === id).length;
    expect(first.stdout).toBe(`wrote the first shard map (version 1) to etcd at ${server.url} (key ${SHARD_MAP_KEY}): a ${count("a")}, b ${count("b")}, c ${count("c")} instruments\n`);
    const again = await shards("init", "--config", config);
    expect([again.code, again.stderr]).toEqual([1, "lockstep: a shard map already exists in etcd (version 1); change it rather than writing a first one\n"]);

    const shown = await shards("show");
    expect(shown.code).toBe(0);
    const lines = shown.stdout.trim().split("\n");
    expect(lines[0]).toBe(`shard map version 1 in etcd at ${server.url} (key ${SHARD_MAP_KEY}): 3 shards, 300 instruments, 2 pins`);
    expect(lines[2]).toMatch(new RegExp(`^a\\s+1\\s+${count("a")}\\s+[\\d.]+%  ws://127.0.0.1:7001/a/trade / ws://127.0.0.1:7101/a/feed$`));
    expect(lines.slice(-2)).toEqual(["pins: 5 → a, 6 → a", "every instrument is where the rule puts it"]);
    const json = lastJson((await shards("show", "--json")).stdout) as { map: { version: number; shards: { id: string; instruments: number[] }[] }; off_rule: unknown[] };
    expect(json.map.version).toBe(1);
    expect(json.map.shards.find((s) => s.id === "b")!.instruments).toEqual(INSTRUMENTS.filter((i) => expected.get(i) === "b"));
    expect(json.off_rule).toEqual([]);
  });

  it("plan --add prints the rule's moves, all to the new shard, and the share; --remove moves exactly the removed shard's instruments", async () => {
    const before = placement(INSTRUMENTS, SHARDS, PINS);
    const added = plan(before, placement(INSTRUMENTS, [...SHARDS, { id: "d", weight: 2 }], PINS));
    const text = await shards("plan", "--add", "d", "--weight", "2");
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split("\n");
    expect(lines[0]).toBe("shard map version 1: 3 shards, 300 instruments");
    expect(lines[1]).toBe(`add shard d (weight 2): ${added.length} of 300 instruments move (${((100 * added.length) / 300).toFixed(2)}%; the rule expects about 33.33%, the shard's weight over the total)`);
    expect(lines.filter((l) => /^\s+\d+  /.test(l)).map((l) => l.trim().split(/\s+/))).toEqual(added.map((m) => [String(m.instrument), m.from, m.to]));
    expect(lines.at(-1)).toBe("nothing has moved: this is a plan (`lockstep shards move` moves one instrument; docs/scaling.md)");

    const json = lastJson((await shards("plan", "--add", "d", "--weight", "2", "--json")).stdout);
    expect(json).toMatchObject({ version: 1, shards: 3, instruments: 300, change: { add: "d", weight: 2 }, moved: added.length, share: added.length / 300, expected_share: 2 / 6, off_rule_moves: 0, moves: added });
    expect(added.every((m) => m.to === "d" && m.instrument !== 5 && m.instrument !== 6)).toBe(true);

    const removed = lastJson((await shards("plan", "--remove", "b", "--json")).stdout) as { moves: { instrument: number; from: string }[]; expected_share: number };
    expect(removed.moves.map((m) => m.instrument)).toEqual(INSTRUMENTS.filter((i) => before.get(i) === "b"));
    expect(removed.moves.every((m) => m.from === "b")).toBe(true);
    expect(removed.expected_share).toBe(0.5);
  });

  it("refuses bad flags (exit 2), impossible changes (exit 1) and a corrupt map in etcd (exit 1), each in one line with the reason", async () => {
    const cases: [string[], number, string][] = [
      [["plan"], 2, "shards plan needs one of --add S or --remove S"],
      [["plan", "--add", "d", "--remove", "a"], 2, "shards plan needs one of --add S or --remove S"],
      [["plan", "--add", "d", "--weight", "17"], 2, "--weight must be an integer in (0, 16], not \"17\""],
      [["plan", "--remove", "a", "--weight", "2"], 2, "--weight goes with --add (the new shard's weight)"],
      [["plan", "--add", "no spaces"], 2, "--add takes a shard id of 1-32 ASCII letters, digits, '_' or '-', not \"no spaces\""],
      [["plan", "--add", "b"], 1, "shard \"b\" is already in the map (version 1)"],
      [["plan", "--remove", "z"], 1, "shard \"z\" is not in the map (version 1; shards: a, b, c)"],
      [["plan", "--remove", "a"], 1, "shard \"a\" has pinned instruments (5, 6): unpin them before removing it"],
      [["init"], 2, "shards init needs --config F: a configuration with a sharding section (docs/scaling.md)"],
      [["frob"], 2, "shards needs a subcommand: show, init, plan, move, add, rebalance, drain, weight, pin or unpin, not \"frob\""],
    ];
    for (const [args, code, message] of cases) {
      const r = await shards(...args);
      expect([r.code, r.stderr.split("\n")[0]], args.join(" ")).toEqual([code, `lockstep: ${message}`]);
      noStack(r.stderr);
    }
    const noEtcd = await lockstep("shards", "show");
    expect([noEtcd.code, noEtcd.stderr.trim()]).toEqual([2, "lockstep: shards needs --etcd URL[,URL…] (the etcd members' client URLs, e.g. http://127.0.0.1:2379)"]);

    const raw = new Etcd3({ hosts: [server.url] });
    try {
      await raw.put(SHARD_MAP_KEY).value(JSON.stringify({ version: 2, shards: [{ id: "a", endpoints: endpoints("a"), instruments: [1, 1] }] }));
      const bad = await shards("plan", "--add", "d");
      expect([bad.code, bad.stderr]).toEqual([1, `lockstep: etcd key ${SHARD_MAP_KEY} is not a valid shard map: shards.0.instruments: instrument 1 is listed twice on shard "a"\n`]);
      await raw.put(SHARD_MAP_KEY).value("}{");
      const garbage = await shards("show");
      expect(garbage.code).toBe(1);
      expect(garbage.stderr).toMatch(new RegExp(`^lockstep: etcd key ${SHARD_MAP_KEY} is not JSON \\(.+\\)\\n$`));
      noStack(garbage.stderr);
    } finally {
      raw.close();
    }
  });

  it("weight, pin and unpin write the next version and move nothing: the rule's moves are listed, a repeat writes nothing, mistakes are one line", async () => {
    const raw = new Etcd3({ hosts: [server.url] });
    try {
      await raw.delete().key(SHARD_MAP_KEY);
    } finally {
      raw.close();
    }
    expect((await shards("init", "--config", config)).code).toBe(0);
    const atRest = placement(INSTRUMENTS, SHARDS, PINS);
    const placed = async (): Promise<Map<number, string>> => {
      const j = lastJson((await shards("show", "--json")).stdout) as { map: { shards: { id: string; instruments: number[] }[] } };
      return new Map(j.map.shards.flatMap((x) => x.instruments.map((i) => [i, x.id] as const)).sort((a, b) => a[0] - b[0]));
    };

    const heavier = await shards("weight", "--id", "c", "--weight", "3");
    const toC = plan(atRest, placement(INSTRUMENTS, SHARDS.map((x) => (x.id === "c" ? { ...x, weight: 3 } : x)), PINS));
    expect(toC.length).toBeGreaterThan(0);
    expect(heavier.stdout).toBe(`shard map version 2 in etcd at ${server.url}: shard c's weight 1 → 3; nothing has moved: the rule now puts ${toC.length} of 300 instruments elsewhere than they are: \`lockstep shards rebalance\` moves them (\`lockstep shards show\` lists them)\n`);
    expect(await placed()).toEqual(atRest);
    const again = lastJson((await shards("weight", "--id", "c", "--weight", "3", "--json")).stdout);
    expect(again).toEqual({ version: 2, written: false, shard: "c", weight: 3, weight_before: 3, off_rule: toC.length, moves: toC });

    const unpin = lastJson((await shards("unpin", "--inst", "5", "--json")).stdout) as { version: number; written: boolean; pin_before: string; moves: { instrument: number }[] };
    expect(unpin).toMatchObject({ version: 3, written: true, instrument: 5, pin: null, pin_before: "a" });
    const rule = placement(INSTRUMENTS, SHARDS.map((x) => (x.id === "c" ? { ...x, weight: 3 } : x)), new Map([[6, "a"]]));
    expect(unpin.moves).toEqual(plan(atRest, rule));
    const onB = INSTRUMENTS.find((i) => atRest.get(i) === "b")!;
    const pinned = await shards("pin", "--inst", String(onB), "--to", "a");
    expect(pinned.stdout).toMatch(new RegExp(`^shard map version 4 in etcd at .+: instrument ${onB} pinned to a; nothing has moved: the rule now puts \\d+ of 300 instruments elsewhere than they are`));
    expect((lastJson((await shards("show", "--json")).stdout) as { map: { pins: Record<string, string> }; off_rule: { instrument: number; to: string }[] }).map.pins).toEqual({ 6: "a", [onB]: "a" });
    expect(await placed()).toEqual(atRest);
    expect((await shards("pin", "--inst", String(onB), "--to", "a")).stdout).toBe(`shard map version 4 in etcd at ${server.url}: instrument ${onB} is pinned to a already; nothing written\n`);

    const cases: [string[], number, string][] = [
      [["weight", "--weight", "2"], 2, "shards weight needs --id S: the shard whose weight changes (1-32 ASCII letters, digits, '_' or '-')"],
      [["weight", "--id", "a"], 2, "shards weight needs --weight W: the shard's new weight (an integer in (0, 16])"],
      [["weight", "--id", "z", "--weight", "2"], 1, "shard \"z\" is not in the map (version 4; shards: a, b, c)"],
      [["pin", "--to", "a"], 2, "shards pin needs --inst N: the instrument to pin"],
      [["pin", "--inst", "1"], 2, "shards pin needs --to S: the shard to pin the instrument to (1-32 ASCII letters, digits, '_' or '-')"],
      [["pin", "--inst", "1000", "--to", "a"], 1, "instrument 1000 is not on any shard of the map (version 4)"],
      [["pin", "--inst", "1", "--to", "z"], 1, "shard \"z\" is not in the map (version 4; shards: a, b, c)"],
      [["unpin", "--inst", "1000"], 1, "instrument 1000 is not on any shard of the map (version 4)"],
    ];
    for (const [args, code, message] of cases) {
      const r = await shards(...args);
      expect([r.code, r.stderr.split("\n")[0]], args.join(" ")).toEqual([code, `lockstep: ${message}`]);
      noStack(r.stderr);
    }
    expect((lastJson((await shards("show", "--json")).stdout) as { map: { version: number } }).map.version).toBe(4);
  });
});
