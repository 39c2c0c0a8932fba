/**
 * `lockstep start`: a local cluster as separate processes (one sequencer, the configured
 * replicas), demo traffic from a few trading clients, the endpoints, and a live status line.
 * Ctrl-C (or --duration S) stops the traffic, waits until every replica has applied the
 * last command, compares their state hashes, and stops every process it started.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkpointsDisagree, drain, killNode, NodeStartError, spawnNode, statsOf, stopNode, type NodeProcess as Node, type ReplicaStats, type SequencerStats } from "../cluster/launcher.js";
import { TradingClient } from "../client/trading.js";
import { loadSecret } from "../protocol/auth.js";
import { runTraffic } from "../client/traffic.js";
import { parse, UserError } from "./args.js";
import { DEFAULT_CONFIG, loadConfig, type Config } from "../config/config.js";
import { makeLogger } from "./log.js";
import { DashboardServer, type DashboardOptions } from "../dashboard/server.js";

export const STATUS_INTERVAL_MS = 1000;
const DASHBOARD_PORT = 7080;

/** What both `lockstep start` and `lockstep start --shards N` take from the command line. */
export interface StartFlags {
  readonly configPath: string;
  readonly cfg: Config;
  readonly durationS: number;
  readonly json: boolean;
  /** Progress and endpoints: on stdout, or on stderr with --json (stdout then holds only the summary). */
  readonly say: (s: string) => boolean;
  readonly dataDir: string;
  /** --data was given: the directory is the user's and is kept. */
  readonly keepData: boolean;
  readonly logDir: string;
  readonly dashboardPort: number;
  readonly ephemeral: boolean;
  readonly dashboard: boolean;
}

export const START_OPTIONS = { config: { type: "string" }, duration: { type: "string" }, json: { type: "boolean" }, data: { type: "string" }, ephemeral: { type: "boolean" }, "dashboard-port": { type: "string" }, "no-dashboard": { type: "boolean" }, shards: { type: "string" } } as const;

export function startFlags(v: Record<string, string | boolean | undefined>): StartFlags {
  const configPath = String(v.config ?? DEFAULT_CONFIG);
  const cfg = loadConfig(configPath);
  const durationS = v.duration === undefined ? Infinity : Number(v.duration);
  if (!(durationS > 0)) throw new UserError(`--duration must be a positive number of seconds, not "${String(v.duration)}"`, 2);
  const json = v.json === true;
  const say = (s: string): boolean => (json ? process.stderr : process.stdout).write(s);
  const dataDir = typeof v.data === "string" ? resolve(v.data) : mkdtempSync(join(tmpdir(), "lockstep-"));
  const logDir = join(dataDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const dashboardPort = v["dashboard-port"] === undefined ? (v.ephemeral === true ? 0 : DASHBOARD_PORT) : Number(v["dashboard-port"]);
  if (!Number.isInteger(dashboardPort) || dashboardPort < 0 || dashboardPort > 65535) throw new UserError(`--dashboard-port must be 0..65535, not "${String(v["dashboard-port"])}"`, 2);
  return { configPath, cfg, durationS, json, say, dataDir, keepData: typeof v.data === "string", logDir, dashboardPort, ephemeral: v.ephemeral === true, dashboard: v["no-dashboard"] !== true };
}

export async function runStart(args: string[]): Promise<number> {
  const { values: v } = parse(args, START_OPTIONS);
  // Several groups, one per shard, in their own module; without --shards nothing below changes.
  if (v.shards !== undefined) return (await import("./start-shards.js")).runShardedStart(v);
  const { configPath, cfg, durationS: duration, json, say, dataDir, logDir, dashboardPort } = startFlags(v);
  // Every secret the cluster needs, checked before anything starts: a missing one is the
  // user's to fix, said in one line, not a node that dies on its way up.
  const logins = demoLogins(cfg);
  checkReplicaSecrets(cfg);
  let seq: Node | null = null;
  /** Replica processes by index; a slot is null while the dashboard has it killed. */
  const replicas: (Node | null)[] = [];
  let dashboard: DashboardServer | null = null;
  try {
    const seqPort = v.ephemeral === true ? 0 : cfg.sequencer.port;
    seq = await spawnNode("sequencer", ["sequencer", "--config", configPath, "--data", dataDir, "--port", String(seqPort)], logDir);
    const seqNode = seq;
    const replicaArgs = (id: string, port: number): string[] => ["replica", "--config", configPath, "--id", id, "--data", dataDir, "--sequencer", String(seqNode.ready.replicate), "--port", String(port)];
    replicas.push(...await Promise.all(cfg.replicas.map((r) => spawnNode(r.id, replicaArgs(r.id, v.ephemeral === true ? 0 : r.port), logDir))));
    say(`lockstep cluster up (data and logs in ${dataDir})\n  trade:   ${String(seq.ready.trade)}\n  stats:   ${String(seq.ready.stats)}\n`);
    for (const r of replicas) say(`  ${r!.name.padEnd(8)} ${String(r!.ready.feed)}  ${String(r!.ready.stats)}\n`);
    if (v["no-dashboard"] !== true) dashboard = await startDashboard(cfg, dashboardPort, seq, replicas, replicaArgs, logDir, say);
    const summary = await runDemo(cfg, logins, seq, replicas, duration, say, process.stdout.isTTY === true && !json);
    return endOfDemo(summary, json, say);
  } catch (err) {
    throw startFailure(err);
  } finally {
    dashboard?.stop();
    await Promise.all([seq, ...replicas].filter((n): n is Node => n !== null).map(stopNode));
    if (typeof v.data !== "string") rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The live dashboard over the local cluster, with kill and restart buttons for its replicas
 * (a restarted replica takes a free port if its old one is still held after the kill -9);
 * `label` begins the line that gives its URL.
 */
export async function startDashboard(cfg: Config, port: number, seq: Node, replicas: (Node | null)[], replicaArgs: (id: string, port: number) => string[], logDir: string, say: (s: string) => boolean, label = "dashboard", shard?: DashboardOptions["shard"]): Promise<DashboardServer> {
  const first = replicas.map((r) => r!);
  const restarting = new Set<string>();
  const restart = async (id: string): Promise<{ id: string; role: "replica"; stats: string; feed: string } | undefined> => {
    const i = first.findIndex((r) => r.name === id);
    if (replicas[i] !== null || restarting.has(id)) throw new Error(`${id} is running or already restarting`);
    restarting.add(id);
    try {
      replicas[i] = await spawnNode(id, replicaArgs(id, Number(first[i]!.ready.port)), logDir);
      return undefined;
    } catch {
      const n = await spawnNode(id, replicaArgs(id, 0), logDir);
      replicas[i] = n;
      say(`  ${id} restarted on a new port: ${String(n.ready.feed)}  ${String(n.ready.stats)}\n`);
      return { id, role: "replica", stats: String(n.ready.stats), feed: String(n.ready.feed) };
    } finally {
      restarting.delete(id);
    }
  };
  const dashboard = new DashboardServer({
    host: "127.0.0.1", port, instrument: cfg.demo.instrument, log: makeLogger("dashboard"),
    nodes: [{ id: "sequencer", role: "sequencer", stats: String(seq.ready.stats) }, ...first.map((r) => ({ id: r.name, role: "replica" as const, stats: String(r.ready.stats), feed: String(r.ready.feed) }))],
    controls: {
      nodes: first.map((r) => ({ id: r.name, actions: ["kill", "restart"] as const })),
      kill: async (id) => {
        const i = first.findIndex((r) => r.name === id);
        const n = replicas[i];
        replicas[i] = null;
        if (n) await killNode(n);
      },
      restart,
    },
    ...(shard === undefined ? {} : { shard }),
  });
  say(`  ${label}: http://127.0.0.1:${await dashboard.start()}/\n`);
  return dashboard;
}

async function runDemo(cfg: Config, logins: DemoLogin[], seq: Node, replicas: readonly (Node | null)[], durationS: number, say: (s: string) => boolean, tty: boolean): Promise<{ orders_acked: number; engine_rejects: Record<string, number>; replicas: { id: string; seq: number; hash: string; halted?: ReplicaStats["halted"] }[]; hashes_agree: boolean }> {
  const d = cfg.demo;
  let stopping = false;
  const onSignal = (): void => { stopping = true; };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const endAt = performance.now() + durationS * 1000;
  const stop = (): boolean => stopping || performance.now() >= endAt;
  const clients = await Promise.all(Array.from({ length: d.clients }, (_, i) => {
    const l = logins[i % logins.length]!;
    return TradingClient.connect(String(seq.ready.trade), l.account, 10_000, l.credentials);
  }));
  const perClient = d.ratePerSecond / d.clients;
  // Each client follows its own reports from a replica (spread over them, the others as fallbacks),
  // so it cancels and modifies only orders that are still open.
  const feeds = replicas.filter((r): r is Node => r !== null).map((r) => String(r.ready.feed));
  const feedFor = (i: number): { urls: string[]; credentials?: { keyId: string; secret: string } } => ({
    urls: feeds.map((_, k) => feeds[(i + k) % feeds.length]!), credentials: logins[i % logins.length]!.credentials,
  });
  const traffic = Promise.all(clients.map((c, i) => runTraffic(c, {
    instrument: d.instrument, commands: Number.MAX_SAFE_INTEGER, seed: 7 + i, windowMax: 512, mid: d.mid, ratePerS: perClient, stop, feed: feedFor(i),
  })));
  let last = { at: performance.now(), commands: 0 };
  const status = setInterval(() => {
    void (async () => {
      const s = await statsOf<SequencerStats>(seq);
      const rs = await Promise.all(replicas.filter((r): r is Node => r !== null).map((r) => statsOf<ReplicaStats>(r)));
      const now = performance.now();
      const rate = Math.round(((s.commands - last.commands) * 1000) / (now - last.at));
      last = { at: now, commands: s.commands };
      // Lag as the sequencer sees it: its last seq minus what each replica reported applied.
      const lags = s.replicas.map((r) => `${r.id}:${r.lag}`).join(" ");
      const halted = rs.filter((r) => r.halted !== null).map((r) => `  HALTED ${r.id} at seq ${r.halted!.seq} (${r.halted!.reason})`).join("");
      say(`${tty ? "\r" : ""}orders/s ${rate}  seq ${s.seq}  acked ${s.acks}  lag ${lags}  hashes ${checkpointsAgree(rs) && s.divergences === 0 ? "agree" : "DISAGREE"}${halted}${tty ? "   " : "\n"}`);
    })().catch(() => undefined);
  }, STATUS_INTERVAL_MS);
  const results = await traffic;
  clearInterval(status);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  if (tty) say("\n");
  await Promise.all(clients.map((c) => c.close()));
  const finalSeq = (await statsOf<SequencerStats>(seq)).seq;
  // A replica the dashboard left killed is not waited for; the others must agree.
  const rs = await drain(replicas.filter((r): r is Node => r !== null), finalSeq);
  const agree = rs.every((r) => r.seq === finalSeq && r.hash === rs[0]!.hash && r.forked === null && r.halted === null);
  for (const r of rs) if (r.halted !== null) say(`replica ${r.id} HALTED at seq ${r.halted.seq} (${r.halted.reason}): ${r.halted.message}\n`);
  // Every replica refuses the same commands; the first one's counts speak for all.
  return { orders_acked: results.reduce((n, r) => n + r.acked, 0), engine_rejects: rs[0]?.engine_rejects ?? {}, replicas: rs.map((r) => ({ id: r.id, seq: r.seq, hash: r.hash, ...(r.halted === null ? {} : { halted: r.halted }) })), hashes_agree: agree };
}

/**
 * The accounts the demo trades as: 1..clients without auth; with auth, the accounts of the
 * configured client keys (each login signed with its key), shared round-robin by the clients.
 */
/** Prints a demo's summary (one JSON line with --json) and gives the exit code: 0 when every replica agrees. */
export function endOfDemo(summary: { readonly hashes_agree: boolean }, json: boolean, say: (s: string) => unknown): number {
  if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else say(`stopped: ${JSON.stringify(summary)}\n`);
  return summary.hashes_agree ? 0 : 1;
}

/** A node that died on its way up as one line (with its last log line); anything else as it is. */
export function startFailure(err: unknown): unknown {
  return err instanceof NodeStartError ? new UserError(`the cluster did not start: ${err.message}`) : err;
}

export interface DemoLogin { account: number; credentials?: { keyId: string; secret: string } }

export function demoLogins(cfg: Config): DemoLogin[] {
  if (cfg.auth === undefined) return Array.from({ length: cfg.demo.clients }, (_, i) => ({ account: i + 1 }));
  const keys = cfg.auth.clientKeys.filter((k) => k.account > 0);
  if (keys.length === 0) throw new UserError("auth.clientKeys: the demo needs a client key for a trading account (account > 0)");
  return keys.map((k) => {
    try {
      return { account: k.account, credentials: { keyId: k.keyId, secret: loadSecret(k) } };
    } catch (err) {
      throw new UserError(`the demo cannot log in: ${(err as Error).message}`);
    }
  });
}

export function checkReplicaSecrets(cfg: Config): void {
  for (const k of cfg.auth?.replicaKeys ?? []) {
    try {
      loadSecret(k);
    } catch (err) {
      throw new UserError(`a node cannot log in: ${(err as Error).message}`);
    }
  }
}

/** No replica refused a forked log, and replicas that reached the same checkpoint seq report the same hash there. */
export function checkpointsAgree(rs: ReplicaStats[]): boolean {
  return rs.every((r) => r.forked === null) && !checkpointsDisagree(rs);
}
