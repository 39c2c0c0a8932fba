/**
 * A private single-member etcd for drills and tests: loopback ports picked free, a throwaway
 * data directory, and election timings short enough for a 1 s lease (etcd refuses a lease
 * TTL below 1.5 x its election timeout; the defaults would round 1 s up to 2 s).
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { findProgram, startDaemon } from "./daemon.js";
import { freePort } from "./ports.js";

export interface EtcdProcess {
  /** Client URL, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** The etcd binary, or why it is missing. */
export const findEtcd = (): { path: string } | { missing: string } => findProgram("etcd", "etcd-server");

export async function startEtcd(dir: string, logDir: string): Promise<EtcdProcess> {
  const found = findEtcd();
  if ("missing" in found) throw new Error(found.missing);
  const url = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const d = await startDaemon("etcd", found.path, [
    "--name", "lockstep", "--data-dir", join(dir, "etcd"),
    "--listen-client-urls", url, "--advertise-client-urls", url,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `lockstep=${peer}`,
    "--heartbeat-interval", "10", "--election-timeout", "100",
  ], logDir, async () => {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok && ((await res.json()) as { health?: string }).health === "true";
  });
  return { url, child: d.child, stop: d.stop };
}
