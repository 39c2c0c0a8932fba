/**
 * The shard map (docs/scaling.md): which shards exist, where each one is reached, and which
 * instruments each one holds. One JSON document, validated with zod wherever it is read, kept
 * in etcd under SHARD_MAP_KEY by ./store.ts. This module knows nothing about etcd.
 *
 * The map records the placement itself (each shard lists its instruments) rather than leaving
 * it to be derived from the rule: a router reads instrument → shard without knowing the hash,
 * and an instrument that is being moved stays where its book is until the move is done. At
 * rest the placement is the rule's (./rendezvous.ts); `offRule` lists where it is not.
 */
import { z } from "zod";
import { placement, plan, Rendezvous, SHARD_ID, SHARDS_MAX, WEIGHT_MAX, type Move, type Pins, type WeightedShard } from "./rendezvous.js";

/**
 * The etcd key of the map. The leading '/' keeps it apart from every key of a sequencer group,
 * which all start `lockstep/<cluster>/` (src/sequencer/coordinator.ts), whatever the cluster is called.
 */
export const SHARD_MAP_KEY = "/lockstep/shardmap";
/** Instruments one map may place. */
export const INSTRUMENTS_MAX = 100_000;
/** URLs of one kind (trade or feed) per shard. */
export const ENDPOINTS_MAX = 16;
/** Largest encoded map, in bytes: below etcd's default request limit (--max-request-bytes, 1.5 MiB). */
export const SHARD_MAP_BYTES_MAX = 1_048_576;

/** Why a map was refused; `const` object and derived union, as for reason codes elsewhere. */
export const ShardMapProblem = {
  /** The stored value is not JSON. */
  NOT_JSON: "NOT_JSON",
  /** The value is JSON but not a valid map. */
  INVALID: "INVALID",
  /** The encoded map exceeds SHARD_MAP_BYTES_MAX. */
  TOO_LARGE: "TOO_LARGE",
  /** There is no map in etcd. */
  MISSING: "MISSING",
  /** A first map was written where one already exists. */
  EXISTS: "EXISTS",
  /** The map was written against a version that is no longer the current one. */
  STALE: "STALE",
  /** The key was deleted while being watched. */
  DELETED: "DELETED",
  /** etcd did not answer. */
  ETCD: "ETCD",
} as const;
export type ShardMapProblem = (typeof ShardMapProblem)[keyof typeof ShardMapProblem];

export class ShardMapError extends Error {
  override readonly name = "ShardMapError";
  constructor(readonly problem: ShardMapProblem, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const instrumentId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const ShardIdSchema = z.string().regex(SHARD_ID, "a shard id is 1-32 ASCII letters, digits, '_' or '-'");
const wsUrls = z.array(z.string().url().refine((u) => /^wss?:\/\//.test(u), "must be a ws:// or wss:// URL")).min(1).max(ENDPOINTS_MAX);

/** A shard as an operator describes it: id, weight, endpoints. */
export const ShardSpecSchema = z.object({
  id: ShardIdSchema,
  /** Tickets in the rendezvous draw: a shard of weight 2 gets twice the instruments of one of weight 1, on average. */
  weight: z.number().int().min(1).max(WEIGHT_MAX).default(1),
  /** Every sequencer node's /trade URL, and every replica's /feed URL, of this shard's group. */
  endpoints: z.object({ trade: wsUrls, feed: wsUrls }).strict(),
}).strict();
export type ShardSpec = z.infer<typeof ShardSpecSchema>;

/** Instrument id (decimal, as JSON keys are strings) → shard id. */
export const PinsSchema = z.record(z.string().regex(/^[1-9][0-9]{0,15}$/, "a pinned instrument is a positive integer id, in decimal"), ShardIdSchema);

const ShardEntrySchema = ShardSpecSchema.extend({ instruments: z.array(instrumentId).max(INSTRUMENTS_MAX) }).strict();
export type ShardEntry = z.infer<typeof ShardEntrySchema>;

export const ShardMapSchema = z.object({
  /** 1 for the first map, one more for every change. */
  version: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  shards: z.array(ShardEntrySchema).min(1).max(SHARDS_MAX),
  pins: PinsSchema.default({}),
}).strict().superRefine((m, ctx) => {
  const ids = new Set<string>();
  const holder = new Map<number, string>();
  m.shards.forEach((s, i) => {
    if (ids.has(s.id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["shards", i, "id"], message: `shard id "${s.id}" is used twice` });
    ids.add(s.id);
    for (const inst of s.instruments) {
      const other = holder.get(inst);
      const message = other === s.id ? `instrument ${inst} is listed twice on shard "${s.id}"` : `instrument ${inst} is on shard "${other}" and on shard "${s.id}"`;
      if (other !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["shards", i, "instruments"], message });
      holder.set(inst, s.id);
    }
  });
  if (holder.size > INSTRUMENTS_MAX) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["shards"], message: `${holder.size} instruments; a map places at most ${INSTRUMENTS_MAX}` });
  for (const [key, shard] of Object.entries(m.pins)) {
    const inst = Number(key);
    if (!Number.isSafeInteger(inst)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["pins", key], message: "not a safe integer" });
    else if (!holder.has(inst)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["pins", key], message: `instrument ${key} is pinned but not on any shard` });
    if (!ids.has(shard)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["pins", key], message: `pinned to shard "${shard}", which is not in the map` });
  }
});
export type ShardMap = z.infer<typeof ShardMapSchema>;

/** zod's issues as one line: the first three, each "path: message". */
export function issuesLine(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((i) => `${i.path.length > 0 ? i.path.join(".") : "(top level)"}: ${i.message}`);
  const more = error.issues.length - shown.length;
  return shown.join("; ") + (more > 0 ? `; and ${more} more` : "");
}

/** A map from any value, or a ShardMapError saying what is wrong with it. */
export function validateShardMap(value: unknown, where: string): ShardMap {
  const r = ShardMapSchema.safeParse(value);
  if (!r.success) throw new ShardMapError(ShardMapProblem.INVALID, `${where} is not a valid shard map: ${issuesLine(r.error)}`);
  return r.data;
}

/** A map from its stored text (where: what to call it in an error, e.g. the etcd key). */
export function parseShardMap(text: string, where: string): ShardMap {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > SHARD_MAP_BYTES_MAX) throw new ShardMapError(ShardMapProblem.TOO_LARGE, `${where} holds ${bytes} bytes; a shard map is at most ${SHARD_MAP_BYTES_MAX} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ShardMapError(ShardMapProblem.NOT_JSON, `${where} is not JSON (${(err as Error).message})`, { cause: err });
  }
  return validateShardMap(value, where);
}

/** The stored text of a map, which must be valid and fit SHARD_MAP_BYTES_MAX. */
export function encodeShardMap(map: ShardMap): string {
  const valid = validateShardMap(map, "the shard map to write");
  const text = JSON.stringify(valid);
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > SHARD_MAP_BYTES_MAX) throw new ShardMapError(ShardMapProblem.TOO_LARGE, `the shard map would be ${bytes} bytes; at most ${SHARD_MAP_BYTES_MAX} fit in one etcd value here`);
  return text;
}

export function pinsOf(map: Pick<ShardMap, "pins">): Pins {
  return new Map(Object.entries(map.pins).map(([k, v]) => [Number(k), v]));
}

/** Instrument → shard, as the map records it, in ascending instrument id. */
export function placementOf(map: ShardMap): Map<number, string> {
  const pairs = map.shards.flatMap((s) => s.instruments.map((i) => [i, s.id] as const));
  return new Map(pairs.sort((a, b) => a[0] - b[0]));
}

export const weightsOf = (shards: readonly { id: string; weight: number }[]): WeightedShard[] => shards.map((s) => ({ id: s.id, weight: s.weight }));

/** The rule's placement of the map's instruments on `shards` (the map's own when absent), with its pins. */
export function rulePlacement(map: ShardMap, shards: readonly WeightedShard[] = weightsOf(map.shards)): Map<number, string> {
  return placement(placementOf(map).keys(), shards, pinsOf(map));
}

/** Instruments not where the rule puts them: none at rest; some while a move is under way or after a hand edit. */
export function offRule(map: ShardMap): Move[] {
  return plan(placementOf(map), rulePlacement(map));
}

/**
 * The first map (version 1): these shards and pins, every instrument where the rule puts it.
 * Programmer errors (bad ids, pins to unknown shards) throw; give it validated specs.
 */
export function firstShardMap(shards: readonly ShardSpec[], pins: Readonly<Record<string, string>>, instruments: readonly number[]): ShardMap {
  const pinMap = pinsOf({ pins });
  const rule = new Rendezvous(weightsOf(shards), pinMap);
  const held = new Map<string, number[]>(shards.map((s) => [s.id, []]));
  for (const i of [...new Set(instruments)].sort((a, b) => a - b)) held.get(rule.place(i))!.push(i);
  return validateShardMap({ version: 1, shards: shards.map((s) => ({ ...s, instruments: held.get(s.id)! })), pins: { ...pins } }, "the first shard map");
}

/**
 * The next version of `map` with shard `spec` added, holding no instruments yet: every instrument
 * the rule now puts on it is off the rule until it is moved (`lockstep shards rebalance`).
 * Throws ShardMapError (INVALID) for a shard id the map has, a 65th shard or a bad endpoint.
 */
export function withShardAdded(map: ShardMap, spec: ShardSpec): ShardMap {
  if (map.shards.some((s) => s.id === spec.id)) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${spec.id}" is already in the map (version ${map.version})`);
  if (map.shards.length >= SHARDS_MAX) throw new ShardMapError(ShardMapProblem.INVALID, `the map has ${map.shards.length} shards, the most a map may have`);
  return validateShardMap({ ...map, version: map.version + 1, shards: [...map.shards, { ...spec, instruments: [] }] }, `the map with shard ${spec.id} added`);
}

/**
 * The next version of `map` without shard `id`, which must hold no instrument and no pin (move
 * them first: `lockstep shards drain`). Throws ShardMapError (INVALID) otherwise, or for the last shard.
 */
export function withShardRemoved(map: ShardMap, id: string): ShardMap {
  const gone = map.shards.find((s) => s.id === id);
  if (gone === undefined) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${id}" is not in the map (version ${map.version})`);
  if (map.shards.length === 1) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${id}" is the only shard; a map needs at least one`);
  if (gone.instruments.length > 0) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${id}" still holds ${gone.instruments.length} instruments (${gone.instruments.slice(0, 10).join(", ")}${gone.instruments.length > 10 ? ", …" : ""})`);
  const pinned = Object.entries(map.pins).filter(([, s]) => s === id).map(([i]) => i);
  if (pinned.length > 0) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${id}" has pinned instruments (${pinned.join(", ")})`);
  return validateShardMap({ ...map, version: map.version + 1, shards: map.shards.filter((s) => s.id !== id) }, `the map without shard ${id}`);
}

/**
 * The next version of `map` with shard `id`'s weight set to `weight`. No instrument moves: those
 * the rule now puts elsewhere are off the rule until moved (`lockstep shards rebalance`).
 * Throws ShardMapError (INVALID) for a shard not in the map or a weight out of range.
 */
export function withWeight(map: ShardMap, id: string, weight: number): ShardMap {
  if (!map.shards.some((s) => s.id === id)) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${id}" is not in the map (version ${map.version}; shards: ${map.shards.map((s) => s.id).join(", ")})`);
  return validateShardMap({ ...map, version: map.version + 1, shards: map.shards.map((s) => (s.id === id ? { ...s, weight } : s)) }, `the map with shard ${id}'s weight ${weight}`);
}

/**
 * The next version of `map` with `instrument` pinned to shard `shard`, or its pin removed
 * (`shard` undefined). No instrument moves, as for withWeight. Throws ShardMapError (INVALID)
 * for an instrument the map does not place or a shard not in it.
 */
export function withPin(map: ShardMap, instrument: number, shard: string | undefined): ShardMap {
  if (!placementOf(map).has(instrument)) throw new ShardMapError(ShardMapProblem.INVALID, `instrument ${instrument} is not on any shard of the map (version ${map.version})`);
  if (shard !== undefined && !map.shards.some((s) => s.id === shard)) throw new ShardMapError(ShardMapProblem.INVALID, `shard "${shard}" is not in the map (version ${map.version}; shards: ${map.shards.map((s) => s.id).join(", ")})`);
  const pins: Record<string, string> = { ...map.pins };
  if (shard === undefined) delete pins[String(instrument)];
  else pins[String(instrument)] = shard;
  return validateShardMap({ ...map, version: map.version + 1, pins }, `the map with instrument ${instrument} ${shard === undefined ? "unpinned" : `pinned to ${shard}`}`);
}
