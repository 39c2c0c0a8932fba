/**
 * `lockstep shards show|init|plan`: the shard map in etcd (docs/scaling.md).
 *
 *  - show   the map: version, each shard's weight, endpoints and instruments, pins, and any
 *           instrument not where the rule puts it.
 *  - init   the first map (version 1), from a configuration's `sharding` section and its
 *           instruments; refused when a map exists.
 *  - plan   what adding (--add S [--weight W]) or removing (--remove S) a shard would move:
 *           each instrument, from and to, and the share moved. Nothing is written.
 *  - move   moves one instrument live to another shard (src/shard/move.ts): the book hash
 *           before and after, the map's new version, the time each stage took.
 *  - add    a new shard (its endpoints and weight) in the map's next version, holding nothing:
 *           what the rule now puts on it is off the rule until moved.
 *  - rebalance  moves every instrument that is off the rule to where it puts it, one live move
 *           at a time (src/shard/rebalance.ts).
 *  - drain  the same with the rule over the other shards, then the shard out of the map.
 *  - weight a shard's weight, pin / unpin an instrument's pin, in the map's next version: nothing
 *           moves; what the rule now puts elsewhere is listed, and `rebalance` moves it.
 */
import { loadConfig } from "../config/config.js";
import { firstShardMap, offRule, pinsOf, placementOf, rulePlacement, SHARD_MAP_KEY, ShardMapError, ShardSpecSchema, weightsOf, withPin, withShardAdded, withWeight, type ShardMap } from "../shard/map.js";
import { rebalance, RebalanceError } from "../shard/rebalance.js";
import { plan, SHARD_ID, SHARDS_MAX, WEIGHT_MAX, type Move, type WeightedShard } from "../shard/rendezvous.js";
import { MoveError, Mover, type MoveResult } from "../shard/move.js";
import { ShardMapStore } from "../shard/store.js";
import { numberFlag, parse, UserError, USAGE } from "./args.js";

type Values = Record<string, string | boolean | undefined>;

/** Instruments listed by name in one line of `show` (the rest are counted). */
const LISTED_MAX = 10;

export async function runShards(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const run = sub === "show" ? show : sub === "init" ? init : sub === "plan" ? planCommand : sub === "move" ? move : sub === "add" ? add : sub === "rebalance" ? (a: string[]) => rebalanceCommand(a, false) : sub === "drain" ? (a: string[]) => rebalanceCommand(a, true)
    : sub === "weight" ? weight : sub === "pin" ? (a: string[]) => pin(a, true) : sub === "unpin" ? (a: string[]) => pin(a, false) : undefined;
  if (run === undefined) throw new UserError(`shards needs a subcommand: show, init, plan, move, add, rebalance, drain, weight, pin or unpin${sub === undefined ? "" : `, not "${sub}"`}\n\n${USAGE}`, 2);
  try {
    return await run(rest);
  } catch (err) {
    // A map that is missing, corrupt or stale, or an etcd that does not answer: one line, input error.
    if (err instanceof ShardMapError) throw new UserError(err.message, 1);
    throw err;
  }
}

/** --etcd URL[,URL…]: http(s) URLs of etcd members. */
function etcdFlag(v: Values): string[] {
  if (typeof v.etcd !== "string" || v.etcd === "") throw new UserError("shards needs --etcd URL[,URL…] (the etcd members' client URLs, e.g. http://127.0.0.1:2379)", 2);
  const urls = v.etcd.split(",");
  for (const u of urls) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(u)) throw new UserError(`--etcd takes http:// or https:// URLs of etcd members, not "${u}"`, 2);
  }
  return urls;
}

async function withStore<T>(hosts: string[], f: (store: ShardMapStore, etcd: string) => Promise<T>): Promise<T> {
  const store = new ShardMapStore(hosts);
  try {
    return await f(store, hosts.join(","));
  } finally {
    store.close();
  }
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const share = (part: number, whole: number): number => (whole === 0 ? 0 : part / whole);
const totalWeight = (shards: readonly WeightedShard[]): number => shards.reduce((n, s) => n + (s.weight ?? 1), 0);

// ---- show

export function showText(map: ShardMap, etcd: string): string {
  const total = placementOf(map).size;
  const pins = Object.entries(map.pins);
  const lines = [`shard map version ${map.version} in etcd at ${etcd} (key ${SHARD_MAP_KEY}): ${map.shards.length} shards, ${total} instruments, ${pins.length} ${pins.length === 1 ? "pin" : "pins"}`];
  const w = Math.max(5, ...map.shards.map((s) => s.id.length));
  lines.push(`${"shard".padEnd(w)}  weight  instruments   share  trade / feed`);
  for (const s of map.shards) {
    lines.push(`${s.id.padEnd(w)}  ${String(s.weight).padStart(6)}  ${String(s.instruments.length).padStart(11)}  ${pct(share(s.instruments.length, total)).padStart(6)}  ${s.endpoints.trade.join(",")} / ${s.endpoints.feed.join(",")}`);
  }
  if (pins.length > 0) lines.push(`pins: ${pins.map(([i, s]) => `${i} → ${s}`).join(", ")}`);
  const off = offRule(map);
  if (off.length === 0) lines.push("every instrument is where the rule puts it");
  else {
    const listed = off.slice(0, LISTED_MAX).map((m) => `${m.instrument} on ${m.from} (rule: ${m.to})`).join(", ");
    lines.push(`${off.length} instruments are not where the rule puts them (a move under way, a weight or pin changed, or a map written by hand): ${listed}${off.length > LISTED_MAX ? ", …" : ""}`);
  }
  return lines.join("\n");
}

async function show(args: string[]): Promise<number> {
  const { values: v } = parse(args, { etcd: { type: "string" }, json: { type: "boolean" } });
  return withStore(etcdFlag(v), async (store, etcd) => {
    const { map, rev } = await store.readOrFail();
    process.stdout.write(v.json === true ? `${JSON.stringify({ etcd, key: SHARD_MAP_KEY, rev, map, off_rule: offRule(map) })}\n` : `${showText(map, etcd)}\n`);
    return 0;
  });
}

// ---- init

async function init(args: string[]): Promise<number> {
  const { values: v } = parse(args, { etcd: { type: "string" }, config: { type: "string" } });
  const hosts = etcdFlag(v);
  if (typeof v.config !== "string") throw new UserError("shards init needs --config F: a configuration with a sharding section (docs/scaling.md)", 2);
  const cfg = loadConfig(v.config);
  if (cfg.sharding === undefined) throw new UserError(`${v.config} has no sharding section: list the shards there (docs/scaling.md#the-first-map)`);
  const map = firstShardMap(cfg.sharding.shards, cfg.sharding.pins, cfg.instruments.map((i) => i.id));
  return withStore(hosts, async (store, etcd) => {
    await store.write(map);
    process.stdout.write(`wrote the first shard map (version 1) to etcd at ${etcd} (key ${SHARD_MAP_KEY}): ${map.shards.map((s) => `${s.id} ${s.instruments.length}`).join(", ")} instruments\n`);
    return 0;
  });
}

// ---- plan

/** What --add/--weight or --remove asks for, checked before etcd is asked anything. */
type ChangeFlags = { add: string; weight: number } | { remove: string };

function changeFlags(v: Values): ChangeFlags {
  const add = v.add, remove = v.remove;
  if ((add === undefined) === (remove === undefined)) throw new UserError("shards plan needs one of --add S or --remove S", 2);
  if (v.weight !== undefined && add === undefined) throw new UserError("--weight goes with --add (the new shard's weight)", 2);
  const id = String(add ?? remove);
  if (!SHARD_ID.test(id)) throw new UserError(`--${add === undefined ? "remove" : "add"} takes a shard id of 1-32 ASCII letters, digits, '_' or '-', not "${id}"`, 2);
  return add === undefined ? { remove: id } : { add: id, weight: numberFlag(v, "weight", 1, 0, WEIGHT_MAX, true) };
}

/** A change of the shard list, checked against the map it applies to. */
export interface Change {
  readonly shards: WeightedShard[];
  readonly describe: string;
  readonly json: Record<string, string | number>;
  /** The weight of the added or removed shard, over the total weight of the longer list. */
  readonly expectedShare: number;
}

export function changeOf(map: ShardMap, c: ChangeFlags): Change {
  const current = weightsOf(map.shards);
  if ("add" in c) {
    if (current.some((s) => s.id === c.add)) throw new UserError(`shard "${c.add}" is already in the map (version ${map.version})`);
    if (current.length >= SHARDS_MAX) throw new UserError(`the map has ${current.length} shards, the most a map may have`);
    const shards = [...current, { id: c.add, weight: c.weight }];
    return { shards, describe: `add shard ${c.add} (weight ${c.weight})`, json: { add: c.add, weight: c.weight }, expectedShare: c.weight / totalWeight(shards) };
  }
  const gone = map.shards.find((s) => s.id === c.remove);
  if (gone === undefined) throw new UserError(`shard "${c.remove}" is not in the map (version ${map.version}; shards: ${current.map((s) => s.id).join(", ")})`);
  if (current.length === 1) throw new UserError(`shard "${gone.id}" is the only shard; a map needs at least one`);
  const pinned = [...pinsOf(map)].filter(([, s]) => s === gone.id).map(([i]) => i);
  if (pinned.length > 0) throw new UserError(`shard "${gone.id}" has pinned instruments (${pinned.join(", ")}): unpin them before removing it`);
  return {
    shards: current.filter((s) => s.id !== gone.id), describe: `remove shard ${gone.id} (weight ${gone.weight}, ${gone.instruments.length} instruments)`,
    json: { remove: gone.id }, expectedShare: gone.weight / totalWeight(current),
  };
}

export interface PlanReport {
  version: number;
  shards: number;
  instruments: number;
  change: Record<string, string | number>;
  moved: number;
  share: number;
  expected_share: number;
  /** Moves of instruments already off the rule before the change (0 at rest). */
  off_rule_moves: number;
  flows: { from: string; to: string; instruments: number }[];
  moves: Move[];
}

export function planReport(map: ShardMap, change: Change): PlanReport {
  const current = placementOf(map);
  const moves = plan(current, rulePlacement(map, change.shards));
  const flows = new Map<string, { from: string; to: string; instruments: number }>();
  for (const m of moves) {
    const k = `${m.from}\n${m.to}`;
    const f = flows.get(k) ?? { from: m.from, to: m.to, instruments: 0 };
    f.instruments++;
    flows.set(k, f);
  }
  const offRuleNow = new Set(offRule(map).map((m) => m.instrument));
  return {
    version: map.version, shards: map.shards.length, instruments: current.size, change: change.json,
    moved: moves.length, share: share(moves.length, current.size), expected_share: change.expectedShare,
    off_rule_moves: moves.filter((m) => offRuleNow.has(m.instrument)).length, flows: [...flows.values()], moves,
  };
}

export function planText(r: PlanReport, describe: string): string {
  const lines = [
    `shard map version ${r.version}: ${r.shards} shards, ${r.instruments} instruments`,
    `${describe}: ${r.moved} of ${r.instruments} instruments move (${pct(r.share)}; the rule expects about ${pct(r.expected_share)}, the shard's weight over the total)`,
  ];
  if (r.off_rule_moves > 0) lines.push(`${r.off_rule_moves} of these instruments are already off the rule (see \`lockstep shards show\`): they move whatever the change`);
  if (r.flows.length > 0) lines.push(`by shard: ${r.flows.map((f) => `${f.from} → ${f.to} ${f.instruments}`).join(", ")}`);
  if (r.moves.length > 0) {
    const w = Math.max(4, ...r.moves.map((m) => m.from.length));
    lines.push(`instrument  ${"from".padEnd(w)}  to`, ...r.moves.map((m) => `${String(m.instrument).padStart(10)}  ${m.from.padEnd(w)}  ${m.to}`));
  }
  lines.push("nothing has moved: this is a plan (`lockstep shards move` moves one instrument; docs/scaling.md)");
  return lines.join("\n");
}

async function planCommand(args: string[]): Promise<number> {
  const { values: v } = parse(args, { etcd: { type: "string" }, add: { type: "string" }, remove: { type: "string" }, weight: { type: "string" }, json: { type: "boolean" } });
  const hosts = etcdFlag(v);
  const flags = changeFlags(v);
  return withStore(hosts, async (store) => {
    const { map } = await store.readOrFail();
    const change = changeOf(map, flags);
    const report = planReport(map, change);
    process.stdout.write(v.json === true ? `${JSON.stringify(report)}\n` : `${planText(report, change.describe)}\n`);
    return 0;
  });
}

// ---- move

export function moveText(r: MoveResult): string {
  if (r.outcome === "aborted") return `move of instrument ${r.instrument} from ${r.from} to ${r.to} undone: ${r.from} trades it again (${r.orders} orders, book hash ${r.hash_before})`;
  return [
    `moved instrument ${r.instrument} from ${r.from} to ${r.to}: ${r.orders} orders in ${r.ms.total} ms (halt ${r.ms.halt}, export ${r.ms.export}, import ${r.ms.import}, map ${r.ms.map}, release ${r.ms.release})`,
    r.import_seqs[1] === 0
      ? `an earlier run imported the book (${r.to} trades it, so its engine found the import equal to the halted book); ${r.from}'s book ${r.hash_before === "" ? "is released" : `hash ${r.hash_before}`}, ${r.to}'s now ${r.hash_after}`
      : `book hash at the HALT (seq ${r.halt_seq} on ${r.from}): ${r.hash_before}; after the import (seqs ${r.import_seqs[0]}..${r.import_seqs[1]} on ${r.to}): ${r.hash_after}: ${r.hashes_equal ? "equal" : "DIFFERENT"}`,
    `shard map version ${r.map_version_before} → ${r.map_version}; replicas agreeing: ${r.replicas_agreeing.from} on ${r.from}, ${r.replicas_agreeing.to} on ${r.to}`,
  ].join("\n");
}

async function move(args: string[]): Promise<number> {
  const { values: v } = parse(args, {
    etcd: { type: "string" }, inst: { type: "string" }, to: { type: "string" }, account: { type: "string" }, key: { type: "string" }, "secret-env": { type: "string" },
    abort: { type: "boolean" }, json: { type: "boolean" },
  });
  const hosts = etcdFlag(v);
  for (const [flag, what] of [["inst", "N: the instrument to move"], ["to", "S: the shard to move it to"], ["account", "A: the operator account (the sequencers' sequencer.operatorAccount)"]]) {
    if (v[flag!] === undefined) throw new UserError(`shards move needs --${flag} ${what}`, 2);
  }
  const instrument = numberFlag(v, "inst", Number.NaN, 0, Number.MAX_SAFE_INTEGER, true);
  const account = numberFlag(v, "account", Number.NaN, 0, Number.MAX_SAFE_INTEGER, true);
  if (typeof v.to !== "string" || !SHARD_ID.test(v.to)) throw new UserError(`--to takes the target shard's id: 1-32 ASCII letters, digits, '_' or '-'${typeof v.to === "string" ? `, not "${v.to}"` : ""}`, 2);
  const credentials = credentialsFlags(v);
  const say = (line: string): void => { if (v.json !== true) process.stdout.write(`${line}\n`); };
  return withStore(hosts, async (store) => {
    try {
      const r = await new Mover(store, { instrument, to: v.to as string, operator: { account, ...(credentials === undefined ? {} : { credentials }) }, abort: v.abort === true, say }).run();
      process.stdout.write(v.json === true ? `${JSON.stringify(r)}\n` : `${moveText(r)}\n`);
      return r.hashes_equal ? 0 : 1;
    } catch (err) {
      if (!(err instanceof MoveError)) throw err;
      const left = err.leftAs === "" ? "see lockstep shards show and the shards' logs" : err.leftAs;
      if (v.json === true) process.stdout.write(`${JSON.stringify({ error: err.problem, message: err.message, left_as: left })}\n`);
      throw new UserError(`move refused (${err.problem}): ${err.message}; ${left}`, 1);
    }
  });
}

/** --key ID --secret-env VAR: the operator's API key and the environment variable that holds its secret (both, or neither). */
function credentialsFlags(v: Values): { keyId: string; secret: string } | undefined {
  if ((v.key === undefined) !== (v["secret-env"] === undefined)) throw new UserError("--key and --secret-env go together: the operator's API key and the environment variable holding its secret", 2);
  if (typeof v.key !== "string") return undefined;
  const secret = process.env[String(v["secret-env"])];
  if (secret === undefined || secret === "") throw new UserError(`the environment variable ${String(v["secret-env"])} (--secret-env) is not set`, 2);
  return { keyId: v.key, secret };
}

// ---- add

async function add(args: string[]): Promise<number> {
  const { values: v } = parse(args, { etcd: { type: "string" }, id: { type: "string" }, trade: { type: "string" }, feed: { type: "string" }, weight: { type: "string" }, json: { type: "boolean" } });
  const hosts = etcdFlag(v);
  for (const [flag, what] of [["id", "S: the new shard's id"], ["trade", "URL[,URL…]: every sequencer node's /trade URL of its group"], ["feed", "URL[,URL…]: its replicas' /feed URLs"]]) {
    if (v[flag!] === undefined) throw new UserError(`shards add needs --${flag} ${what}`, 2);
  }
  const spec = ShardSpecSchema.safeParse({ id: v.id, weight: numberFlag(v, "weight", 1, 0, WEIGHT_MAX, true), endpoints: { trade: String(v.trade).split(","), feed: String(v.feed).split(",") } });
  if (!spec.success) throw new UserError(`shards add: ${spec.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, 2);
  return withStore(hosts, async (store, etcd) => {
    const { map } = await store.readOrFail();
    const next = withShardAdded(map, spec.data);
    await store.write(next);
    const off = offRule(next);
    const report = { version: next.version, added: spec.data.id, weight: spec.data.weight, off_rule: off.length, moves: off };
    process.stdout.write(v.json === true ? `${JSON.stringify(report)}\n`
      : `shard map version ${next.version} in etcd at ${etcd}: shard ${spec.data.id} added (weight ${spec.data.weight}), holding no instrument yet; the rule puts ${off.length} of ${placementOf(next).size} instruments on it: \`lockstep shards rebalance\` moves them\n`);
    return 0;
  });
}

// ---- weight, pin, unpin

/**
 * Writes `next`, the map's next version (null: the change is made already, nothing is written),
 * and says what the rule now puts elsewhere than the map places it.
 */
async function writeChange(store: ShardMapStore, etcd: string, json: boolean, map: ShardMap, next: ShardMap | null, describe: string, fields: Record<string, string | number | null>): Promise<number> {
  if (next === null) {
    const off = offRule(map);
    process.stdout.write(json ? `${JSON.stringify({ version: map.version, written: false, ...fields, off_rule: off.length, moves: off })}\n`
      : `shard map version ${map.version} in etcd at ${etcd}: ${describe} already; nothing written\n`);
    return 0;
  }
  await store.write(next);
  const off = offRule(next);
  process.stdout.write(json ? `${JSON.stringify({ version: next.version, written: true, ...fields, off_rule: off.length, moves: off })}\n`
    : `shard map version ${next.version} in etcd at ${etcd}: ${describe}; nothing has moved: the rule now puts ${off.length} of ${placementOf(next).size} instruments elsewhere than they are${off.length === 0 ? "" : `: \`lockstep shards rebalance\` moves them (\`lockstep shards show\` lists them)`}\n`);
  return 0;
}

async function weight(args: string[]): Promise<number> {
  const { values: v } = parse(args, { etcd: { type: "string" }, id: { type: "string" }, weight: { type: "string" }, json: { type: "boolean" } });
  const hosts = etcdFlag(v);
  if (typeof v.id !== "string" || !SHARD_ID.test(v.id)) throw new UserError(`shards weight needs --id S: the shard whose weight changes (1-32 ASCII letters, digits, '_' or '-')${typeof v.id === "string" ? `, not "${v.id}"` : ""}`, 2);
  if (v.weight === undefined) throw new UserError(`shards weight needs --weight W: the shard's new weight (an integer in (0, ${WEIGHT_MAX}])`, 2);
  const w = numberFlag(v, "weight", Number.NaN, 0, WEIGHT_MAX, true);
  const id = v.id;
  return withStore(hosts, async (store, etcd) => {
    const { map } = await store.readOrFail();
    const before = map.shards.find((s) => s.id === id)?.weight;
    const same = before === w;
    return writeChange(store, etcd, v.json === true, map, same ? null : withWeight(map, id, w), same ? `shard ${id} has weight ${w}` : `shard ${id}'s weight ${before} → ${w}`, { shard: id, weight: w, weight_before: before ?? null });
  });
}

/** `pin --inst N --to S`, or (pin false) `unpin --inst N`. */
async function pin(args: string[], pinning: boolean): Promise<number> {
  const { values: v } = parse(args, { etcd: { type: "string" }, inst: { type: "string" }, json: { type: "boolean" }, ...(pinning ? { to: { type: "string" as const } } : {}) });
  const hosts = etcdFlag(v);
  const name = pinning ? "pin" : "unpin";
  if (v.inst === undefined) throw new UserError(`shards ${name} needs --inst N: the instrument to ${name}`, 2);
  const instrument = numberFlag(v, "inst", Number.NaN, 0, Number.MAX_SAFE_INTEGER, true);
  if (pinning && (typeof v.to !== "string" || !SHARD_ID.test(v.to))) throw new UserError(`shards pin needs --to S: the shard to pin the instrument to (1-32 ASCII letters, digits, '_' or '-')${typeof v.to === "string" ? `, not "${v.to}"` : ""}`, 2);
  const to = pinning ? String(v.to) : undefined;
  return withStore(hosts, async (store, etcd) => {
    const { map } = await store.readOrFail();
    const before = pinsOf(map).get(instrument);
    const same = before === to;
    // Made even when nothing changes: withPin refuses an instrument or a shard the map does not have.
    const changed = withPin(map, instrument, to);
    const describe = same ? `instrument ${instrument} ${to === undefined ? "has no pin" : `is pinned to ${to}`}`
      : to === undefined ? `instrument ${instrument} unpinned (it was pinned to ${before})` : `instrument ${instrument} pinned to ${to}${before === undefined ? "" : ` (it was pinned to ${before})`}`;
    return writeChange(store, etcd, v.json === true, map, same ? null : changed, describe, { instrument, pin: to ?? null, pin_before: before ?? null });
  });
}

// ---- rebalance

/** `rebalance`, or with `drain` (--id S) the drain of S: its instruments to the rule over the other shards, then S out of the map. */
async function rebalanceCommand(args: string[], drain: boolean): Promise<number> {
  const { values: v } = parse(args, { etcd: { type: "string" }, account: { type: "string" }, key: { type: "string" }, "secret-env": { type: "string" }, json: { type: "boolean" }, ...(drain ? { id: { type: "string" as const } } : {}) });
  const hosts = etcdFlag(v);
  const name = drain ? "drain" : "rebalance";
  if (drain && (typeof v.id !== "string" || !SHARD_ID.test(v.id))) throw new UserError(`shards drain needs --id S: the shard to empty and remove (1-32 ASCII letters, digits, '_' or '-')${typeof v.id === "string" ? `, not "${v.id}"` : ""}`, 2);
  if (v.account === undefined) throw new UserError(`shards ${name} needs --account A: the operator account (the sequencers' sequencer.operatorAccount)`, 2);
  const account = numberFlag(v, "account", Number.NaN, 0, Number.MAX_SAFE_INTEGER, true);
  const credentials = credentialsFlags(v);
  const say = (line: string): void => { if (v.json !== true) process.stdout.write(`${line}\n`); };
  return withStore(hosts, async (store) => {
    try {
      const r = await rebalance(store, { account, ...(credentials === undefined ? {} : { credentials }) }, say, drain ? String(v.id) : undefined);
      if (v.json === true) process.stdout.write(`${JSON.stringify(r)}\n`);
      else say(`${drain ? `drained ${String(v.id)}` : "rebalanced"}: ${r.moved.length} instruments moved${r.already.length > 0 ? `, ${r.already.length} found moved already` : ""} in ${r.ms_total} ms; shard map version ${r.map_version_before} → ${r.map_version}`);
      return 0;
    } catch (err) {
      if (!(err instanceof RebalanceError)) throw err;
      const left = `${err.done.moved.length} of ${err.done.planned.length} moves were made before it; run the ${name} again to carry on`;
      if (v.json === true) process.stdout.write(`${JSON.stringify({ error: err.why.problem, message: err.message, done: err.done, left_as: left })}\n`);
      throw new UserError(`${name} stopped: ${err.message}; ${left}`, 1);
    }
  });
}
