/**
 * Cluster configuration: one JSON file (config/local.json by default) validated with zod, so a
 * mistake is reported as "path.to.field: what is wrong" before anything starts. Every limit
 * carries its unit in its name. It lives outside src/cli so that nodes, tools and tests can
 * read a configuration without loading the command line.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT, validateInstrument } from "../engine/index.js";
import { DEFAULT_LOGIN_LIMITS } from "../util/login-gate.js";
import { SCALE_MAX } from "../protocol/reference.js";
import { TRADES_RECENT_MAX_DEFAULT } from "../protocol/rest.js";
import { STATUS_INTERVAL_MS_DEFAULT, STATUS_INTERVAL_MS_MAX } from "../replica/options.js";
import { PinsSchema, ShardSpecSchema } from "../shard/map.js";
import { SHARDS_MAX } from "../shard/rendezvous.js";

/** config/local.json of this package, wherever the command is run from (dist/src/config/ → the package root). */
export const DEFAULT_CONFIG = resolve(import.meta.dirname, "..", "..", "..", "config", "local.json");

/** A configuration file that cannot be read or does not validate: the message says where and what, in full. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const posInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** The largest resume ring a replica may keep: it is allocated at start, about 160 bytes a report (800 MB here). */
const REPORT_RING_MAX = 5_000_000;
/** The largest ring of recent records a sequencer may keep: allocated at start, about 300 bytes a record (1.5 GB here). */
const RING_RECORDS_MAX = 5_000_000;
const port = z.number().int().min(0).max(65535);
const clock = z.object({ offsetMs: z.number().min(-3_600_000).max(3_600_000).default(0), driftPpm: z.number().min(-1000).max(1000).default(0) }).strict().default({});

const Instrument = z.object({
  id: posInt, symbol: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/, "1-32 letters, digits, '.', '_' or '-', starting with a letter or digit (it is a URL path segment)"),
  tickSize: posInt, lotSize: posInt, qtyMin: posInt, qtyMax: posInt, priceMin: posInt, priceMax: posInt,
  /** Decimal digits of the price and quantity units (src/protocol/reference.ts): 2 means a price of 12345 is 123.45. */
  priceScale: z.number().int().min(0).max(SCALE_MAX).default(0), qtyScale: z.number().int().min(0).max(SCALE_MAX).default(0),
}).strict().superRefine((c, ctx) => {
  const problem = validateInstrument(c);
  if (problem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const Fsync = z.discriminatedUnion("mode", [
  z.object({ mode: z.literal("none") }).strict(),
  z.object({ mode: z.literal("always"), offLoop: z.boolean().optional() }).strict(),
  z.object({ mode: z.literal("batch"), intervalUs: posInt, records: posInt, offLoop: z.boolean().optional() }).strict(),
]);
const Ack = z.discriminatedUnion("mode", [
  z.object({ mode: z.literal("none") }).strict(),
  z.object({ mode: z.literal("journal") }).strict(),
  z.object({ mode: z.literal("replicas"), count: posInt }).strict(),
]);

const Key = z.object({
  keyId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), account: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  secretEnv: z.string().min(1).optional(), secretFile: z.string().min(1).optional(),
}).strict().refine((k) => (k.secretEnv === undefined) !== (k.secretFile === undefined), { message: "give exactly one of secretEnv or secretFile" });

const Region = z.object({
  name: z.string().min(1),
  /** One-way delay sequencer → region and back, ms (asymmetric where real routes are). */
  oneWayMsOut: z.number().min(0), oneWayMsBack: z.number().min(0), jitterMs: z.number().min(0).default(0),
}).strict();

export const ConfigSchema = z.object({
  instruments: z.array(Instrument).min(1),
  sequencer: z.object({
    host: z.string().default("127.0.0.1"), port, epoch: posInt.default(1),
    journal: z.object({ dir: z.string().default("journal"), segmentBytesMax: posInt, fsync: Fsync, retainSegmentsMax: z.number().int().min(0) }).strict(),
    ack: Ack, frameBytesMax: posInt, batchRecordsMax: posInt, replicaBufferBytesMax: posInt, ringRecordsMax: posInt.max(RING_RECORDS_MAX), clock, region: z.string().optional(),
    followerSilenceMsMax: posInt.optional(),
    /** The account whose logins may send the steps of a move (docs/scaling.md); absent, nobody may. */
    operatorAccount: posInt.optional(),
    limits: z.object({
      connectionRatePerS: posInt, connectionBurst: posInt, accountRatePerS: posInt, accountBurst: posInt, connectionsMax: posInt,
      loginDeadlineMs: posInt.default(DEFAULT_LOGIN_LIMITS.loginDeadlineMs), unauthenticatedMax: posInt.default(DEFAULT_LOGIN_LIMITS.unauthenticatedMax),
      pendingAcksMax: posInt.default(1_000_000),
    }).strict().optional(),
  }).strict(),
  replicaDefaults: z.object({
    snapshotEverySeq: posInt, hashEverySeq: posInt, reportRingMax: posInt.max(REPORT_RING_MAX), feedBufferBytesMax: posInt, tradesRecentMax: posInt.max(1_000_000).default(TRADES_RECENT_MAX_DEFAULT), probeIntervalMs: posInt.default(25), silenceMsMax: posInt.optional(),
    statusIntervalMs: z.number().int().min(0).max(STATUS_INTERVAL_MS_MAX).default(STATUS_INTERVAL_MS_DEFAULT),
    loginDeadlineMs: posInt.default(DEFAULT_LOGIN_LIMITS.loginDeadlineMs), unauthenticatedMax: posInt.default(DEFAULT_LOGIN_LIMITS.unauthenticatedMax),
  }).strict(),
  replicas: z.array(z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), host: z.string().default("127.0.0.1"), port, clock, region: z.string().optional(), key: z.string().optional() }).strict()).min(1),
  regions: z.array(Region).optional(),
  /** Live orders one account may have (0 = no limit); the same for every replica. */
  accountOpenOrdersMax: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  /**
   * Instruments configured here (reference data) that this group does not hold at the start of
   * its log: their books begin AWAY until a move imports them (docs/scaling.md). The same for
   * every replica.
   */
  instrumentsAway: z.array(posInt).default([]),
  /** Finished orders per account whose client order ids stay reserved (FIFO); the same for every replica. */
  accountRecentClientOrderIdsMax: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT),
  /**
   * Standby sequencers with leadership in etcd (docs/failover.md). Each node runs
   * `lockstep sequencer --id ID`; the sequencer section's settings apply to all of them.
   */
  ha: z.object({
    etcd: z.array(z.string().url()).min(1), cluster: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default("lockstep"),
    leaseTtlS: posInt.max(60).default(1), isrLagMsMax: posInt.default(500),
    nodes: z.array(z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), host: z.string().default("127.0.0.1"), port, key: z.string().optional() }).strict()).min(2),
  }).strict().optional(),
  /** When present, every node requires authentication (docs/security.md). */
  auth: z.object({ skewMsMax: posInt.default(30_000), clientKeys: z.array(Key).min(1), replicaKeys: z.array(Key).min(1) }).strict().optional(),
  /**
   * Instrument shards (docs/scaling.md): the shards `lockstep shards init` writes as the first
   * shard map, placing this file's instruments; pins are instrument id → shard id.
   */
  sharding: z.object({ shards: z.array(ShardSpecSchema).min(1).max(SHARDS_MAX), pins: PinsSchema.default({}) }).strict().optional(),
  demo: z.object({ clients: posInt, ratePerSecond: posInt, mid: posInt, instrument: posInt }).strict(),
}).strict().superRefine((c, ctx) => {
  const ids = new Set<string>();
  c.replicas.forEach((r, i) => {
    if (ids.has(r.id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["replicas", i, "id"], message: `replica id "${r.id}" is used twice` });
    ids.add(r.id);
  });
  const regions = new Set((c.regions ?? []).map((r) => r.name));
  for (const [path, region] of [[["sequencer", "region"], c.sequencer.region], ...c.replicas.map((r, i) => [["replicas", i, "region"], r.region])] as [(string | number)[], string | undefined][]) {
    if (region !== undefined && !regions.has(region)) ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `region "${region}" is not listed in regions` });
  }
  c.replicas.forEach((r, i) => {
    if (c.auth !== undefined && (r.key === undefined || !c.auth.replicaKeys.some((k) => k.keyId === r.key))) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["replicas", i, "key"], message: "with auth, each replica names one of auth.replicaKeys" });
    }
  });
  const nodeIds = new Set<string>();
  (c.ha?.nodes ?? []).forEach((n, i) => {
    if (nodeIds.has(n.id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["ha", "nodes", i, "id"], message: `sequencer node id "${n.id}" is used twice` });
    nodeIds.add(n.id);
    if (c.auth !== undefined && (n.key === undefined || !c.auth.replicaKeys.some((k) => k.keyId === n.key))) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["ha", "nodes", i, "key"], message: "with auth, each sequencer node names one of auth.replicaKeys (it follows the leader like a replica)" });
    }
  });
  const instrumentIds = new Set<number>(), symbols = new Set<string>();
  c.instruments.forEach((inst, i) => {
    if (instrumentIds.has(inst.id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["instruments", i, "id"], message: `instrument id ${inst.id} is used twice` });
    if (symbols.has(inst.symbol)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["instruments", i, "symbol"], message: `symbol "${inst.symbol}" is used twice` });
    instrumentIds.add(inst.id); symbols.add(inst.symbol);
  });
  const shardIds = new Set<string>();
  (c.sharding?.shards ?? []).forEach((s, i) => {
    if (shardIds.has(s.id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["sharding", "shards", i, "id"], message: `shard id "${s.id}" is used twice` });
    shardIds.add(s.id);
  });
  for (const [inst, shard] of Object.entries(c.sharding?.pins ?? {})) {
    if (!instrumentIds.has(Number(inst))) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["sharding", "pins", inst], message: `no instrument ${inst}` });
    if (!shardIds.has(shard)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["sharding", "pins", inst], message: `shard "${shard}" is not listed in sharding.shards` });
  }
  c.instrumentsAway.forEach((id, i) => {
    if (!instrumentIds.has(id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["instrumentsAway", i], message: `instrument ${id} is not configured` });
  });
  if (!c.instruments.some((i) => i.id === c.demo.instrument)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["demo", "instrument"], message: `no instrument ${c.demo.instrument}` });
});

export type Config = z.infer<typeof ConfigSchema>;

export function loadConfig(path: string): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`${path}: ${e.code === "ENOENT" ? "no such file" : `not valid JSON (${e.message})`}`, { cause: err });
  }
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 10).map((i) => `  ${i.path.length > 0 ? i.path.join(".") : "(top level)"}: ${i.message}`);
    throw new ConfigError(`${path} is not a valid configuration:\n${lines.join("\n")}`);
  }
  return r.data;
}
