/**
 * `lockstep drill nemesis`: faults where nothing dies (faults.ts), on a cluster of a leader, two
 * standbys (leadership in a private etcd), three replicas, and open-loop load from several
 * clients (open-load.ts), every link behind its own proxy. The run:
 *
 *   1. plan     a seeded schedule of rounds, each one or two faults, each healed after a random
 *               hold (planRounds: the same seed and kinds give the same schedule)
 *   2. break    per round: resolve roles (who leads now), apply, hold, heal
 *   3. recover  after each round's last heal: time to the first ack, to every replica caught up
 *               with what was committed at the heal (read from each replica's cheap /seq: its
 *               /stats is the wrong probe, see recovery()), to a full in-sync set
 *   4. settle   heal everything, stop the load, wait until every node holds the same log and
 *               every replica applied it
 *   5. check    history.ts, from the clients' records and the journals on disk alone
 *
 * NemesisCluster is the cluster with its faults and load, also used by test/nemesis.test.ts
 * for named scenarios.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getJson, type NodeProcess, type ReplicaStats } from "../../cluster/launcher.js";
import { startEtcd, type EtcdProcess } from "../../cluster/etcd.js";
import type { Config } from "../../config/config.js";
import { LatencyRecorder } from "../../metrics/latency.js";
import { Rng } from "../../util/rng.js";
import { DrillCluster, type HaSequencerStats } from "./cluster.js";
import { adjustClock, FaultNet, NODE_DISK_BYTES, nodeDiskBytes, NodeDisks, pause, type Direction } from "./faults.js";
import { checkHistory, readNodeLog, replayLog, type Verdict } from "./history.js";
import { OpenLoad } from "./open-load.js";
import { setTimeout as sleep } from "node:timers/promises";

export const FAULT_KINDS = ["blackhole", "one-way", "drop", "reset", "bandwidth", "latency", "pause", "clock", "disk-full"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** `drop` (a middlebox swallowing bytes of a live connection) only when asked for: no real TCP path does it. */
export const DEFAULT_FAULTS: readonly FaultKind[] = FAULT_KINDS.filter((k) => k !== "drop");

export type Role = "leader" | "standby" | "replica";
export type LinkClass = "clients" | "replica" | "standby" | "etcd";

/** One planned fault; roles are resolved when it starts (who leads then). */
export interface FaultSpec {
  readonly kind: FaultKind;
  /** Link faults: which link; `node` says whose etcd link (leader or standby). */
  readonly link?: LinkClass;
  /** Process faults (pause, clock, disk-full), and the end of an etcd link. */
  readonly node?: Role;
  /** Which standby (0, 1) or replica (0…2). */
  readonly index: number;
  readonly dir?: Direction;
  readonly holdMs: number;
  /** After the round's start. */
  readonly startMs: number;
  readonly bytesPerS?: number;
  readonly extraDelayMs?: number;
  readonly stepMs?: number;
  readonly driftPpm?: number;
}

export interface RoundSpec {
  readonly faults: readonly FaultSpec[];
  /** Quiet time after the round has recovered. */
  readonly gapMs: number;
}

const LINKS: readonly LinkClass[] = ["clients", "replica", "standby", "etcd"];
const ROLES: readonly Role[] = ["leader", "standby", "replica"];
const BANDWIDTHS_BYTES_PER_S = [16 << 10, 64 << 10, 256 << 10];
/** Pauses either well inside the 1 s lease or well past it (and past the 2 s silence deadlines). */
const PAUSE_SHORT_MS: readonly [number, number] = [200, 800];
const PAUSE_LONG_MS: readonly [number, number] = [1_500, 4_000];
const TWO_FAULTS_SHARE = 0.3;

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(0, xs.length - 1)]!;
}

function planFault(rng: Rng, kind: FaultKind, startMs: number): FaultSpec {
  const index = rng.int(0, 2);
  const hold = rng.int(500, 4_000);
  switch (kind) {
    case "blackhole": case "drop": case "reset": case "bandwidth": case "latency": case "one-way": {
      const link = pick(rng, LINKS);
      const node: Role = link === "etcd" ? pick(rng, ["leader", "standby"] as const) : "leader";
      const dir: Direction = kind === "one-way" ? pick(rng, ["up", "down"] as const) : "both";
      return { kind, link, node, index, dir, startMs, holdMs: kind === "reset" ? 0 : hold,
        ...(kind === "bandwidth" ? { bytesPerS: pick(rng, BANDWIDTHS_BYTES_PER_S) } : {}), ...(kind === "latency" ? { extraDelayMs: rng.int(100, 1_500) } : {}) };
    }
    case "pause": {
      const [lo, hi] = rng.next() < 0.5 ? PAUSE_SHORT_MS : PAUSE_LONG_MS;
      return { kind, node: pick(rng, ROLES), index, startMs, holdMs: rng.int(lo, hi) };
    }
    case "clock": {
      const sign = rng.next() < 0.5 ? -1 : 1;
      const step = rng.next() < 0.5;
      return { kind, node: pick(rng, ROLES), index, startMs, holdMs: rng.int(1_000, 5_000), ...(step ? { stepMs: sign * rng.int(500, 10_000) } : { driftPpm: sign * rng.int(50, 500) }) };
    }
    case "disk-full":
      return { kind, node: pick(rng, ["leader", "standby"] as const), index, startMs, holdMs: rng.int(1_000, 5_000) };
  }
}

/** The schedule: an endless, seeded sequence of rounds of the given kinds. */
export function* planRounds(seed: number, kinds: readonly FaultKind[]): Generator<RoundSpec> {
  if (kinds.length === 0) throw new Error("nemesis: no fault kinds to plan");
  const rng = new Rng(seed);
  for (;;) {
    const two = rng.next() < TWO_FAULTS_SHARE;
    const faults = [planFault(rng, pick(rng, kinds), 0)];
    if (two) faults.push(planFault(rng, pick(rng, kinds), rng.int(0, 1_500)));
    yield { faults, gapMs: rng.int(500, 2_000) };
  }
}

/** A fault in place: what it hit, and how to heal it. */
export interface ActiveFault {
  readonly spec: FaultSpec;
  /** What it was applied to, e.g. "s1-etcd (both)", "pause s2 (standby)". */
  readonly on: string;
  readonly startedMs: number;
  heal(): void;
}

export interface NemesisOptions {
  readonly baseConfig: string;
  readonly config: Config;
  readonly ratePerS: number;
  readonly seed: number;
  readonly accounts?: readonly number[];
  readonly opTimeoutMs?: number;
  /** Try to mount a tmpfs per sequencer node (disk-full faults). */
  readonly disks: boolean;
  /** Size of each node's tmpfs (default NODE_DISK_BYTES). */
  readonly diskBytes?: number;
  readonly log: (line: string) => void;
}

const ACCOUNTS = [1, 2, 3, 4];
const OP_TIMEOUT_MS = 3_000;
/** Stats polls of the nodes (the drill's own monitoring path, not through the proxies). */
const POLL_TIMEOUT_MS = 400;
const POLL_MS = 50;
/**
 * The check's one read of each replica's /stats (seq and state hash), after the load stopped:
 * an answer is needed, not a poll, so it may take this long and be tried this many times (a
 * 400 ms poll timing out once counted a replica as diverged, at seq -1).
 */
const CHECK_READ_TIMEOUT_MS = 5_000;
const CHECK_READ_TRIES = 3;
/** A round not recovered this long after its last heal is counted unrecovered. */
export const RECOVERY_MS_MAX = 30_000;
const SETTLE_MS_MAX = 90_000;
const SUPERVISOR_RESTART_MS = 300;
const FEED_CATCH_UP_MS = 20_000;


export interface Recovery {
  first_ack_ms: number | null;
  replicas_caught_up_ms: number | null;
  isr_full_ms: number | null;
  /** Heal → both the first ack and every replica caught up. */
  full_service_ms: number | null;
}

export class NemesisCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "lockstep-nemesis-"));
  etcd!: EtcdProcess;
  net!: FaultNet;
  cluster!: DrillCluster;
  load!: OpenLoad;
  disks: NodeDisks | null = null;
  /** Proxies and nodes held by active faults: a second fault on them is skipped. */
  private readonly busy = new Set<string>();

  constructor(private readonly o: NemesisOptions) {}

  get seqIds(): readonly string[] {
    return this.cluster.seqIds;
  }

  clockFile(name: string): string {
    return join(this.dir, `clock-${name}.json`);
  }

  async start(): Promise<void> {
    const logs = join(this.dir, "logs");
    this.etcd = await startEtcd(this.dir, logs);
    const seqIds = ["s1", "s2", "s3"];
    if (this.o.disks) {
      this.disks = NodeDisks.mount(seqIds.map((s) => join(this.dir, s)), this.o.diskBytes ?? NODE_DISK_BYTES);
      if (!this.disks.available) this.o.log(`  disk faults unavailable: ${this.disks.why}`);
    }
    this.cluster = new DrillCluster({
      baseConfig: this.o.baseConfig, dir: this.dir, replicas: 3,
      sequencer: { ack: { mode: "replicas", count: 1 } }, ha: { etcd: this.etcd.url, sequencers: seqIds.length },
      supervise: { restartMs: SUPERVISOR_RESTART_MS },
      wire: async (ports) => {
        this.net = await FaultNet.build({ seqIds, replicaIds: ["r1", "r2", "r3"], seqPorts: ports.sequencers, etcdPort: Number(new URL(this.etcd.url).port) }, this.o.seed);
        return this.net.wiring((name) => this.clockFile(name));
      },
    });
    await this.cluster.start();
    await this.untilInSync(30_000);
    this.load = new OpenLoad({
      tradeUrls: this.net.tradeUrls, feedUrls: this.cluster.ids.map((_, i) => this.cluster.feedUrl(i)), accounts: this.o.accounts ?? ACCOUNTS,
      ratePerS: this.o.ratePerS, instrument: this.o.config.demo.instrument, mid: this.o.config.demo.mid, opTimeoutMs: this.o.opTimeoutMs ?? OP_TIMEOUT_MS,
      seed: this.o.seed, qtyMax: this.o.config.instruments.find((i) => i.id === this.o.config.demo.instrument)!.qtyMax,
    });
    await this.load.start();
  }

  // ---- observing (direct, not through the proxies) --------------------------------------------

  async seqStats(i: number): Promise<HaSequencerStats | null> {
    const n = this.cluster.processOf("sequencer", i);
    if (n === null) return null;
    return getJson<HaSequencerStats>(String(n.ready.stats), 1, POLL_TIMEOUT_MS).catch(() => null);
  }

  async replicaStats(i: number, tries = 1, timeoutMs = POLL_TIMEOUT_MS): Promise<ReplicaStats | null> {
    const n = this.cluster.processOf("replica", i);
    if (n === null) return null;
    return getJson<ReplicaStats>(String(n.ready.stats), tries, timeoutMs).catch(() => null);
  }

  /** Replica i's applied seq from its /seq (null: down or no answer within the poll timeout). */
  async replicaSeq(i: number): Promise<number | null> {
    const n = this.cluster.processOf("replica", i);
    if (n === null) return null;
    const base = String(n.ready.stats).replace(/\/stats$/, "");
    return getJson<{ seq: number }>(`${base}/seq`, 1, POLL_TIMEOUT_MS).then((p) => p.seq, () => null);
  }

  /** Every replica's applied seq (null where one did not answer). */
  replicaSeqs(): Promise<(number | null)[]> {
    return Promise.all(this.cluster.ids.map((_, i) => this.replicaSeq(i)));
  }

  /** The node that leads in the newest epoch, with its stats, or null. */
  async leader(): Promise<{ index: number; stats: HaSequencerStats } | null> {
    const all = await Promise.all(this.seqIds.map((_, i) => this.seqStats(i)));
    let best: { index: number; stats: HaSequencerStats } | null = null;
    all.forEach((s, index) => { if (s?.ha_role === "leader" && (best === null || s.epoch > best.stats.epoch)) best = { index, stats: s }; });
    return best;
  }

  async untilLeader(timeoutMs: number): Promise<{ index: number; stats: HaSequencerStats } | null> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const l = await this.leader();
      if (l !== null || performance.now() > deadline) return l;
      await sleep(POLL_MS);
    }
  }

  /** Waits until a leader has every other node in its in-sync set. */
  async untilInSync(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const l = await this.leader();
      if (l !== null && l.stats.isr.length === this.seqIds.length - 1) return true;
      await sleep(POLL_MS);
    }
    return false;
  }

  // ---- faults -----------------------------------------------------------------------------------

  /** Sequencer index of a role now: the leader, or the index-th standby (by id). */
  private async seqOfRole(role: "leader" | "standby", index: number): Promise<number | null> {
    const l = await this.untilLeader(5_000);
    if (l === null) return null;
    if (role === "leader") return l.index;
    const standbys = this.seqIds.map((_, i) => i).filter((i) => i !== l.index);
    return standbys[index % standbys.length]!;
  }

  private linkNames(spec: FaultSpec, leader: number, end: number): string[] {
    const L = this.seqIds[leader]!;
    switch (spec.link!) {
      case "clients": return [`clients-${L}`];
      case "replica": return this.net.replicaLinks(this.cluster.ids[spec.index]!);
      case "standby": return [`${this.seqIds[end]}-${L}`];
      case "etcd": return [`${this.seqIds[end]}-etcd`];
    }
  }

  /** Applies a fault now; null (with the reason logged) if its target is busy or missing. */
  async apply(spec: FaultSpec): Promise<ActiveFault | null> {
    const skip = (why: string): null => { this.o.log(`    skipped ${spec.kind}: ${why}`); return null; };
    if (spec.link !== undefined) {
      const leader = await this.seqOfRole("leader", 0);
      const end = spec.link === "etcd" ? await this.seqOfRole(spec.node === "standby" ? "standby" : "leader", spec.index) : await this.seqOfRole("standby", spec.index);
      if (leader === null || end === null) return skip("no leader");
      return this.applyLink(spec, this.linkNames(spec, leader, end)) ?? skip("link busy");
    }
    const target = spec.node === "replica" ? { kind: "replica" as const, i: spec.index } : { kind: "sequencer" as const, i: await this.seqOfRole(spec.node as "leader" | "standby", spec.index) };
    if (target.i === null) return skip("no leader");
    const n = this.cluster.processOf(target.kind, target.i);
    if (n === null) return skip(`${target.kind} ${target.i} is down`);
    if (this.busy.has(n.name)) return skip(`${n.name} busy`);
    const f = this.applyProcess(spec, n, target.kind === "sequencer" ? target.i : -1);
    return f ?? skip(`${spec.kind} unavailable`);
  }

  private claim(names: readonly string[]): (() => void) | null {
    if (names.some((n) => this.busy.has(n))) return null;
    for (const n of names) this.busy.add(n);
    return () => { for (const n of names) this.busy.delete(n); };
  }

  private applyLink(spec: FaultSpec, names: string[]): ActiveFault | null {
    const release = this.claim(names);
    if (release === null) return null;
    const net = this.net;
    let detail = "";
    switch (spec.kind) {
      case "blackhole": case "one-way": net.hold(names, spec.dir!); detail = `held ${spec.dir}`; break;
      case "drop": net.hold(names, spec.dir!, "blackhole"); detail = "bytes dropped"; break;
      case "reset": detail = `${net.reset(names)} connections reset`; break;
      case "bandwidth": net.shape(names, { bytesPerS: spec.bytesPerS! }); detail = `${spec.bytesPerS! >> 10} KiB/s`; break;
      case "latency": net.shape(names, { extraDelayMs: spec.extraDelayMs! }); detail = `+${spec.extraDelayMs} ms`; break;
      default: throw new Error(`nemesis: ${spec.kind} is not a link fault`);
    }
    return { spec, on: `${names.join(",")} ${detail}`, startedMs: performance.now(), heal: () => { net.heal(names); release(); } };
  }

  private applyProcess(spec: FaultSpec, n: NodeProcess, seqIndex: number): ActiveFault | null {
    const role = `${n.name} (${spec.node})`;
    if (spec.kind === "disk-full" && (this.disks === null || !this.disks.available || seqIndex < 0)) return null;
    const release = this.claim([n.name]);
    if (release === null) return null;
    const startedMs = performance.now();
    if (spec.kind === "pause") {
      const resume = pause(n);
      return { spec, on: `SIGSTOP ${role} for ${spec.holdMs} ms`, startedMs, heal: () => { resume(); release(); } };
    }
    if (spec.kind === "clock") {
      const file = this.clockFile(n.name);
      adjustClock(n, file, spec.stepMs !== undefined ? { stepMs: spec.stepMs } : { driftPpm: spec.driftPpm! });
      const undo = spec.stepMs !== undefined ? { stepMs: -spec.stepMs } : { driftPpm: 0 };
      const same = (): boolean => this.cluster.processOf(seqIndex < 0 ? "replica" : "sequencer", seqIndex < 0 ? spec.index : seqIndex) === n;
      return { spec, on: `clock of ${role} ${spec.stepMs !== undefined ? `stepped ${spec.stepMs} ms` : `drifting ${spec.driftPpm} ppm`}`, startedMs, heal: () => { if (same()) adjustClock(n, file, undo); release(); } };
    }
    const disk = join(this.dir, this.seqIds[seqIndex]!);
    const taken = this.disks!.fill(disk);
    return { spec, on: `disk of ${role} full (${Math.floor(taken / 2 ** 20)} MiB taken)`, startedMs, heal: () => { this.disks!.free(disk); release(); } };
  }

  // ---- recovery ----------------------------------------------------------------------------------

  /**
   * Times from `healedMs` until service is whole again (null: not within RECOVERY_MS_MAX).
   * Replicas' progress is read from /seq. It was read from /stats, which summarizes some 30
   * latency histograms and hashes the book on the replica's event loop: 0.3–2.2 s per answer under
   * the drill's load, so most polls ran out of their 400 ms and counted the replica as behind,
   * while each poll held the replica's loop long enough to cut its replication link for
   * silence (docs/failover.md, finding 6).
   */
  async recovery(healedMs: number): Promise<Recovery> {
    const r: Recovery = { first_ack_ms: null, replicas_caught_up_ms: null, isr_full_ms: null, full_service_ms: null };
    let target = -1;
    while (performance.now() - healedMs < RECOVERY_MS_MAX) {
      const since = (): number => Math.round(performance.now() - healedMs);
      const a = this.load.firstAckAfter(healedMs);
      if (r.first_ack_ms === null && a >= 0) r.first_ack_ms = Math.round(this.load.ackTimesMs[a]! - healedMs);
      const l = await this.leader();
      if (l !== null && target < 0) target = l.stats.committed_seq;
      if (l !== null && r.isr_full_ms === null && l.stats.isr.length === this.seqIds.length - 1) r.isr_full_ms = since();
      if (target >= 0 && r.replicas_caught_up_ms === null) {
        const seqs = await this.replicaSeqs();
        if (seqs.every((s) => s !== null && s >= target)) r.replicas_caught_up_ms = since();
      }
      if (r.first_ack_ms !== null && r.replicas_caught_up_ms !== null && r.isr_full_ms !== null) break;
      await sleep(POLL_MS);
    }
    if (r.first_ack_ms !== null && r.replicas_caught_up_ms !== null) r.full_service_ms = Math.max(r.first_ack_ms, r.replicas_caught_up_ms);
    return r;
  }

  // ---- the end -------------------------------------------------------------------------------

  /** Stops the load, waits until every node holds one log and every replica applied it. */
  async settle(): Promise<{ settled: boolean; leader: number; why: string }> {
    this.net.healAll();
    await this.load.stop();
    const deadline = performance.now() + SETTLE_MS_MAX;
    let why = "";
    while (performance.now() < deadline) {
      const l = await this.leader();
      const seqs = await Promise.all(this.seqIds.map((_, i) => this.seqStats(i)));
      const reps = await this.replicaSeqs();
      if (l === null) why = "no leader";
      else if (l.stats.committed_seq !== l.stats.seq) why = `leader ${this.seqIds[l.index]} committed ${l.stats.committed_seq} of ${l.stats.seq}`;
      else if (seqs.some((s) => s === null || s.seq !== l.stats.seq)) why = `sequencer nodes at ${seqs.map((s) => s?.seq ?? "down").join("/")}, leader at ${l.stats.seq}`;
      else if (reps.some((s) => s !== l.stats.seq)) why = `replicas at ${reps.map((s) => s ?? "no answer").join("/")}, leader at ${l.stats.seq}`;
      else return { settled: true, leader: l.index, why: "" };
      await sleep(POLL_MS * 4);
    }
    const l = await this.leader();
    return { settled: false, leader: l?.index ?? -1, why };
  }

  /** Settles, then checks the history against the journals on disk. */
  async check(): Promise<{ settle: { settled: boolean; why: string }; verdict: Verdict }> {
    const s = await this.settle();
    const replicas = (await Promise.all(this.cluster.ids.map((_, i) => this.replicaStats(i, CHECK_READ_TRIES, CHECK_READ_TIMEOUT_MS)))).map((r, i) => ({ id: this.cluster.ids[i]!, seq: r?.seq ?? -1, hash: r?.hash ?? "" }));
    await this.cluster.stopSequencers();
    const logs = this.seqIds.map((id, i) => readNodeLog(id, this.cluster.seqJournalDir(i)));
    const finalLog = s.leader >= 0 ? s.leader : logs.reduce((b, l, i) => (l.lastSeq > logs[b]!.lastSeq ? i : b), 0);
    const cfg = this.o.config;
    const replay = replayLog(logs[finalLog]!, cfg.instruments, { openOrdersMaxPerAccount: cfg.accountOpenOrdersMax });
    await this.load.feedsCaughtUp((acct) => replay.byAccount.get(acct)?.at(-1)?.seq ?? 0, FEED_CATCH_UP_MS);
    this.load.closeFeeds();
    return { settle: { settled: s.settled, why: s.why }, verdict: checkHistory({ ops: this.load.ops, reports: this.load.reports, logs, finalLog, replicas, replay }) };
  }

  /** Stops everything; removes the directory unless `keep` (then its logs say what happened). */
  async stop(keep: boolean): Promise<void> {
    this.net?.healAll();
    await this.load?.stop();
    this.load?.closeFeeds();
    await this.cluster?.stop();
    await this.net?.close();
    await this.etcd?.stop();
    this.disks?.unmount();
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }

  /** What the history says of client operations. */
  opCounts(): Record<string, number> {
    const c: Record<string, number> = { invoked: this.load.ops.length, ack: 0, reject: 0, timeout: 0, unknown: 0, pending: 0 };
    for (const op of this.load.ops) c[op.outcome] = (c[op.outcome] ?? 0) + 1;
    return { ...c, unsent: this.load.unsent, connects: this.load.connects };
  }
}

// ---- the drill ----------------------------------------------------------------------------------

export interface NemesisDrillOptions extends Omit<NemesisOptions, "disks"> {
  readonly durationS: number;
  readonly kinds: readonly FaultKind[];
}

interface RoundReport { round: number; at_s: number; faults: { kind: FaultKind; on: string; held_ms: number }[]; skipped: string[]; recovery: Recovery }

const pct = (r: LatencyRecorder): { p50: number; p99: number; max: number } | null => {
  const s = r.summary();
  if (s.count === 0) return null;
  return { p50: Math.round(s.p50 / 1000), p99: Math.round(s.p99 / 1000), max: Math.round(s.max / 1000) };
};

/** Runs one planned round: faults applied at their offsets, each healed after its hold. */
async function runRound(c: NemesisCluster, spec: RoundSpec, n: number, t0: number, log: (l: string) => void): Promise<RoundReport> {
  const startedMs = performance.now();
  const report: RoundReport = { round: n, at_s: Math.round((startedMs - t0) / 100) / 10, faults: [], skipped: [], recovery: { first_ack_ms: null, replicas_caught_up_ms: null, isr_full_ms: null, full_service_ms: null } };
  let lastHealMs = startedMs;
  await Promise.all(spec.faults.map(async (f) => {
    await sleep(f.startMs);
    const a = await c.apply(f);
    if (a === null) return void report.skipped.push(f.kind);
    log(`  round ${n}: ${f.kind} on ${a.on}`);
    await sleep(f.holdMs);
    a.heal();
    lastHealMs = Math.max(lastHealMs, performance.now());
    report.faults.push({ kind: f.kind, on: a.on, held_ms: Math.round(performance.now() - a.startedMs) });
  }));
  report.recovery = await c.recovery(lastHealMs);
  const r = report.recovery;
  log(`  round ${n}: healed; first ack ${r.first_ack_ms ?? "none"} ms, replicas caught up ${r.replicas_caught_up_ms ?? "no"} ms, in-sync set full ${r.isr_full_ms ?? "no"} ms`);
  return report;
}

export async function runNemesisDrill(o: NemesisDrillOptions): Promise<object> {
  const c = new NemesisCluster({ ...o, disks: o.kinds.includes("disk-full"), diskBytes: nodeDiskBytes(o.ratePerS, o.durationS) });
  let ok = false;
  try {
    await c.start();
    const kinds = o.kinds.filter((k) => k !== "disk-full" || c.disks?.available === true);
    o.log(`nemesis: seed ${o.seed}, ${o.ratePerS} orders/s for ${o.durationS} s, faults ${kinds.join(", ")}`);
    const t0 = performance.now();
    const rounds: RoundReport[] = [];
    const plan = planRounds(o.seed, kinds);
    while (performance.now() - t0 < o.durationS * 1000) {
      const spec = plan.next().value as RoundSpec;
      rounds.push(await runRound(c, spec, rounds.length + 1, t0, o.log));
      await sleep(spec.gapMs);
    }
    const { settle, verdict } = await c.check();
    const ops = c.opCounts();
    ok = true;
    o.log(`nemesis: ${rounds.length} rounds; settled ${settle.settled}${settle.settled ? "" : ` (${settle.why})`}; lost ${verdict.lost}, duplicates ${verdict.duplicates}, forks ${verdict.forks}, diverged ${verdict.diverged}, report mismatches ${verdict.report_mismatches}, phantom acks ${verdict.phantom_acks}`);
    return {
      seed: o.seed, duration_s: o.durationS, rate: o.ratePerS, faults: kinds, disk_faults: c.disks === null ? "not asked for" : c.disks.available ? "tmpfs" : c.disks.why,
      rounds: rounds.length, ops, settled: settle.settled, settle_problem: settle.why,
      lost: verdict.lost, duplicates: verdict.duplicates, forks: verdict.forks, diverged: verdict.diverged, report_mismatches: verdict.report_mismatches, phantom_acks: verdict.phantom_acks,
      rejected_in_log: verdict.rejected_in_log, checker: verdict,
      recovery_by_kind: recoveryByKind(rounds), node_exits: c.cluster.exits.map((e) => ({ name: e.name, code: e.code, signal: e.signal, at_s: Math.round((e.atMs - t0) / 100) / 10 })),
      restarts: c.cluster.restarts, failed_restarts: c.cluster.failedRestarts, schedule: rounds,
    };
  } catch (err) {
    o.log(`drill failed; the nodes' logs are kept in ${join(c.dir, "logs")}`);
    throw err;
  } finally {
    await c.stop(!ok);
  }
}

/** Per fault kind, over the rounds it was in: heal → first ack, → replicas caught up, → full service. */
function recoveryByKind(rounds: readonly RoundReport[]): Record<string, object> {
  const by = new Map<string, { n: number; unrecovered: number; first: LatencyRecorder; caught: LatencyRecorder; full: LatencyRecorder }>();
  for (const r of rounds) {
    for (const kind of new Set(r.faults.map((f) => f.kind))) {
      let b = by.get(kind);
      if (b === undefined) by.set(kind, (b = { n: 0, unrecovered: 0, first: new LatencyRecorder(), caught: new LatencyRecorder(), full: new LatencyRecorder() }));
      b.n++;
      const rec = r.recovery;
      if (rec.first_ack_ms !== null) b.first.record(rec.first_ack_ms * 1000);
      if (rec.replicas_caught_up_ms !== null) b.caught.record(rec.replicas_caught_up_ms * 1000);
      if (rec.full_service_ms !== null) b.full.record(rec.full_service_ms * 1000);
      else b.unrecovered++;
    }
  }
  return Object.fromEntries([...by].map(([k, b]) => [k, { rounds: b.n, unrecovered: b.unrecovered, full_service_ms: pct(b.full), first_ack_ms: pct(b.first), replicas_caught_up_ms: pct(b.caught) }]));
}
