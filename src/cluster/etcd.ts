/**
 * A private single-member etcd for drills and tests: loopback ports picked free, a throwaway
 * data directory, and election timings short enough for a 1 s lease (etcd refuses a lease
 * TTL below 1.5 x its election timeout; the defaults would round 1 s up to 2 s).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports.js";

const READY_TIMEOUT_MS = 15_000;

export interface EtcdProcess {
  /** Client URL, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Path of the etcd binary, or null with the reason it is missing. */
export function findEtcd(): { path: string } | { missing: string } {
  const r = spawnSync("etcd", ["--version"], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) return { missing: "etcd is not installed (Debian: apt-get install etcd-server)" };
  return { path: "etcd" };
}

export async function startEtcd(dir: string, logDir: string): Promise<EtcdProcess> {
  const found = findEtcd();
  if ("missing" in found) throw new Error(found.missing);
  const clientPort = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  mkdirSync(logDir, { recursive: true });
  const child = spawn(found.path, [
    "--name", "lockstep", "--data-dir", join(dir, "etcd"),
    "--listen-client-urls", url, "--advertise-client-urls", url,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `lockstep=${peer}`,
    "--heartbeat-interval", "10", "--election-timeout", "100",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr!.pipe(createWriteStream(join(logDir, "etcd.log")));
  const stop = (): Promise<void> => new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once("exit", () => done());
    child.kill("SIGTERM");
  });
  const deadline = performance.now() + READY_TIMEOUT_MS;
  // etcd has no ready signal on its output that is stable across versions: ask /health.
  for (;;) {
    if (child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode} (see ${join(logDir, "etcd.log")})`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === "true") return { url, child, stop };
    } catch {
      /* not listening yet */
    }
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`etcd not healthy within ${READY_TIMEOUT_MS} ms (see ${join(logDir, "etcd.log")})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
