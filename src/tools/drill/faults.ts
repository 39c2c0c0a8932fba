/**
 * Faults where nothing dies, for a drill's cluster on loopback (docs/failover.md, "Fault model"):
 *
 *   links     every link of the cluster runs through its own proxy (src/tools/netsim/proxy.ts):
 *             clients → each sequencer node, each replica → each sequencer node, each sequencer
 *             node → each other one (its standby link, through tools/drill/redirect.ts), each
 *             sequencer node → etcd. A link can be held (a partition, both ways or one way),
 *             made to swallow bytes, reset (RST), capped in bandwidth or slowed, and healed.
 *   pause     SIGSTOP a node's process, SIGCONT it later: a GC pause, a frozen VM, a laptop lid.
 *   clock     step a running node's clock, or change its drift (SIGUSR2 + a control file, read
 *             by nodes started with --drill-clock-control).
 *   disk      each sequencer node's data directory is a size-limited tmpfs the drill mounts; a
 *             filler file takes all its free space, and deleting it heals. Mounting needs root
 *             (CAP_SYS_ADMIN); where it is refused, disk faults are unavailable and say why.
 *
 * Proxy names: `clients-s1` (clients → s1), `r2-s1` (replica r2 → s1), `s2-s1` (s2 → s1, the
 * standby link when s1 leads), `s1-etcd`. "up" is from the first named to the second.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { LatencyProxy, type LinkFault, type LinkShape } from "../netsim/proxy.js";
import type { DrillWiring } from "./cluster.js";
import { PACKAGE_ROOT, type NodeProcess } from "../../cluster/launcher.js";
import { pathToFileURL } from "node:url";

/** The compiled preload (nodes run the build, even when a test runs this file from source). */
const REDIRECT = join(PACKAGE_ROOT, "dist", "src", "tools", "drill", "redirect.js");

/** Each proxy queues at most this much per direction before pushing back on its sender. */
const PROXY_BUFFER_BYTES_MAX = 4 << 20;
/** Smallest tmpfs for a sequencer node: plenty for the short scenarios of test/nemesis.test.ts. */
export const NODE_DISK_BYTES = 64 << 20;
/** Journal bytes per record to size a run's tmpfs by: the drill's records take about 60 (header included). */
const JOURNAL_BYTES_PER_RECORD = 256;
/** Seconds of load to size for beyond the run itself (settling, catch-up after the last fault). */
const DISK_SLACK_S = 120;
/**
 * Size of each sequencer node's tmpfs for a run of `durationS` at `ratePerS`: room for the whole
 * journal with margin, so that the disk fills only when a fault fills it (64 MiB filled up after
 * about 1.2 million records at 5,000/s: every node then stopped on a really full disk).
 */
export function nodeDiskBytes(ratePerS: number, durationS: number): number {
  return Math.max(NODE_DISK_BYTES, Math.ceil(ratePerS * (durationS + DISK_SLACK_S) * JOURNAL_BYTES_PER_RECORD));
}
const FILL_CHUNK_BYTES = 1 << 20;
const FILL_CHUNK_BYTES_MIN = 512;

export type Direction = "up" | "down" | "both";

export interface ProxyEnds {
  readonly seqIds: readonly string[];
  readonly replicaIds: readonly string[];
  readonly seqPorts: readonly number[];
  readonly etcdPort: number;
}

/** Every link of a drill cluster behind a proxy of its own. */
export class FaultNet {
  private readonly proxies = new Map<string, LatencyProxy>();
  private readonly ports = new Map<string, number>();

  private constructor(private readonly ends: ProxyEnds) {}

  static async build(ends: ProxyEnds, seed: number): Promise<FaultNet> {
    const net = new FaultNet(ends);
    const { seqIds, replicaIds, seqPorts } = ends;
    let n = 0;
    const add = async (name: string, targetPort: number): Promise<void> => {
      const p = LatencyProxy.passThrough(targetPort, seed + n++, PROXY_BUFFER_BYTES_MAX);
      net.ports.set(name, await p.listen());
      net.proxies.set(name, p);
    };
    for (let i = 0; i < seqIds.length; i++) {
      await add(`clients-${seqIds[i]}`, seqPorts[i]!);
      for (const r of replicaIds) await add(`${r}-${seqIds[i]}`, seqPorts[i]!);
      for (let k = 0; k < seqIds.length; k++) if (k !== i) await add(`${seqIds[k]}-${seqIds[i]}`, seqPorts[i]!);
      await add(`${seqIds[i]}-etcd`, ends.etcdPort);
    }
    return net;
  }

  /** The /trade URLs clients use, one per sequencer node, each through `clients-sN`. */
  get tradeUrls(): string[] {
    return this.ends.seqIds.map((s) => `ws://127.0.0.1:${this.ports.get(`clients-${s}`)}/trade`);
  }

  /** Routes for DrillCluster: replicas and nodes reach every peer, and etcd, through their proxies. */
  wiring(clockFile: (name: string) => string): DrillWiring {
    const { seqIds, replicaIds, seqPorts } = this.ends;
    return {
      replicaSequencerUrls: (i) => seqIds.map((s) => `ws://127.0.0.1:${this.ports.get(`${replicaIds[i]}-${s}`)}/replicate`),
      sequencerEtcd: (i) => `http://127.0.0.1:${this.ports.get(`${seqIds[i]}-etcd`)}`,
      sequencerArgs: (i) => ["--drill-clock-control", clockFile(seqIds[i]!)],
      replicaArgs: (i) => ["--drill-clock-control", clockFile(replicaIds[i]!), "--drill-truth"],
      sequencerExtras: (i) => ({
        nodeArgs: ["--import", pathToFileURL(REDIRECT).href],
        env: { LOCKSTEP_DRILL_REDIRECT: seqPorts.flatMap((p, k) => (k === i ? [] : [`${p}=${this.ports.get(`${seqIds[i]}-${seqIds[k]}`)}`])).join(",") },
      }),
    };
  }

  proxy(name: string): LatencyProxy {
    const p = this.proxies.get(name);
    if (p === undefined) throw new Error(`no proxy ${name}`);
    return p;
  }

  /** The proxies of a replica's links to every sequencer node. */
  replicaLinks(replica: string): string[] {
    return this.ends.seqIds.map((s) => `${replica}-${s}`);
  }

  hold(names: readonly string[], dir: Direction, how: LinkFault = "hold"): void {
    for (const n of names) this.proxy(n).fault({ ...(dir !== "down" ? { up: how } : {}), ...(dir !== "up" ? { down: how } : {}) });
  }

  shape(names: readonly string[], s: Partial<LinkShape>): void {
    for (const n of names) this.proxy(n).shape({ up: s, down: s });
  }

  /** RST on every connection of these links; returns how many were open. */
  reset(names: readonly string[]): number {
    return names.reduce((sum, n) => sum + this.proxy(n).reset(), 0);
  }

  heal(names: readonly string[]): void {
    for (const n of names) this.proxy(n).heal();
  }

  healAll(): void {
    for (const p of this.proxies.values()) p.heal();
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
  }
}

/** SIGSTOP now; the returned function sends SIGCONT to that same process (a restarted node is another). */
export function pause(n: NodeProcess): () => void {
  n.child.kill("SIGSTOP");
  return () => { if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill("SIGCONT"); };
}

/** Changes a running node's clock through its control file (see --drill-clock-control in src/cli/nodes.ts). */
export function adjustClock(n: NodeProcess, file: string, a: { readonly stepMs?: number; readonly driftPpm?: number }): void {
  writeFileSync(file, JSON.stringify(a));
  n.child.kill("SIGUSR2");
}

/** Size-limited tmpfs mounts for nodes' data directories, and filling them up. */
export class NodeDisks {
  private readonly mounted: string[] = [];

  private constructor(readonly available: boolean, readonly why: string) {}

  /** Mounts a tmpfs of `bytes` at each directory; if the first mount is refused, none is made. */
  static mount(dirs: readonly string[], bytes: number): NodeDisks {
    const disks = new NodeDisks(true, "");
    for (const d of dirs) {
      mkdirSync(d, { recursive: true });
      const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", d], { encoding: "utf8" });
      if (r.error !== undefined || r.status !== 0) {
        disks.unmount();
        return new NodeDisks(false, `mount -t tmpfs refused (${(r.error?.message ?? r.stderr).trim()}): disk faults need root`);
      }
      disks.mounted.push(d);
    }
    return disks;
  }

  private filler(dir: string): string {
    return join(dir, "drill-filler");
  }

  /** Takes every free byte of the tmpfs at `dir`; returns how many it took. */
  fill(dir: string): number {
    const fd = openSync(this.filler(dir), "a");
    let taken = 0;
    try {
      for (let chunk = FILL_CHUNK_BYTES; chunk >= FILL_CHUNK_BYTES_MIN; ) {
        try {
          taken += writeSync(fd, Buffer.alloc(chunk));
        } catch {
          chunk /= 2;
        }
      }
    } finally {
      closeSync(fd);
    }
    return taken;
  }

  free(dir: string): void {
    rmSync(this.filler(dir), { force: true });
  }

  unmount(): void {
    for (const d of this.mounted.splice(0)) spawnSync("umount", ["-l", d]);
  }
}
