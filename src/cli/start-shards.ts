/**
 * `lockstep start --shards N`: the local demo with N groups, one per shard ("s1" … "sN"), each a
 * whole group as `lockstep start` runs one (a sequencer and the configured replicas, as
 * processes, with their own data directory, journal and ports), and demo traffic routed to them
 * by a shard map. No etcd: the map is built here, by the placement rule over the shards, and
 * handed to the demo's clients (src/client/sharded.ts).
 *
 *  1. instruments  the configuration's, placed by the rule on s1 … sN; when a shard would hold
 *                  none, copies of the demo instrument are added (see demoInstruments).
 *  2. groups       each shard's configuration (dataDir/<shard>/config.json) lists only the
 *                  instruments the map places on it, so a misrouted order would be refused.
 *  3. map          version 1, from the rule and the groups' endpoints (their ready lines).
 *  4. traffic      one stream per instrument (up to DEMO_STREAMS_MAX), each on the connection
 *                  the map routes its instrument to, following its reports on that shard's feed.
 *  5. stop         per shard: wait until every replica has applied the shard's last command,
 *                  compare their hashes; one summary with a row per shard.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ShardedTradingClient } from "../client/sharded.js";
import { runTraffic, type TrafficResult } from "../client/traffic.js";
import { drain, spawnNode, statsOf, stopNode, type NodeProcess as Node, type ReplicaStats, type SequencerStats } from "../cluster/launcher.js";
import type { Config } from "../config/config.js";
import type { ShardRow } from "../dashboard/collector.js";
import type { DashboardServer } from "../dashboard/server.js";
import { firstShardMap, type ShardMap, type ShardSpec } from "../shard/map.js";
import { Rendezvous } from "../shard/rendezvous.js";
import { assert } from "../util/assert.js";
import { UserError } from "./args.js";
import { checkpointsAgree, checkReplicaSecrets, demoLogins, endOfDemo, startDashboard, startFailure, startFlags, STATUS_INTERVAL_MS, type DemoLogin, type StartFlags } from "./start.js";

/** Groups one local demo runs: each is a sequencer and every configured replica, on one machine. */
export const DEMO_SHARDS_MAX = 8;
/** Without --ephemeral, shard k (from 0) listens on the configured ports plus k × this. */
export const SHARD_PORT_STRIDE = 1000;
/** Instruments per shard, on average, the demo wants before it stops adding copies of the demo instrument. */
const DEMO_INSTRUMENTS_PER_SHARD = 2;
/** Copies of the demo instrument the demo may add to give every shard one (the rule needs far fewer). */
const GENERATED_INSTRUMENTS_MAX = 1_000;
/** Traffic streams (one instrument each, each with its own trading and feed connections). */
const DEMO_STREAMS_MAX = 32;

type Instrument = Config["instruments"][number];

/** One shard's group: its configuration and, once started, its processes (a replica slot is null while the dashboard has it killed). */
interface Group {
  readonly id: string;
  readonly cfg: Config;
  readonly configPath: string;
  readonly dataDir: string;
  readonly logDir: string;
  readonly seqPort: number;
  readonly replicaPorts: readonly number[];
  seq: Node | null;
  readonly replicas: (Node | null)[];
}

interface ShardSummary {
  id: string;
  instruments: number[];
  orders_acked: number;
  /** Commands the shard's sequencer refused (a LockstepError: e.g. UNKNOWN_INSTRUMENT, were one misrouted) or lost with a connection. */
  commands_refused: number;
  engine_rejects: Record<string, number>;
  seq: number;
  replicas: { id: string; seq: number; hash: string; halted?: ReplicaStats["halted"] }[];
  hashes_agree: boolean;
}

export interface ShardedStartSummary {
  map_version: number;
  shards: ShardSummary[];
  orders_acked: number;
  hashes_agree: boolean;
}

export async function runShardedStart(v: Record<string, string | boolean | undefined>): Promise<number> {
  const n = shardsFlag(v.shards);
  const f = startFlags(v);
  const ids = Array.from({ length: n }, (_, i) => `s${i + 1}`);
  const instruments = demoInstruments(f.cfg, ids);
  const rule = new Rendezvous(ids.map((id) => ({ id })));
  const groups = ids.map((id, k) => planGroup(f, id, k, instruments.filter((i) => rule.place(i.id) === id)));
  checkReplicaSecrets(f.cfg);
  const dashboards: DashboardServer[] = [];
  try {
    const started = await Promise.allSettled(groups.map(startGroup));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    const map = firstShardMap(groups.map(specOf), {}, instruments.map((i) => i.id));
    // The groups were configured from the same rule the map was built by: each holds what the map places on it.
    for (const g of groups) assert(map.shards.find((s) => s.id === g.id)!.instruments.join() === g.cfg.instruments.map((i) => i.id).sort((a, b) => a - b).join(), `shard ${g.id}'s instruments differ from the map's`);
    f.say(`lockstep: ${n} shards up (data and logs in ${f.dataDir}), shard map version ${map.version}\n`);
    for (const g of groups) f.say(groupText(g, map));
    if (instruments.length > f.cfg.instruments.length) f.say(`  (the configuration has ${f.cfg.instruments.length} instrument${f.cfg.instruments.length === 1 ? "" : "s"}; the demo added ${instruments.length - f.cfg.instruments.length} copies of instrument ${f.cfg.demo.instrument} so that every shard holds some)\n`);
    if (f.dashboard) {
      const all = (): ShardRow[] => dashboards.map((d) => d.overview()).filter((r): r is ShardRow => r !== undefined);
      for (const [k, g] of groups.entries()) dashboards.push(await dashboardOf(g, k, f, all));
    }
    const summary = await runShardedDemo(f, map, groups);
    return endOfDemo(summary, f.json, f.say);
  } catch (err) {
    throw startFailure(err);
  } finally {
    for (const d of dashboards) d.stop();
    await Promise.all(groups.flatMap((g) => [g.seq, ...g.replicas]).filter((x): x is Node => x !== null).map(stopNode));
    if (!f.keepData) rmSync(f.dataDir, { recursive: true, force: true });
  }
}

function shardsFlag(raw: string | boolean | undefined): number {
  const n = Number(raw);
  if (typeof raw !== "string" || !/^[0-9]+$/.test(raw) || n < 1 || n > DEMO_SHARDS_MAX) throw new UserError(`--shards must be an integer from 1 to ${DEMO_SHARDS_MAX} (groups of the local demo), not "${String(raw)}"`, 2);
  return n;
}

/**
 * The configuration's instruments, if the rule gives every shard one. Otherwise copies of the
 * demo instrument (same ticks, lots and limits, so the demo's mid price suits them all), with ids
 * after the highest configured one, are added until every shard holds one and there are at least
 * DEMO_INSTRUMENTS_PER_SHARD × N instruments in all.
 */
export function demoInstruments(cfg: Config, shardIds: readonly string[]): Instrument[] {
  const rule = new Rendezvous(shardIds.map((id) => ({ id })));
  const out = [...cfg.instruments];
  const held = new Set(out.map((i) => rule.place(i.id)));
  if (held.size === shardIds.length) return out;
  const template = cfg.instruments.find((i) => i.id === cfg.demo.instrument)!;
  let id = Math.max(...out.map((i) => i.id));
  while (held.size < shardIds.length || out.length < DEMO_INSTRUMENTS_PER_SHARD * shardIds.length) {
    if (out.length - cfg.instruments.length >= GENERATED_INSTRUMENTS_MAX) throw new UserError(`the demo could not give every shard an instrument with ${GENERATED_INSTRUMENTS_MAX} copies of instrument ${template.id}`);
    id++;
    out.push({ ...template, id, symbol: `${template.symbol.slice(0, 24)}-${id}` });
    held.add(rule.place(id));
  }
  return out;
}

/** Shard `id`'s group: its own configuration file (its instruments only), data and log directories, and ports. */
function planGroup(f: StartFlags, id: string, k: number, instruments: Instrument[]): Group {
  const dataDir = join(f.dataDir, id);
  const logDir = join(f.logDir, id);
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const port = (p: number): number => {
    if (f.ephemeral || p === 0) return 0;
    const q = p + k * SHARD_PORT_STRIDE;
    if (q > 65535) throw new UserError(`shard ${id} would listen on port ${q} (configured ${p} + ${k} × ${SHARD_PORT_STRIDE}); use --ephemeral or lower ports`, 2);
    return q;
  };
  const cfg: Config = { ...f.cfg, instruments, demo: { ...f.cfg.demo, instrument: instruments[0]!.id } };
  const configPath = join(dataDir, "config.json");
  writeFileSync(configPath, `${JSON.stringify(cfg, null, 2)}\n`);
  return { id, cfg, configPath, dataDir, logDir, seqPort: port(f.cfg.sequencer.port), replicaPorts: f.cfg.replicas.map((r) => port(r.port)), seq: null, replicas: [] };
}

function replicaArgs(g: Group): (id: string, port: number) => string[] {
  return (id, port) => ["replica", "--config", g.configPath, "--id", id, "--data", g.dataDir, "--sequencer", String(g.seq!.ready.replicate), "--port", String(port)];
}

/** The sequencer, then its replicas; each process is recorded in `g` as soon as it is up, so a failed start leaves nothing running. */
async function startGroup(g: Group): Promise<void> {
  g.seq = await spawnNode("sequencer", ["sequencer", "--config", g.configPath, "--data", g.dataDir, "--port", String(g.seqPort)], g.logDir);
  const args = replicaArgs(g);
  const started = await Promise.allSettled(g.cfg.replicas.map(async (r, i) => {
    g.replicas[i] = await spawnNode(r.id, args(r.id, g.replicaPorts[i]!), g.logDir);
  }));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}

function specOf(g: Group): ShardSpec {
  return { id: g.id, weight: 1, endpoints: { trade: [String(g.seq!.ready.trade)], feed: g.replicas.map((r) => String(r!.ready.feed)) } };
}

function groupText(g: Group, map: ShardMap): string {
  const held = map.shards.find((s) => s.id === g.id)!.instruments;
  const lines = [`  ${g.id}: instruments ${held.join(", ")}`, `    trade:   ${String(g.seq!.ready.trade)}`, `    stats:   ${String(g.seq!.ready.stats)}`];
  for (const r of g.replicas) lines.push(`    ${r!.name.padEnd(8)} ${String(r!.ready.feed)}  ${String(r!.ready.stats)}`);
  return `${lines.join("\n")}\n`;
}

/**
 * A dashboard per shard: shard k's on the dashboard port plus k (each on a free port with
 * --ephemeral), with its nodes, their kill and restart buttons, and the book of its first
 * instrument; and on every one of them, a line per shard (`all`) linking to the others
 * (docs/scaling.md).
 */
async function dashboardOf(g: Group, k: number, f: StartFlags, all: () => ShardRow[]): Promise<DashboardServer> {
  const shard = { id: g.id, instruments: g.cfg.instruments.map((i) => i.id).sort((a, b) => a - b), all };
  return startDashboard(g.cfg, f.dashboardPort === 0 ? 0 : f.dashboardPort + k, g.seq!, g.replicas, replicaArgs(g), g.logDir, f.say, `dashboard of shard ${g.id} (instrument ${g.cfg.demo.instrument})`, shard);
}

/** One stream of demo traffic: an instrument, its shard, and who trades it. */
interface Stream { readonly instrument: number; readonly shard: string; readonly login: DemoLogin }

/**
 * The instruments taken round-robin over the shards (each shard's first, then each one's
 * second, …), so the first N streams cover every shard. Without auth each stream trades as its
 * own account (1, 2, …); with auth, as the configured client keys in turn.
 */
function demoStreams(cfg: Config, map: ShardMap): Stream[] {
  const order: { instrument: number; shard: string }[] = [];
  for (let r = 0; order.length < map.shards.reduce((x, s) => x + s.instruments.length, 0); r++) {
    for (const s of map.shards) if (r < s.instruments.length) order.push({ instrument: s.instruments[r]!, shard: s.id });
  }
  const count = Math.min(DEMO_STREAMS_MAX, Math.max(cfg.demo.clients, order.length));
  const logins = cfg.auth === undefined ? Array.from({ length: count }, (_, i) => ({ account: i + 1 })) : demoLogins(cfg);
  return Array.from({ length: count }, (_, k) => ({ ...order[k % order.length]!, login: logins[k % logins.length]! }));
}

async function runShardedDemo(f: StartFlags, map: ShardMap, groups: readonly Group[]): Promise<ShardedStartSummary> {
  let stopping = false;
  const onSignal = (): void => { stopping = true; };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const endAt = performance.now() + f.durationS * 1000;
  const stop = (): boolean => stopping || performance.now() >= endAt;
  const streams = demoStreams(f.cfg, map);
  // One routing client per account; each stream trades on the connection the map routes its instrument to.
  const clients = new Map<number, ShardedTradingClient>();
  for (const s of streams) if (!clients.has(s.login.account)) clients.set(s.login.account, new ShardedTradingClient(map, { account: s.login.account, ...(s.login.credentials === undefined ? {} : { credentials: s.login.credentials }) }));
  const conns = await Promise.all(streams.map((s) => clients.get(s.login.account)!.connectionFor(s.instrument)));
  const traffic = Promise.all(streams.map((s, k) => {
    const feeds = map.shards.find((x) => x.id === s.shard)!.endpoints.feed;
    return runTraffic(conns[k]!, {
      instrument: s.instrument, commands: Number.MAX_SAFE_INTEGER, seed: 7 + k, windowMax: 512, mid: f.cfg.demo.mid, ratePerS: f.cfg.demo.ratePerSecond / streams.length, stop,
      feed: { urls: feeds.map((_, i) => feeds[(k + i) % feeds.length]!), ...(s.login.credentials === undefined ? {} : { credentials: s.login.credentials }) },
    });
  }));
  const tty = process.stdout.isTTY === true && !f.json;
  const status = statusLines(groups, f.say, tty);
  const results = await traffic;
  clearInterval(status);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  if (tty) f.say("\n");
  await Promise.all([...clients.values()].map((c) => c.close()));
  const shards = await Promise.all(groups.map((g) => settle(g, map, streams, results, f.say)));
  return { map_version: map.version, shards, orders_acked: shards.reduce((x, s) => x + s.orders_acked, 0), hashes_agree: shards.every((s) => s.hashes_agree) };
}

/**
 * Every STATUS_INTERVAL_MS, one line: the total rate, then each shard's seq, acks, replica lag
 * and hash agreement. A tick is skipped while the last one still waits for a node's stats (a
 * loaded machine), so lines come in order and each rate is over the time between two of them.
 */
function statusLines(groups: readonly Group[], say: (s: string) => boolean, tty: boolean): NodeJS.Timeout {
  let last = { at: performance.now(), commands: 0 };
  let busy = false;
  return setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const rows = await Promise.all(groups.map(async (g) => {
        const s = await statsOf<SequencerStats>(g.seq!);
        const rs = await Promise.all(g.replicas.filter((r): r is Node => r !== null).map((r) => statsOf<ReplicaStats>(r)));
        const halted = rs.filter((r) => r.halted !== null).map((r) => ` HALTED ${r.id}`).join("");
        return { commands: s.commands, text: `${g.id} seq ${s.seq} acked ${s.acks} lag ${s.replicas.map((r) => `${r.id}:${r.lag}`).join(" ")} ${checkpointsAgree(rs) && s.divergences === 0 ? "agree" : "DISAGREE"}${halted}` };
      }));
      const now = performance.now();
      const commands = rows.reduce((x, r) => x + r.commands, 0);
      const rate = Math.round(((commands - last.commands) * 1000) / (now - last.at));
      last = { at: now, commands };
      say(`${tty ? "\r" : ""}orders/s ${rate}  ${rows.map((r) => r.text).join("  |  ")}${tty ? "   " : "\n"}`);
    })().catch(() => undefined).finally(() => { busy = false; });
  }, STATUS_INTERVAL_MS);
}

/** Shard `g` after the traffic: its replicas drained to its last seq, their hashes compared, its streams' acks summed. */
async function settle(g: Group, map: ShardMap, streams: readonly Stream[], results: readonly TrafficResult[], say: (s: string) => boolean): Promise<ShardSummary> {
  const finalSeq = (await statsOf<SequencerStats>(g.seq!)).seq;
  // A replica the dashboard left killed is not waited for; the others must agree.
  const rs = await drain(g.replicas.filter((r): r is Node => r !== null), finalSeq);
  const agree = rs.every((r) => r.seq === finalSeq && r.hash === rs[0]!.hash && r.forked === null && r.halted === null);
  for (const r of rs) if (r.halted !== null) say(`shard ${g.id}: replica ${r.id} HALTED at seq ${r.halted.seq} (${r.halted.reason}): ${r.halted.message}\n`);
  const mine = results.filter((_, k) => streams[k]!.shard === g.id);
  return {
    id: g.id, instruments: map.shards.find((s) => s.id === g.id)!.instruments, orders_acked: mine.reduce((x, r) => x + r.acked, 0), commands_refused: mine.reduce((x, r) => x + r.rejected, 0), engine_rejects: rs[0]?.engine_rejects ?? {}, seq: finalSeq,
    replicas: rs.map((r) => ({ id: r.id, seq: r.seq, hash: r.hash, ...(r.halted === null ? {} : { halted: r.halted }) })), hashes_agree: agree,
  };
}
