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
import { FeedClient } from "../client/feed.js";
import { Engine } from "../engine/index.js";
import { Journal } from "../journal/journal.js";
import { LatencyRecorder } from "../metrics/latency.js";
import type { Report } from "../protocol/messages.js";
import { decodeRecord } from "../protocol/record.js";
import { CommandOutputs } from "../replica/outputs.js";
import { Rng } from "../util/rng.js";
import { DrillCluster } from "./cluster.js";
import { seqOf } from "../cluster/launcher.js";
import { DrillLoad, type AckRecord } from "./load.js";
import type { Config } from "../cli/config.js";

export interface DrillCommon {
  readonly baseConfig: string;
  readonly config: Config;
  readonly ratePerS: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

const ACCOUNTS = [1, 2, 3, 4];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withCluster<T>(o: DrillCommon, replicas: number, over: { sequencer?: Record<string, unknown>; replicaDefaults?: Record<string, unknown> }, body: (c: DrillCluster, load: DrillLoad) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-drill-"));
  const c = new DrillCluster({ baseConfig: o.baseConfig, dir, replicas, ...over });
  const load = new DrillLoad(() => c.tradeUrls, ACCOUNTS, o.ratePerS, o.config.demo.instrument, o.config.demo.mid);
  try {
    await c.start();
    load.start();
    return await body(c, load);
  } finally {
    await load.stop();
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
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
    out.reports.forEach((rep, n) => { if (rep.acct === account) reports.push({ seq: r.seq, n, ...rep }); });
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
      await DrillCluster.kill(c.sequencer);
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
