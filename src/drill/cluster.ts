/**
 * A cluster for failure drills: a sequencer and replicas as processes on fixed loopback ports
 * (picked free at the start, kept across restarts so peers find a restarted node where it
 * was), with kill -9 and restart for any node.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { drain, spawnNode, statsOf, stopNode, type NodeProcess, type ReplicaStats, type SequencerStats } from "../cluster/launcher.js";

/** A free loopback port, by binding port 0 and closing it again. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface DrillClusterOptions {
  readonly baseConfig: string;
  readonly dir: string;
  readonly replicas: number;
  /** Overrides merged into the base config (e.g. a small snapshotEverySeq, an ack policy). */
  readonly sequencer?: Record<string, unknown>;
  readonly replicaDefaults?: Record<string, unknown>;
}

export class DrillCluster {
  sequencer!: NodeProcess;
  readonly replicas: (NodeProcess | null)[] = [];
  readonly ids: string[];
  private config = "";
  private seqPort = 0;
  private readonly replicaPorts: number[] = [];
  private readonly logDir: string;

  constructor(private readonly o: DrillClusterOptions) {
    this.ids = Array.from({ length: o.replicas }, (_, i) => `r${i + 1}`);
    this.logDir = join(o.dir, "logs");
  }

  async start(): Promise<void> {
    const base = JSON.parse(readFileSync(this.o.baseConfig, "utf8")) as { sequencer: Record<string, unknown>; replicaDefaults: Record<string, unknown>; replicas: unknown[] };
    this.seqPort = await freePort();
    for (let i = 0; i < this.o.replicas; i++) this.replicaPorts.push(await freePort());
    base.sequencer = { ...base.sequencer, ...this.o.sequencer, port: this.seqPort };
    base.replicaDefaults = { ...base.replicaDefaults, ...this.o.replicaDefaults };
    base.replicas = this.ids.map((id, i) => ({ id, port: this.replicaPorts[i] }));
    this.config = join(this.o.dir, "config.json");
    writeFileSync(this.config, JSON.stringify(base, null, 2));
    const { mkdirSync } = await import("node:fs");
    mkdirSync(this.logDir, { recursive: true });
    await this.startSequencer();
    for (let i = 0; i < this.o.replicas; i++) await this.startReplica(i);
  }

  get tradeUrl(): string {
    return `ws://127.0.0.1:${this.seqPort}/trade`;
  }
  feedUrl(i: number): string {
    return `ws://127.0.0.1:${this.replicaPorts[i]}/feed`;
  }
  get journalDir(): string {
    return join(this.o.dir, "journal");
  }

  async startSequencer(): Promise<void> {
    this.sequencer = await spawnNode("sequencer", ["sequencer", "--config", this.config, "--data", this.o.dir], this.logDir);
  }

  async startReplica(i: number): Promise<void> {
    this.replicas[i] = await spawnNode(this.ids[i]!, ["replica", "--config", this.config, "--id", this.ids[i]!, "--data", this.o.dir], this.logDir);
  }

  /** kill -9; resolves when the process is gone. */
  static kill(n: NodeProcess): Promise<void> {
    return new Promise((resolve) => {
      if (n.child.exitCode !== null || n.child.signalCode !== null) return resolve();
      n.child.once("exit", () => resolve());
      n.child.kill("SIGKILL");
    });
  }

  async killReplica(i: number): Promise<void> {
    const r = this.replicas[i];
    this.replicas[i] = null;
    if (r) await DrillCluster.kill(r);
  }

  sequencerStats(): Promise<SequencerStats> {
    return statsOf<SequencerStats>(this.sequencer);
  }

  replicaStats(i: number): Promise<ReplicaStats> {
    return statsOf<ReplicaStats>(this.replicas[i]!);
  }

  /** Waits until every live replica has applied the sequencer's last seq; returns their stats. */
  async settle(timeoutMs = 60_000): Promise<ReplicaStats[]> {
    const last = (await this.sequencerStats()).seq;
    return drain(this.replicas.filter((r): r is NodeProcess => r !== null), last, timeoutMs);
  }

  async stop(): Promise<void> {
    await Promise.all([this.sequencer, ...this.replicas].filter((n): n is NodeProcess => n !== null && n !== undefined).map(stopNode));
  }
}
