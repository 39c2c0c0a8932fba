/**
 * Starting and stopping nodes as child processes: `lockstep start` and the drills use it.
 * A node is ready when it prints its JSON ready line; nothing here sleeps to guess.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface, type Interface } from "node:readline";

/** The package's root, seen from dist/src/cluster (compiled) or src/cluster (tests run from source). */
export const PACKAGE_ROOT = [resolve(import.meta.dirname, "..", ".."), resolve(import.meta.dirname, "..", "..", "..")].find((d) => existsSync(join(d, "bin", "lockstep.js"))) ?? resolve(import.meta.dirname, "..", "..", "..");
/** Nodes always run the compiled build (bin/lockstep.js loads dist/). */
const BIN = join(PACKAGE_ROOT, "bin", "lockstep.js");
const READY_TIMEOUT_MS = 20_000;
/** Of a node's stderr, this much is kept in memory to say why it died before it was ready. */
const STDERR_TAIL_BYTES = 4096;

/**
 * A node exited, or never said it was ready; `lastLine` is the end of what it wrote on stderr,
 * and the message ends with it (where a node's log is gone, as in CI, it is all there is).
 */
export class NodeStartError extends Error {
  constructor(message: string, readonly lastLine: string) {
    super(lastLine === "" ? message : `${message}: ${lastLine}`);
  }
}
const STOP_TIMEOUT_MS = 10_000;

export interface NodeProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The node's ready line: role, port and endpoint URLs. */
  readonly ready: Record<string, unknown>;
  /** Every line the node writes on stdout (the ready line, and e.g. --trace-gc's lines). */
  readonly stdout: Interface;
}

import type { ReplicaHopSnapshots, ReplicaStats } from "../replica/replica.js";

export type { ReplicaStats };
export type { SequencerStats } from "../sequencer/sequencer.js";

/** What a caller may add to a node's process: flags for node itself, environment variables. */
export interface SpawnExtras {
  readonly nodeArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs `lockstep ARGS…` with stderr appended to logDir/NAME.log (a restarted node adds to what
 * it wrote before); resolves with its ready line. A node that is not ready within
 * READY_TIMEOUT_MS is killed, so a failed start leaves no process behind.
 */
export function spawnNode(name: string, args: string[], logDir: string, extras: SpawnExtras = {}): Promise<NodeProcess> {
  // Supervised: the node ignores SIGINT (a terminal's Ctrl-C) and waits for our SIGTERM.
  // LOCKSTEP_NODE_ARGS: flags for the node processes (e.g. --cpu-prof), which NODE_OPTIONS refuses.
  const nodeArgs = [...(process.env.LOCKSTEP_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""), ...(extras.nodeArgs ?? [])];
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LOCKSTEP_LOG: process.env.LOCKSTEP_LOG ?? "info", LOCKSTEP_SUPERVISED: "1", ...extras.env } });
  const log = join(logDir, `${name}.log`);
  child.stderr!.pipe(createWriteStream(log, { flags: "a" }));
  let tail = "";
  child.stderr!.on("data", (b: Buffer) => { tail = (tail + b.toString("utf8")).slice(-STDERR_TAIL_BYTES); });
  const lastLine = (): string => tail.trimEnd().split("\n").at(-1) ?? "";
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new NodeStartError(`${name} did not report ready within ${READY_TIMEOUT_MS} ms (see ${log}); killed`, lastLine()));
    }, READY_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      // stderr may still hold the reason: let it drain first (unless it has closed already).
      const failed = (): void => reject(new NodeStartError(`${name} exited with code ${code} before it was ready`, lastLine()));
      if (child.stderr!.closed) failed();
      else child.stderr!.once("close", failed);
    });
    const stdout = createInterface({ input: child.stdout! });
    stdout.on("line", (line) => {
      try {
        const ready = JSON.parse(line) as Record<string, unknown>;
        if (ready.ready === true) {
          clearTimeout(timer);
          resolveReady({ name, child, ready, stdout });
        }
      } catch {
        /* not the ready line */
      }
    });
  });
}

/** kill -9, as a drill does; resolves when the process is gone. */
export function killNode(n: NodeProcess): Promise<void> {
  return new Promise((resolve) => {
    if (n.child.exitCode !== null || n.child.signalCode !== null) return resolve();
    n.child.once("exit", () => resolve());
    n.child.kill("SIGKILL");
  });
}

/** Whether replicas that reached the same checkpoint seq report different state hashes there. */
export function checkpointsDisagree(rs: Iterable<{ checkpoint: { seq: number; hash: string } }>): boolean {
  const byCk = new Map<number, string>();
  for (const r of rs) {
    const seen = byCk.get(r.checkpoint.seq);
    if (seen !== undefined && seen !== r.checkpoint.hash) return true;
    byCk.set(r.checkpoint.seq, r.checkpoint.hash);
  }
  return false;
}

/** SIGTERM, then SIGKILL if the node has not exited within 10 s. */
export function stopNode(n: NodeProcess): Promise<void> {
  return new Promise((done) => {
    if (n.child.exitCode !== null || n.child.signalCode !== null) return done();
    const kill = setTimeout(() => n.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    n.child.once("exit", () => {
      clearTimeout(kill);
      done();
    });
    n.child.kill("SIGTERM");
  });
}

const FETCH_TIMEOUT_MS = 5000;
const FETCH_TRIES_MAX = 3;

/** GET and parse JSON; a node busy past the timeout is asked again, up to `tries` times. */
export async function getJson<T>(url: string, tries = FETCH_TRIES_MAX, timeoutMs = FETCH_TIMEOUT_MS): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      return (await res.json()) as T;
    } catch (err) {
      if (attempt >= tries) throw new Error(`${url}: no answer after ${attempt} tries (${(err as Error).message})`);
    }
  }
}

/** A replica's applied seq from its cheap /seq endpoint. */
export async function seqOf(n: NodeProcess): Promise<number> {
  return (await progressOf(n)).seq;
}

/** A replica's applied seq and whether it has halted (it then applies nothing more), from /seq. */
export function progressOf(n: NodeProcess): Promise<{ seq: number; halted: boolean }> {
  const base = String(n.ready.stats).replace(/\/stats$/, "");
  return getJson<{ seq: number; halted: boolean }>(`${base}/seq`);
}

export const statsOf = <T>(n: NodeProcess): Promise<T> => getJson<T>(String(n.ready.stats));
/** A replica's GET /hops: its one-way and hop histograms as they stand, encoded (src/replica/observe.ts). */
export const hopsOf = (n: NodeProcess): Promise<ReplicaHopSnapshots> => getJson<ReplicaHopSnapshots>(String(n.ready.stats).replace(/\/stats$/, "/hops"));

/**
 * Polls the replicas' /seq until all have applied `seq` (or halted: they never will) or
 * `timeoutMs` passes, then returns their stats.
 */
export async function drain(replicas: readonly NodeProcess[], seq: number, timeoutMs = 60_000): Promise<ReplicaStats[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const progress = await Promise.all(replicas.map(progressOf));
    if (progress.every((p) => p.seq >= seq || p.halted) || performance.now() > deadline) return Promise.all(replicas.map((r) => statsOf<ReplicaStats>(r)));
    await new Promise((r) => setTimeout(r, 50));
  }
}
