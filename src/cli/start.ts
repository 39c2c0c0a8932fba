/**
 * `lockstep start`: a local cluster as separate processes (one sequencer, the configured
 * replicas), demo traffic from a few trading clients, the endpoints, and a live status line.
 * Ctrl-C (or --duration S) stops the traffic, waits until every replica has applied the
 * last command, compares their state hashes, and stops every process it started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { TradingClient } from "../client/trading.js";
import { runTraffic } from "../client/traffic.js";
import { parse, UserError } from "./args.js";
import { loadConfig, type Config } from "./config.js";
import { DEFAULT_CONFIG } from "./nodes.js";

const BIN = resolve(import.meta.dirname, "..", "..", "..", "bin", "lockstep.js");
const READY_TIMEOUT_MS = 20_000;
const DRAIN_TIMEOUT_MS = 60_000;
const STATUS_INTERVAL_MS = 1000;

interface Node { name: string; child: ChildProcess; ready: Record<string, unknown> }
interface ReplicaStats { id: string; seq: number; hash: string; checkpoint: { seq: number; hash: string }; forked: string | null }
interface SequencerStats { seq: number; commands: number; acks: number; divergences: number; replicas: { id: string; applied: number; lag: number }[] }

function spawnNode(name: string, args: string[], logDir: string): Promise<Node> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LOCKSTEP_LOG: process.env.LOCKSTEP_LOG ?? "info" } });
  child.stderr!.pipe(createWriteStream(join(logDir, `${name}.log`)));
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not report ready within ${READY_TIMEOUT_MS} ms (see ${join(logDir, `${name}.log`)})`)), READY_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready (see ${join(logDir, `${name}.log`)})`));
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const ready = JSON.parse(line) as Record<string, unknown>;
        if (ready.ready === true) {
          clearTimeout(timer);
          resolveReady({ name, child, ready });
        }
      } catch {
        /* not the ready line */
      }
    });
  });
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return (await res.json()) as T;
}

function stopNode(n: Node): Promise<void> {
  return new Promise((done) => {
    if (n.child.exitCode !== null) return done();
    const kill = setTimeout(() => n.child.kill("SIGKILL"), 10_000);
    n.child.once("exit", () => {
      clearTimeout(kill);
      done();
    });
    n.child.kill("SIGTERM");
  });
}

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
  const clients = await Promise.all(Array.from({ length: d.clients }, (_, i) => TradingClient.connect(String(seq.ready.trade), i + 1)));
  const perClient = d.ratePerSecond / d.clients;
  const traffic = Promise.all(clients.map((c, i) => runTraffic(c, { instrument: d.instrument, commands: Number.MAX_SAFE_INTEGER, seed: 7 + i, windowMax: 512, mid: d.mid, ratePerS: perClient, stop })));
  let last = { at: performance.now(), commands: 0 };
  const status = setInterval(() => {
    void (async () => {
      const s = await getJson<SequencerStats>(String(seq.ready.stats));
      const rs = await Promise.all(replicas.map((r) => getJson<ReplicaStats>(String(r.ready.stats))));
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
  const finalSeq = (await getJson<SequencerStats>(String(seq.ready.stats))).seq;
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

/** Polls the replicas' /stats until all have applied `seq` (bounded), then returns their stats. */
async function drain(replicas: Node[], seq: number): Promise<ReplicaStats[]> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const rs = await Promise.all(replicas.map((r) => getJson<ReplicaStats>(String(r.ready.stats))));
    if (rs.every((r) => r.seq >= seq) || performance.now() > deadline) return rs;
    await new Promise((r) => setTimeout(r, 50));
  }
}
