/**
 * Failure drills against a cluster of processes under steady load:
 *  - replica-kill:      kill -9 a random replica at a random moment (snapshots are frequent, so
 *                       some kills land mid-snapshot), restart it, time restart → caught up.
 *  - client-failover:   the replica a client reads from dies; the SDK moves to another; what the
 *                       client received is checked against the sequencer's own log.
 *  - sequencer-restart: kill -9 the sequencer under load with ack "journal"; restart it; every
 *                       acked order must be in the log and on every replica.
 * Every drill reports at least diverged, lost and duplicates, and cleans up all it started.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FeedClient } from "../../client/feed.js";
import { Engine } from "../../engine/index.js";
import { Journal } from "../../journal/journal.js";
import { LatencyRecorder } from "../../metrics/latency.js";
import type { Report } from "../../protocol/messages.js";
import { decodeRecord } from "../../protocol/record.js";
import { CommandOutputs } from "../../replica/outputs.js";
import { Rng } from "../../util/rng.js";
import { DrillCluster } from "./cluster.js";
import { killNode, seqOf } from "../../cluster/launcher.js";
import { DrillLoad, type AckRecord } from "./load.js";
import type { Config } from "../../config/config.js";
import { startEtcd, type EtcdProcess } from "../../cluster/etcd.js";
import { LockstepError, TradingClient } from "../../client/trading.js";
import { WireReason } from "../../protocol/messages.js";
import { setTimeout as sleep } from "node:timers/promises";

export interface DrillCommon {
  readonly baseConfig: string;
  readonly config: Config;
  readonly ratePerS: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

const ACCOUNTS = [1, 2, 3, 4];

/** `haSequencers`: that many sequencer nodes with leadership in a private etcd started here. */
async function withCluster<T>(o: DrillCommon, replicas: number, over: { sequencer?: Record<string, unknown>; replicaDefaults?: Record<string, unknown>; haSequencers?: number }, body: (c: DrillCluster, load: DrillLoad) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-drill-"));
  let etcd: EtcdProcess | null = null;
  let c: DrillCluster | null = null;
  let ok = false;
  const load = new DrillLoad(() => c!.tradeUrls, ACCOUNTS, o.ratePerS, o.config.demo.instrument, o.config.demo.mid);
  try {
    if (over.haSequencers !== undefined) etcd = await startEtcd(dir, join(dir, "logs"));
    const { haSequencers, ...rest } = over;
    c = new DrillCluster({ baseConfig: o.baseConfig, dir, replicas, ...rest, ...(etcd === null ? {} : { ha: { etcd: etcd.url, sequencers: haSequencers! } }) });
    await c.start();
    load.start();
    const result = await body(c, load);
    ok = true;
    return result;
  } catch (err) {
    o.log(`drill failed; the nodes' logs are kept in ${join(dir, "logs")}`);
    throw err;
  } finally {
    await load.stop();
    await c?.stop();
    await etcd?.stop();
    if (ok) rmSync(dir, { recursive: true, force: true });
  }
}

/** Acked seqs acked more than once (never expected), and acked seqs beyond what every replica applied. */
function checkAcks(acks: readonly AckRecord[], appliedMin: number): { lost: number; duplicates: number } {
  const seen = new Set<number>();
  let duplicates = 0;
  let lost = 0;
  for (const a of acks) {
    if (seen.has(a.seq)) duplicates++;
    seen.add(a.seq);
    if (a.seq > appliedMin) lost++;
  }
  return { lost, duplicates };
}

function diverged(hashes: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const h of hashes) counts.set(h, (counts.get(h) ?? 0) + 1);
  return hashes.length - Math.max(0, ...counts.values());
}

const ms = (r: LatencyRecorder): { p50: number; p99: number; max: number } => {
  const s = r.summary();
  return { p50: Math.round(s.p50 / 1000), p99: Math.round(s.p99 / 1000), max: Math.round(s.max / 1000) };
};

export async function runReplicaKillDrill(o: DrillCommon & { kills: number; replicas: number }): Promise<object> {
  const rng = new Rng(o.seed);
  return withCluster(o, o.replicas, { sequencer: { ack: { mode: "journal" } }, replicaDefaults: { snapshotEverySeq: 10_000 } }, async (c, load) => {
    const recovery = new LatencyRecorder();
    let corruptions = 0;
    for (let k = 0; k < o.kills; k++) {
      await sleep(200 + rng.int(0, 800));
      const i = rng.int(0, o.replicas - 1);
      await c.killReplica(i);
      const restartedAt = performance.now();
      await c.startReplica(i);
      const target = (await c.sequencerStats()).seq;
      while ((await seqOf(c.replicas[i]!)) < target) await sleep(10);
      recovery.record((performance.now() - restartedAt) * 1000);
      corruptions += (await c.replicaStats(i) as unknown as { snapshot_corruptions: number }).snapshot_corruptions;
      o.log(`  kill ${k + 1}/${o.kills}: ${c.ids[i]} killed at seq ~${target}, caught up in ${Math.round(performance.now() - restartedAt)} ms`);
    }
    await load.stop();
    const rs = await c.settle();
    const seq = await c.sequencerStats();
    return {
      kills: o.kills, recovery_ms: ms(recovery), snapshot_corruptions: corruptions, acked: load.acks.length, final_seq: seq.seq,
      diverged: diverged(rs.map((r) => r.hash)) + seq.divergences, ...checkAcks(load.acks, Math.min(...rs.map((r) => r.seq))),
    };
  });
}

/** Replays the journal through a fresh engine and returns one account's reports and the final book. */
function fromLog(journalDir: string, config: Config, account: number): { reports: Omit<Report, "v" | "t">[]; book: ReturnType<Engine["depth"]>; lastSeq: number } {
  const j = Journal.open({ dir: journalDir, segmentBytesMax: Number.MAX_SAFE_INTEGER, fsync: { mode: "none" }, retainSegmentsMax: 0 });
  const out = new CommandOutputs();
  const engine = new Engine(config.instruments, out);
  const reports: Omit<Report, "v" | "t">[] = [];
  for (const rec of j.records()) {
    const r = decodeRecord(rec.payload);
    out.begin(r.seq);
    engine.apply(r.cmd);
    out.end();
    for (const rep of out.reports) if (rep.acct === account) reports.push({ seq: r.seq, ...rep });
  }
  const lastSeq = j.lastSeq;
  j.close();
  return { reports, book: engine.depth(config.demo.instrument), lastSeq };
}

export async function runClientFailoverDrill(o: DrillCommon): Promise<object> {
  return withCluster(o, 2, { sequencer: { ack: { mode: "journal" } } }, async (c, load) => {
    const received: Report[] = [];
    let killedAt = 0;
    let failoverMs = -1;
    const feed = new FeedClient({
      urls: [c.feedUrl(0), c.feedUrl(1)], account: ACCOUNTS[0]!, instrument: o.config.demo.instrument,
      onReport: (r) => {
        received.push(r);
        if (killedAt > 0 && failoverMs < 0 && feed.url === c.feedUrl(1)) failoverMs = performance.now() - killedAt;
      },
    });
    await feed.connect();
    await sleep(1500);
    await c.killReplica(0);
    killedAt = performance.now();
    o.log(`  replica r1 killed after ${received.length} reports; the client moves to r2`);
    await sleep(1500);
    await load.stop();
    await c.settle();
    const lastAck = Math.max(0, ...load.acks.filter((a) => a.account === ACCOUNTS[0]).map((a) => a.seq));
    await feed.caughtUp(lastAck);
    await c.stop();
    const truth = fromLog(c.journalDir, o.config, ACCOUNTS[0]!);
    feed.close();
    const key = (r: { seq: number; n: number }): string => `${r.seq}/${r.n}`;
    const got = received.map(key);
    const want = truth.reports.map(key);
    const gotSet = new Set(got);
    const inOrder = received.every((r, i) => i === 0 || compare(received[i - 1]!, r) < 0);
    const same = JSON.stringify(received.map(({ v: _v, t: _t, ...r }) => r)) === JSON.stringify(truth.reports);
    const book = feed.book.top();
    const bookAgrees = JSON.stringify(book) === JSON.stringify(truth.book);
    return {
      reports: received.length, expected: truth.reports.length, failover_ms: Math.round(failoverMs),
      lost: want.filter((k) => !gotSet.has(k)).length, duplicates: got.length - gotSet.size, in_order: inOrder, identical_to_log: same,
      diverged: bookAgrees ? 0 : 1, dropped_by_sdk_as_duplicates: feed.duplicatesDropped,
    };
  });
}

function compare(a: { seq: number; n: number }, b: { seq: number; n: number }): number {
  return a.seq !== b.seq ? a.seq - b.seq : a.n - b.n;
}

export async function runSequencerRestartDrill(o: DrillCommon & { kills: number; fsync: "batch" | "always" }): Promise<object> {
  const rng = new Rng(o.seed);
  const fsync = o.fsync === "always" ? { mode: "always" } : { mode: "batch", intervalUs: 2000, records: 4096 };
  return withCluster(o, 3, { sequencer: { ack: { mode: "journal" }, journal: { ...o.config.sequencer.journal, fsync } } }, async (c, load) => {
    const downtime = new LatencyRecorder();
    for (let k = 0; k < o.kills; k++) {
      await sleep(300 + rng.int(0, 700));
      const before = load.firstAckAfterReconnectMs.length;
      const acked = load.acks.length;
      await killNode(c.sequencer);
      const killedAt = performance.now();
      await c.startSequencer();
      while (load.firstAckAfterReconnectMs.length < before + 1) await sleep(5);
      downtime.record((load.firstAckAfterReconnectMs[before]! - killedAt) * 1000);
      o.log(`  kill ${k + 1}/${o.kills}: sequencer killed after ${acked} acks, first ack again after ${Math.round(load.firstAckAfterReconnectMs[before]! - killedAt)} ms`);
    }
    await load.stop();
    const rs = await c.settle();
    await c.stop();
    // Every acked order must be in the journal, under the account that sent it.
    const j = Journal.open({ dir: c.journalDir, segmentBytesMax: Number.MAX_SAFE_INTEGER, fsync: { mode: "none" }, retainSegmentsMax: 0 });
    const accountOf = new Map<number, number>();
    for (const rec of j.records()) accountOf.set(rec.seq, decodeRecord(rec.payload).cmd.account);
    const lastSeq = j.lastSeq;
    j.close();
    const notInLog = load.acks.filter((a) => accountOf.get(a.seq) !== a.account).length;
    const acks = checkAcks(load.acks, Math.min(...rs.map((r) => r.seq)));
    return {
      kills: o.kills, fsync: o.fsync, acked: load.acks.length, journal_seq: lastSeq, downtime_ms: ms(downtime), reconnects: load.disconnects,
      lost: acks.lost + notInLog, duplicates: acks.duplicates, diverged: diverged(rs.map((r) => r.hash)) + rs.filter((r) => r.seq !== lastSeq).length,
    };
  });
}

/** How long a revived (possibly wiped) node may take to copy the log and rejoin the in-sync set. */
const RESYNC_MS_MAX = 180_000;

/** Seq → account of every record in a journal directory, and its last seq and chain. */
function journalIndex(dir: string): { accountOf: Map<number, number>; lastSeq: number; chain: Buffer } {
  const j = Journal.open({ dir, segmentBytesMax: Number.MAX_SAFE_INTEGER, fsync: { mode: "none" }, retainSegmentsMax: 0 });
  const accountOf = new Map<number, number>();
  for (const rec of j.records()) accountOf.set(rec.seq, decodeRecord(rec.payload).cmd.account);
  const out = { accountOf, lastSeq: j.lastSeq, chain: j.chain };
  j.close();
  return out;
}

/** Whether a revived old leader refuses a client login with NOT_LEADER. */
async function refusesClients(url: string): Promise<boolean> {
  try {
    const c = await TradingClient.connect(url, ACCOUNTS[0]!, 5000);
    await c.close();
    return false;
  } catch (err) {
    return err instanceof LockstepError && err.code === WireReason.NOT_LEADER;
  }
}

/** `probe()` polled every 10 ms until it gives a value, for at most `timeoutMs`; `what` (read when it fails, so it can say what was last seen) names the wait. */
export async function within<T>(what: string | (() => string), timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`drill: ${typeof what === "string" ? what : what()} did not happen within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/**
 * Two sequencer nodes (leader + standby, leadership in etcd), three replicas, ack replicas:1.
 * Each round: wait until the standby is in sync, kill -9 the leader (with --wipe, every other
 * round also deletes its disk), time the standby's promotion and the first ack after the kill,
 * then revive the old leader and check it is fenced: a standby that refuses clients. At the
 * end every acked order must be in the final leader's log under its account, both nodes' logs
 * must be the same, and every replica must agree.
 */
export async function runSequencerFailoverDrill(o: DrillCommon & { kills: number; wipe: boolean }): Promise<object> {
  const rng = new Rng(o.seed);
  return withCluster(o, 3, { sequencer: { ack: { mode: "replicas", count: 1 } }, haSequencers: 2 }, async (c, load) => {
    const promotion = new LatencyRecorder();
    const firstAck = new LatencyRecorder();
    /** Revival of the old leader → back in the in-sync set (a wiped one copies the whole log). */
    const resync = new LatencyRecorder();
    let revivedAt = 0;
    let fenced = 0;
    let wiped = 0;
    const epochs: number[] = [];
    for (let k = 0; k < o.kills; k++) {
      await sleep(500 + rng.int(0, 1000));
      const li = await c.leader();
      const si = 1 - li;
      await within("the standby joining the in-sync set", RESYNC_MS_MAX, async () => ((await c.seqNodeStats(li)).isr.includes(c.seqIds[si]!) ? true : undefined));
      if (revivedAt > 0) resync.record((performance.now() - revivedAt) * 1000);
      const before = load.firstAckAfterReconnectMs.length;
      const acked = load.acks.length;
      await c.killSequencerNode(li);
      const killedAt = performance.now();
      const wipe = o.wipe && k % 2 === 0;
      if (wipe) {
        rmSync(join(c.seqJournalDir(li), ".."), { recursive: true, force: true });
        wiped++;
      }
      await c.untilLeader(si, 30_000);
      const promotedMs = performance.now() - killedAt;
      promotion.record(promotedMs * 1000);
      await within("a client ack from the new leader", 30_000, async () => (load.firstAckAfterReconnectMs.length > before ? true : undefined));
      const ackMs = load.firstAckAfterReconnectMs[before]! - killedAt;
      firstAck.record(ackMs * 1000);
      epochs.push((await c.seqNodeStats(si)).epoch);
      await c.startSequencerNode(li);
      revivedAt = performance.now();
      const st = await c.seqNodeStats(li);
      const isFenced = st.ha_role === "standby" && (await refusesClients(c.tradeUrls[li]!));
      if (isFenced) fenced++;
      o.log(`  kill ${k + 1}/${o.kills}: ${c.seqIds[li]} killed after ${acked} acks${wipe ? " (disk wiped)" : ""}; ${c.seqIds[si]} leads epoch ${epochs.at(-1)} after ${Math.round(promotedMs)} ms, first ack after ${Math.round(ackMs)} ms; revived ${c.seqIds[li]} ${isFenced ? "is a standby refusing clients" : "IS NOT FENCED"}`);
    }
    await load.stop();
    const rs = await c.settle();
    const li = await c.leader();
    const leaderSeq = (await c.seqNodeStats(li)).seq;
    await within("the standby catching up", 60_000, async () => ((await c.seqNodeStats(1 - li)).seq >= leaderSeq ? true : undefined));
    await c.stop();
    const logs = [0, 1].map((i) => journalIndex(c.seqJournalDir(i)));
    const final = logs[li]!;
    const notInLog = load.acks.filter((a) => final.accountOf.get(a.seq) !== a.account).length;
    const acks = checkAcks(load.acks, Math.min(...rs.map((r) => r.seq)));
    const logsAgree = logs[0]!.lastSeq === logs[1]!.lastSeq && logs[0]!.chain.equals(logs[1]!.chain);
    return {
      kills: o.kills, disks_wiped: wiped, acked: load.acks.length, final_seq: final.lastSeq, epochs,
      promotion_ms: ms(promotion), first_ack_ms: ms(firstAck), standby_resync_ms: ms(resync), revived_leaders_fenced: fenced, reconnects: load.disconnects,
      lost: acks.lost + notInLog, duplicates: acks.duplicates, seq_reused: logsAgree ? 0 : 1,
      diverged: diverged(rs.map((r) => r.hash)) + rs.filter((r) => r.seq !== final.lastSeq).length,
    };
  });
}
