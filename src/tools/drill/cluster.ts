/**
 * A cluster for failure drills: a sequencer and replicas as processes on fixed loopback ports
 * (picked free at the start, kept across restarts so peers find a restarted node where it
 * was), with kill -9 and restart for any node. Optionally (`wire`) each link can be sent
 * through a drill's proxies: a replica's sequencer URLs, a sequencer node's etcd URL (each node
 * then gets its own copy of the configuration) and extra process settings per node; and
 * (`supervise`) a node that exits on its own is started again, as a supervisor would.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../cluster/ports.js";
import { drain, killNode, spawnNode, statsOf, stopNode, type NodeProcess, type ReplicaStats, type SequencerStats, type SpawnExtras } from "../../cluster/launcher.js";

/** How a drill routes each node's links (every part optional: absent means direct). */
export interface DrillWiring {
  /** The /replicate URLs replica i follows, in the order it tries them. */
  readonly replicaSequencerUrls?: (i: number) => string[];
  /** The etcd client URL sequencer node i uses. */
  readonly sequencerEtcd?: (i: number) => string;
  /** Extra command-line flags and process settings per node. */
  readonly sequencerArgs?: (i: number) => string[];
  readonly replicaArgs?: (i: number) => string[];
  readonly sequencerExtras?: (i: number) => SpawnExtras;
}

/** A node that exited without being asked to. */
export interface NodeExit {
  readonly name: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly atMs: number;
}

/** A supervised node that exits is started again this long after, then backing off to RESTART_MS_MAX while starts fail. */
const RESTART_MS_MAX = 2_000;
export interface DrillClusterOptions {
  readonly baseConfig: string;
  readonly dir: string;
  readonly replicas: number;
  /** Overrides merged into the base config (e.g. a small snapshotEverySeq, an ack policy). */
  readonly sequencer?: Record<string, unknown>;
  readonly replicaDefaults?: Record<string, unknown>;
  /** Top-level overrides merged into the base config (e.g. `instruments`, `instrumentsAway` for one shard's group). */
  readonly config?: Record<string, unknown>;
  /** Standby sequencers: `sequencers` nodes (s1 leads first) with leadership in the etcd at `etcd`. */
  readonly ha?: { readonly etcd: string; readonly sequencers: number; readonly leaseTtlS?: number; readonly cluster?: string };
  /** Called once the ports are chosen, before any node starts: how to route each node's links. */
  readonly wire?: (ports: { readonly sequencers: readonly number[]; readonly replicas: readonly number[] }) => Promise<DrillWiring>;
  /** Start again, after this many ms, any node that exits without being asked to. */
  readonly supervise?: { readonly restartMs: number };
}

/** A sequencer node's stats in an ha cluster: the ha fields are always there. */
export type HaSequencerStats = SequencerStats & Required<Pick<SequencerStats, "id" | "isr" | "forked">>;

export class DrillCluster {
  sequencer!: NodeProcess;
  readonly replicas: (NodeProcess | null)[] = [];
  readonly ids: string[];
  /** With ha: the sequencer nodes (null while killed) and their ids. */
  readonly seqNodes: (NodeProcess | null)[] = [];
  readonly seqIds: string[];
  private readonly seqPorts: number[] = [];
  private config = "";
  private seqPort = 0;
  private readonly replicaPorts: number[] = [];
  private readonly logDir: string;
  private wiring: DrillWiring = {};
  private stopping = false;
  /** Nodes that exited on their own (fenced, crashed), oldest first. */
  readonly exits: NodeExit[] = [];
  /** Restarts the supervisor made, and starts of it that failed. */
  restarts = 0;
  failedRestarts = 0;

  constructor(private readonly o: DrillClusterOptions) {
    this.ids = Array.from({ length: o.replicas }, (_, i) => `r${i + 1}`);
    this.seqIds = Array.from({ length: o.ha?.sequencers ?? 0 }, (_, i) => `s${i + 1}`);
    this.logDir = join(o.dir, "logs");
  }

  async start(): Promise<void> {
    const base = { ...JSON.parse(readFileSync(this.o.baseConfig, "utf8")), ...this.o.config } as { sequencer: Record<string, unknown>; replicaDefaults: Record<string, unknown>; replicas: unknown[] };
    this.seqPort = await freePort();
    for (let i = 0; i < this.o.replicas; i++) this.replicaPorts.push(await freePort());
    base.sequencer = { ...base.sequencer, ...this.o.sequencer, port: this.seqPort };
    base.replicaDefaults = { ...base.replicaDefaults, ...this.o.replicaDefaults };
    base.replicas = this.ids.map((id, i) => ({ id, port: this.replicaPorts[i] }));
    if (this.o.ha !== undefined) {
      for (let i = 0; i < this.seqIds.length; i++) this.seqPorts.push(await freePort());
      (base as Record<string, unknown>).ha = {
        etcd: [this.o.ha.etcd], cluster: this.o.ha.cluster ?? "drill", leaseTtlS: this.o.ha.leaseTtlS ?? 1,
        nodes: this.seqIds.map((id, i) => ({ id, port: this.seqPorts[i] })),
      };
    }
    this.config = join(this.o.dir, "config.json");
    writeFileSync(this.config, JSON.stringify(base, null, 2));
    mkdirSync(this.logDir, { recursive: true });
    if (this.o.wire !== undefined) this.wiring = await this.o.wire({ sequencers: this.seqPorts, replicas: this.replicaPorts });
    const etcdOf = this.wiring.sequencerEtcd;
    if (etcdOf !== undefined) {
      // Each node its own copy of the configuration, differing only in where it finds etcd.
      this.seqIds.forEach((_, i) => writeFileSync(this.nodeConfig(i), JSON.stringify({ ...base, ha: { ...((base as Record<string, unknown>).ha as object), etcd: [etcdOf(i)] } }, null, 2)));
    }
    if (this.o.ha !== undefined) {
      // s1 first, so that it leads; the others follow it as standbys.
      await this.startSequencerNode(0);
      await this.untilLeader(0, 20_000);
      for (let i = 1; i < this.seqIds.length; i++) await this.startSequencerNode(i);
    } else await this.startSequencer();
    for (let i = 0; i < this.o.replicas; i++) await this.startReplica(i);
  }

  get tradeUrl(): string {
    return `ws://127.0.0.1:${this.seqPort}/trade`;
  }
  /** Every /trade URL a client may try: the sequencer's, or each ha node's. */
  get tradeUrls(): string[] {
    return this.o.ha === undefined ? [this.tradeUrl] : this.seqPorts.map((p) => `ws://127.0.0.1:${p}/trade`);
  }
  seqJournalDir(i: number): string {
    return join(this.o.dir, this.seqIds[i]!, "journal");
  }

  private nodeConfig(i: number): string {
    return this.wiring.sequencerEtcd === undefined ? this.config : join(this.o.dir, `config-${this.seqIds[i]}.json`);
  }

  async startSequencerNode(i: number): Promise<void> {
    const args = ["sequencer", "--config", this.nodeConfig(i), "--data", this.o.dir, "--id", this.seqIds[i]!, ...(this.wiring.sequencerArgs?.(i) ?? [])];
    const n = await spawnNode(this.seqIds[i]!, args, this.logDir, this.wiring.sequencerExtras?.(i) ?? {});
    this.seqNodes[i] = n;
    this.watch(n, () => this.seqNodes[i] === n, () => { this.seqNodes[i] = null; }, () => this.startSequencerNode(i));
  }

  /**
   * With `supervise`: when `n` exits while it is still the node in its slot (`current`), the
   * exit is recorded, the slot emptied, and the node started again after restartMs (backing off
   * while starts fail, e.g. on a full disk or an unreachable etcd).
   */
  private watch(n: NodeProcess, current: () => boolean, clear: () => void, restart: () => Promise<void>): void {
    const sup = this.o.supervise;
    if (sup === undefined) return;
    n.child.once("exit", (code, signal) => {
      if (this.stopping || !current()) return;
      clear();
      this.exits.push({ name: n.name, code, signal, atMs: performance.now() });
      const again = (delayMs: number): void => {
        setTimeout(() => {
          if (this.stopping) return;
          restart().then(() => { this.restarts++; }, () => {
            this.failedRestarts++;
            again(Math.min(RESTART_MS_MAX, delayMs * 2));
          });
        }, delayMs);
      };
      again(sup.restartMs);
    });
  }

  /** The process of sequencer node i or replica i now (null while down). */
  processOf(kind: "sequencer" | "replica", i: number): NodeProcess | null {
    return (kind === "sequencer" ? this.seqNodes[i] : this.replicas[i]) ?? null;
  }

  async killSequencerNode(i: number): Promise<void> {
    const n = this.seqNodes[i];
    this.seqNodes[i] = null;
    if (n) await killNode(n);
  }

  seqNodeStats(i: number): Promise<HaSequencerStats> {
    return statsOf<HaSequencerStats>(this.seqNodes[i]!);
  }

  /** Index of the live node that leads, or -1. */
  async leader(): Promise<number> {
    for (let i = 0; i < this.seqNodes.length; i++) {
      if (this.seqNodes[i] && (await this.seqNodeStats(i)).ha_role === "leader") return i;
    }
    return -1;
  }

  /** Polls node i's /stats (the leader is decided in etcd; nodes say what they became) until it leads. */
  async untilLeader(i: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while ((await this.seqNodeStats(i)).ha_role !== "leader") {
      if (performance.now() > deadline) throw new Error(`${this.seqIds[i]} did not become leader within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
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
    const urls = this.wiring.replicaSequencerUrls?.(i);
    const args = ["replica", "--config", this.config, "--id", this.ids[i]!, "--data", this.o.dir, ...(urls === undefined ? [] : ["--sequencer", urls.join(",")]), ...(this.wiring.replicaArgs?.(i) ?? [])];
    const n = await spawnNode(this.ids[i]!, args, this.logDir);
    this.replicas[i] = n;
    this.watch(n, () => this.replicas[i] === n, () => { this.replicas[i] = null; }, () => this.startReplica(i));
  }

  async killReplica(i: number): Promise<void> {
    const r = this.replicas[i];
    this.replicas[i] = null;
    if (r) await killNode(r);
  }

  /** The sequencer's stats; with ha, the current leader's. */
  async sequencerStats(): Promise<SequencerStats> {
    if (this.o.ha === undefined) return statsOf<SequencerStats>(this.sequencer);
    const i = await this.leader();
    if (i < 0) throw new Error("no sequencer node leads");
    return this.seqNodeStats(i);
  }

  replicaStats(i: number): Promise<ReplicaStats> {
    return statsOf<ReplicaStats>(this.replicas[i]!);
  }

  /** Waits until every live replica has applied the sequencer's last seq; returns their stats. */
  async settle(timeoutMs = 60_000): Promise<ReplicaStats[]> {
    const last = (await this.sequencerStats()).seq;
    return drain(this.replicas.filter((r): r is NodeProcess => r !== null), last, timeoutMs);
  }

  /** Stops the sequencer nodes (SIGTERM, journals flushed) and supervises nothing more; replicas stay up. */
  async stopSequencers(): Promise<void> {
    this.stopping = true;
    const live = this.seqNodes.filter((n): n is NodeProcess => n !== null);
    for (const n of live) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill("SIGCONT");
    await Promise.all(live.map(stopNode));
    this.seqNodes.fill(null);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const live = [this.sequencer, ...this.seqNodes, ...this.replicas].filter((n): n is NodeProcess => n !== null && n !== undefined);
    // A node a drill paused (SIGSTOP) would hold SIGTERM until resumed.
    for (const n of live) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill("SIGCONT");
    await Promise.all(live.map(stopNode));
  }
}
