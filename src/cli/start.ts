/**
 * `lockstep start`: a local cluster as separate processes (one sequencer, the configured
 * replicas), demo traffic from a few trading clients, the endpoints, and a live status line.
 * Ctrl-C (or --duration S) stops the traffic, waits until every replica has applied the
 * last command, compares their state hashes, and stops every process it started.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { drain, spawnNode, statsOf, stopNode, type NodeProcess as Node, type ReplicaStats, type SequencerStats } from "../cluster/launcher.js";
import { TradingClient } from "../client/trading.js";
import { loadSecret } from "../protocol/auth.js";
import { runTraffic } from "../client/traffic.js";
import { parse, UserError } from "./args.js";
import { loadConfig, type Config } from "./config.js";
import { DEFAULT_CONFIG } from "./nodes.js";

const STATUS_INTERVAL_MS = 1000;

export async function runStart(args: string[]): Promise<number> {
  const { values: v } = parse(args, { config: { type: "string" }, duration: { type: "string" }, json: { type: "boolean" }, data: { type: "string" }, ephemeral: { type: "boolean" } });
  const configPath = String(v.config ?? DEFAULT_CONFIG);
  const cfg = loadConfig(configPath);
  const duration = v.duration === undefined ? Infinity : Number(v.duration);
  if (!(duration > 0)) throw new UserError(`--duration must be a positive number of seconds, not "${String(v.duration)}"`, 2);
  const json = v.json === true;
  const say = (s: string): boolean => (json ? process.stderr : process.stdout).write(s);
  const dataDir = typeof v.data === "string" ? resolve(v.data) : mkdtempSync(join(tmpdir(), "lockstep-"));
  const logDir = join(dataDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const nodes: Node[] = [];
  try {
    const seqPort = v.ephemeral === true ? 0 : cfg.sequencer.port;
    const seq = await spawnNode("sequencer", ["sequencer", "--config", configPath, "--data", dataDir, "--port", String(seqPort)], logDir);
    nodes.push(seq);
    const replicas = await Promise.all(cfg.replicas.map((r) =>
      spawnNode(r.id, ["replica", "--config", configPath, "--id", r.id, "--data", dataDir, "--sequencer", String(seq.ready.replicate), "--port", String(v.ephemeral === true ? 0 : r.port)], logDir)));
    nodes.push(...replicas);
    say(`lockstep cluster up (data and logs in ${dataDir})\n  trade:   ${String(seq.ready.trade)}\n  stats:   ${String(seq.ready.stats)}\n`);
    for (const r of replicas) say(`  ${r.name.padEnd(8)} ${String(r.ready.feed)}  ${String(r.ready.stats)}\n`);
    const summary = await runDemo(cfg, seq, replicas, duration, say, process.stdout.isTTY === true && !json);
    if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else say(`stopped: ${JSON.stringify(summary)}\n`);
    return summary.hashes_agree ? 0 : 1;
  } finally {
    await Promise.all(nodes.map(stopNode));
    if (typeof v.data !== "string") rmSync(dataDir, { recursive: true, force: true });
  }
}

async function runDemo(cfg: Config, seq: Node, replicas: Node[], durationS: number, say: (s: string) => boolean, tty: boolean): Promise<{ orders_acked: number; replicas: { id: string; seq: number; hash: string }[]; hashes_agree: boolean }> {
  const d = cfg.demo;
  let stopping = false;
  const onSignal = (): void => { stopping = true; };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const endAt = performance.now() + durationS * 1000;
  const stop = (): boolean => stopping || performance.now() >= endAt;
  const credentials = (acct: number): { keyId: string; secret: string } | undefined => {
    const k = cfg.auth?.clientKeys.find((x) => x.account === acct);
    return k === undefined ? undefined : { keyId: k.keyId, secret: loadSecret(k) };
  };
  const clients = await Promise.all(Array.from({ length: d.clients }, (_, i) => TradingClient.connect(String(seq.ready.trade), i + 1, 10_000, credentials(i + 1))));
  const perClient = d.ratePerSecond / d.clients;
  const traffic = Promise.all(clients.map((c, i) => runTraffic(c, { instrument: d.instrument, commands: Number.MAX_SAFE_INTEGER, seed: 7 + i, windowMax: 512, mid: d.mid, ratePerS: perClient, stop })));
  let last = { at: performance.now(), commands: 0 };
  const status = setInterval(() => {
    void (async () => {
      const s = await statsOf<SequencerStats>(seq);
      const rs = await Promise.all(replicas.map((r) => statsOf<ReplicaStats>(r)));
      const now = performance.now();
      const rate = Math.round(((s.commands - last.commands) * 1000) / (now - last.at));
      last = { at: now, commands: s.commands };
      // Lag as the sequencer sees it: its last seq minus what each replica reported applied.
      const lags = s.replicas.map((r) => `${r.id}:${r.lag}`).join(" ");
      say(`${tty ? "\r" : ""}orders/s ${rate}  seq ${s.seq}  acked ${s.acks}  lag ${lags}  hashes ${checkpointsAgree(rs) && s.divergences === 0 ? "agree" : "DISAGREE"}${tty ? "   " : "\n"}`);
    })().catch(() => undefined);
  }, STATUS_INTERVAL_MS);
  const results = await traffic;
  clearInterval(status);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  if (tty) say("\n");
  await Promise.all(clients.map((c) => c.close()));
  const finalSeq = (await statsOf<SequencerStats>(seq)).seq;
  const rs = await drain(replicas, finalSeq);
  const agree = rs.every((r) => r.seq === finalSeq && r.hash === rs[0]!.hash && r.forked === null);
  return { orders_acked: results.reduce((n, r) => n + r.acked, 0), replicas: rs.map((r) => ({ id: r.id, seq: r.seq, hash: r.hash })), hashes_agree: agree };
}

/** Replicas that reached the same checkpoint seq report the same hash there. */
function checkpointsAgree(rs: ReplicaStats[]): boolean {
  const byCk = new Map<number, string>();
  for (const r of rs) {
    if (r.forked !== null) return false;
    const seen = byCk.get(r.checkpoint.seq);
    if (seen !== undefined && seen !== r.checkpoint.hash) return false;
    byCk.set(r.checkpoint.seq, r.checkpoint.hash);
  }
  return true;
}
