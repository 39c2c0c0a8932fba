/**
 * `lockstep sequencer` and `lockstep replica`: build one node from the configuration and run
 * it until SIGTERM or SIGINT, then stop it cleanly (journal flushed and fsync'd; replica
 * snapshot saved). When listening, each prints one JSON "ready" line on stdout with its
 * endpoints, which is how `lockstep start` (or any supervisor) knows it is up.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SystemClock } from "../clock/clock.js";
import { Replica } from "../replica/replica.js";
import { statusIntervalFor } from "../replica/options.js";
import { Sequencer, type HaOptions } from "../sequencer/sequencer.js";
import { Coordinator } from "../sequencer/coordinator.js";
import { parse, portArg, UserError } from "./args.js";
import { untilSignal } from "./until-signal.js";
import { DEFAULT_CONFIG, loadConfig, type Config } from "../config/config.js";
import { makeLogger } from "./log.js";
import { Authenticator, loadSecret } from "../protocol/auth.js";

export const DEFAULT_DATA = ".lockstep";

/** A clock from the config, overridden by --clock-offset-ms / --clock-drift-ppm. */
function clockFrom(cfg: { offsetMs: number; driftPpm: number }, v: Record<string, string | boolean | undefined>): SystemClock {
  const num = (name: string, fallback: number, limit: number): number => {
    const x = v[name] === undefined ? fallback : Number(v[name]);
    if (!Number.isFinite(x) || Math.abs(x) > limit) throw new UserError(`--${name} must be a number within ±${limit}, not "${String(v[name])}"`, 2);
    return x;
  };
  return new SystemClock(num("clock-offset-ms", cfg.offsetMs, 3_600_000) * 1000, num("clock-drift-ppm", cfg.driftPpm, 1000));
}

const CLOCK_FLAGS = { "clock-offset-ms": { type: "string" }, "clock-drift-ppm": { type: "string" }, "drill-clock-control": { type: "string" } } as const;

/**
 * Drills only (`--drill-clock-control FILE`): on SIGUSR2 the node reads FILE, a JSON object
 * `{ "stepMs"?: number, "driftPpm"?: number }`, and changes its running clock by it, so a drill
 * can step a live node's clock or change its drift and watch what moves. Not for production.
 */
function clockControl(clock: SystemClock, file: string | boolean | undefined, log: ReturnType<typeof makeLogger>): void {
  if (typeof file !== "string") return;
  process.on("SIGUSR2", () => {
    try {
      const a = JSON.parse(readFileSync(file, "utf8")) as { stepMs?: unknown; driftPpm?: unknown };
      const stepMs = a.stepMs === undefined ? 0 : Number(a.stepMs);
      const driftPpm = a.driftPpm === undefined ? undefined : Number(a.driftPpm);
      if (!Number.isFinite(stepMs) || Math.abs(stepMs) > 3_600_000 || (driftPpm !== undefined && (!Number.isFinite(driftPpm) || Math.abs(driftPpm) > 1000))) throw new Error("stepMs must be within ±1 h and driftPpm within ±1000");
      clock.adjust({ stepUs: stepMs * 1000, ...(driftPpm === undefined ? {} : { driftPpm }) });
      log.warn({ stepMs, driftPpm: clock.driftPpm, injectedErrorUs: Math.round(clock.injectedErrorUs()) }, "drill: clock changed");
    } catch (err) {
      log.error({ err: (err as Error).message, file }, "drill: clock control file refused");
    }
  });
}

/** The authenticators a configuration asks for, or undefined when it has no auth section. */
function authFrom(cfg: Config): { clients: Authenticator; replicas: Authenticator } | undefined {
  if (cfg.auth === undefined) return undefined;
  try {
    const skewUs = cfg.auth.skewMsMax * 1000;
    return { clients: new Authenticator(cfg.auth.clientKeys, skewUs), replicas: new Authenticator(cfg.auth.replicaKeys.map((k) => ({ ...k, account: 0 })), skewUs) };
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

/** Every sequencer node's URL for `path` (/replicate for replicas, /trade for clients): the one sequencer, or each ha node. */
export function sequencerUrls(cfg: Config, path: "/replicate" | "/trade"): string[] {
  return cfg.ha === undefined ? [`ws://${cfg.sequencer.host}:${cfg.sequencer.port}${path}`] : cfg.ha.nodes.map((n) => `ws://${n.host}:${n.port}${path}`);
}

/** Leadership settings for ha node `id`, or undefined without ha. */
function haFrom(cfg: Config, id: string | undefined, log: ReturnType<typeof makeLogger>): HaOptions | undefined {
  if (cfg.ha === undefined) {
    if (id !== undefined) throw new UserError("--id is for sequencer nodes of an ha configuration; this one has no ha section", 2);
    return undefined;
  }
  const ha = cfg.ha;
  const node = ha.nodes.find((n) => n.id === id);
  if (node === undefined) throw new UserError(`with ha, --id must name a sequencer node in the configuration (${ha.nodes.map((n) => n.id).join(", ")})`, 2);
  const { credentials } = replicaAuth(cfg, node.key);
  return {
    id: node.id, isrLagMsMax: ha.isrLagMsMax, ...(credentials === undefined ? {} : { credentials }),
    coordinator: new Coordinator({ hosts: ha.etcd, cluster: ha.cluster, leaseTtlS: ha.leaseTtlS, id: node.id, log }),
    onFenced: (why) => {
      log.fatal({ why }, "fenced: exiting so that a supervisor restarts this node as a standby");
      setImmediate(() => process.exit(3));
    },
  };
}

export function sequencerFromConfig(cfg: Config, dataDir: string, port: number, log = makeLogger("sequencer"), clock = new SystemClock(cfg.sequencer.clock.offsetMs * 1000, cfg.sequencer.clock.driftPpm), ha?: HaOptions): Sequencer {
  const s = cfg.sequencer;
  return new Sequencer({
    host: ha === undefined ? s.host : cfg.ha!.nodes.find((n) => n.id === ha.id)!.host, port, epoch: s.epoch, instruments: cfg.instruments,
    journal: { ...s.journal, dir: resolve(dataDir, ...(ha === undefined ? [] : [ha.id]), s.journal.dir) }, ack: s.ack, ...(ha === undefined ? {} : { ha }),
    frameBytesMax: s.frameBytesMax, ...(s.followerSilenceMsMax === undefined ? {} : { followerSilenceMsMax: s.followerSilenceMsMax }), batchRecordsMax: s.batchRecordsMax, replicaBufferBytesMax: s.replicaBufferBytesMax, ringRecordsMax: s.ringRecordsMax,
    clock, log, ...(authFrom(cfg) === undefined ? {} : { auth: authFrom(cfg)! }), ...(s.limits === undefined ? {} : { limits: s.limits }),
    ...(s.operatorAccount === undefined ? {} : { operatorAccount: s.operatorAccount }),
  });
}

export async function runSequencer(args: string[]): Promise<number> {
  const { values: v } = parse(args, { config: { type: "string" }, data: { type: "string" }, port: { type: "string" }, id: { type: "string" }, ...CLOCK_FLAGS });
  const cfg = loadConfig(String(v.config ?? DEFAULT_CONFIG));
  const dataDir = String(v.data ?? DEFAULT_DATA);
  const id = v.id === undefined ? undefined : String(v.id);
  const log = makeLogger(id === undefined ? "sequencer" : `sequencer-${id}`);
  const ha = haFrom(cfg, id, log);
  const node = cfg.ha?.nodes.find((n) => n.id === id);
  const clock = clockFrom(cfg.sequencer.clock, v);
  clockControl(clock, v["drill-clock-control"], log);
  const seq = sequencerFromConfig(cfg, dataDir, portArg(v.port, node?.port ?? cfg.sequencer.port), log, clock, ha);
  let port: number;
  try {
    port = await seq.start();
  } catch (err) {
    seq.stop();
    throw new UserError(`sequencer could not start${cfg.ha === undefined ? "" : ` (etcd at ${cfg.ha.etcd.join(", ")})`}: ${(err as Error).message}`);
  }
  const base = `${node?.host ?? cfg.sequencer.host}:${port}`;
  log.info({ port, seq: seq.lastSeq, leader: seq.isLeader }, "sequencer listening");
  process.stdout.write(`${JSON.stringify({ ready: true, role: "sequencer", ...(id === undefined ? {} : { id }), port, trade: `ws://${base}/trade`, replicate: `ws://${base}/replicate`, stats: `http://${base}/stats` })}\n`);
  return untilSignal(async () => {
    await seq.stop();
    log.info({ seq: seq.lastSeq }, "sequencer stopped");
  });
}

function replicaAuth(cfg: Config, keyId: string | undefined): { auth?: Authenticator; credentials?: { keyId: string; secret: string } } {
  const a = authFrom(cfg);
  if (a === undefined || keyId === undefined) return {};
  const spec = cfg.auth!.replicaKeys.find((k) => k.keyId === keyId)!;
  try {
    return { auth: a.clients, credentials: { keyId, secret: loadSecret(spec) } };
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

export async function runReplica(args: string[]): Promise<number> {
  const { values: v } = parse(args, { config: { type: "string" }, data: { type: "string" }, port: { type: "string" }, id: { type: "string" }, sequencer: { type: "string" }, "drill-truth": { type: "boolean" }, ...CLOCK_FLAGS });
  const cfg = loadConfig(String(v.config ?? DEFAULT_CONFIG));
  const rc = cfg.replicas.find((r) => r.id === v.id);
  if (rc === undefined) throw new UserError(`--id must name a replica in the configuration (${cfg.replicas.map((r) => r.id).join(", ")})`, 2);
  const log = makeLogger(`replica-${rc.id}`);
  const sequencerUrl = v.sequencer === undefined ? sequencerUrls(cfg, "/replicate") : String(v.sequencer).split(",");
  const clock = clockFrom(rc.clock, v);
  clockControl(clock, v["drill-clock-control"], log);
  const r = new Replica({
    id: rc.id, sequencerUrl, host: rc.host, port: portArg(v.port, rc.port), dataDir: join(String(v.data ?? DEFAULT_DATA), rc.id),
    instruments: cfg.instruments, engine: { openOrdersMaxPerAccount: cfg.accountOpenOrdersMax, recentClientOrderIdsMaxPerAccount: cfg.accountRecentClientOrderIdsMax, awayInstruments: cfg.instrumentsAway }, ...(cfg.sequencer.operatorAccount === undefined ? {} : { operatorAccount: cfg.sequencer.operatorAccount }), ...cfg.replicaDefaults, log, clock, drillTruth: v["drill-truth"] === true,
    statusIntervalMs: statusIntervalFor(cfg.sequencer.ack.mode, cfg.replicaDefaults.statusIntervalMs),
    ...replicaAuth(cfg, rc.key),
  });
  const port = await r.start();
  const base = `${rc.host}:${port}`;
  log.info({ port, seq: r.appliedSeq, sequencerUrl }, "replica listening");
  process.stdout.write(`${JSON.stringify({ ready: true, role: "replica", id: rc.id, port, feed: `ws://${base}/feed`, stats: `http://${base}/stats` })}\n`);
  return untilSignal(async () => {
    await r.stop();
    log.info({ seq: r.appliedSeq }, "replica stopped");
  });
}
