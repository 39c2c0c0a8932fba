/**
 * Replicas' catch-up after a leader change under load (issue 18: "service resumes within 2 s
 * after heal, p99"), on the nemesis cluster (tools/drill/nemesis.ts: a leader, two standbys,
 * etcd, three replicas, 1,000 orders/s open loop, every link behind its own proxy):
 *   - the leader cut off from etcd until a standby has taken over, then healed
 *   - the leader paused (SIGSTOP) past its lease and its followers' silence deadlines, then resumed
 * After each heal every replica must be at the commit point read after the heal within 2 s, as
 * the drill measures it (NemesisCluster.recovery) and as each replica's /seq says on its own, and
 * each replica's /stats must answer within half the link's silence deadline meanwhile. Before the
 * faults, one replica's clock is stepped 10 s and back, as the drill's `clock` rounds do: its
 * latency histograms then span seconds, as every replica's do after a few rounds of the drill.
 *
 * Finding 6 (docs/failover.md): the drill took up to 28 s to see replicas caught up after a
 * leader change. They were caught up within ~0.2 s; the drill read their progress from /stats,
 * whose latency summaries (hdr-histogram-js's `mean`, a walk over every bucket, ~30 per answer)
 * held each replica's event loop 0.3–2.2 s, so its 400 ms polls ran out, and the polls themselves
 * held replicas long enough for their replication links to be cut for silence.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { findEtcd } from "../src/cluster/etcd.js";
import { getJson, progressOf } from "../src/cluster/launcher.js";
import { loadConfig } from "../src/config/config.js";
import { adjustClock, pause } from "../src/tools/drill/faults.js";
import { NemesisCluster } from "../src/tools/drill/nemesis.js";
import { setTimeout as sleep } from "node:timers/promises";

const etcd = findEtcd();
if ("missing" in etcd) console.warn(`catch-up scenarios skipped: ${etcd.missing}`);

const CONFIG = join(import.meta.dirname, "..", "config", "local.json");
const RATE_PER_S = 1_000;
const SEED = 42;
/** The target: every replica at the commit point within this long after the heal. */
const CAUGHT_UP_MS_MAX = 2_000;
/** A new leader must be elected within this (1 s lease, etcd's revocation, the election). */
const ELECTION_MS_MAX = 10_000;
/** Load before the first fault (4,000 orders), so that the replicas' histograms and books are not empty. */
const WARM_UP_MS = 4_000;
/** The pause: past the 1 s lease and the 2 s silence deadlines, so the replicas leave the leader. */
const PAUSE_MS = 3_000;
const POLL_MS = 20;
/** The clock step of one replica before the faults, and how long it stays stepped. */
const CLOCK_STEP_MS = 10_000;
const CLOCK_STEPPED_MS = 2_000;
/**
 * A replica's /stats must answer within this: half its link's 2 s silence deadline, so that a
 * monitor reading it cannot get the link cut. (Before finding 6 was fixed: 1.3 s and 3.2 s in
 * these scenarios; after: under 0.5 s on the 2-core machine shared with other work.)
 */
const STATS_ANSWER_MS_MAX = 1_000;
/** /stats is read this often while a recovery is measured, as a dashboard would. */
const STATS_READ_MS = 250;

describe.skipIf("missing" in etcd)("replicas' catch-up after a leader change under load", () => {
  let c: NemesisCluster;

  beforeAll(async () => {
    c = new NemesisCluster({ baseConfig: CONFIG, config: loadConfig(CONFIG), ratePerS: RATE_PER_S, seed: SEED, disks: false, log: () => undefined });
    await c.start();
    await sleep(WARM_UP_MS);
    const r1 = c.cluster.processOf("replica", 0)!;
    adjustClock(r1, c.clockFile("r1"), { stepMs: CLOCK_STEP_MS });
    await sleep(CLOCK_STEPPED_MS);
    adjustClock(r1, c.clockFile("r1"), { stepMs: -CLOCK_STEP_MS });
  }, 90_000);
  afterAll(async () => {
    await c?.stop(process.env.NEMESIS_KEEP === "1");
  }, 60_000);

  /** Waits for a leader of a newer epoch than `epoch` (bounded), returning it. */
  async function newLeader(epoch: number): Promise<{ index: number; epoch: number }> {
    const deadline = performance.now() + ELECTION_MS_MAX;
    for (;;) {
      const n = await c.leader();
      if (n !== null && n.stats.epoch > epoch) return { index: n.index, epoch: n.stats.epoch };
      if (performance.now() > deadline) throw new Error(`no leader newer than epoch ${epoch} within ${ELECTION_MS_MAX} ms`);
      await sleep(POLL_MS);
    }
  }

  /** Heal → every replica's /seq at `target`, ms (null: not within CAUGHT_UP_MS_MAX × 5). */
  async function caughtUpBySeq(healedMs: number, target: number): Promise<number | null> {
    while (performance.now() - healedMs < CAUGHT_UP_MS_MAX * 5) {
      // Each replica's own /seq, read apart from the drill's measure.
      const seqs = await Promise.all(c.cluster.ids.map((_, i) => {
        const n = c.cluster.processOf("replica", i);
        return n === null ? null : progressOf(n).then((p) => p.seq, () => null);
      }));
      if (seqs.every((s) => s !== null && s >= target)) return performance.now() - healedMs;
      await sleep(POLL_MS);
    }
    return null;
  }

  /** The slowest /stats answer of any replica, ms, read every STATS_READ_MS until `done()`. */
  async function slowestStats(done: () => boolean): Promise<number> {
    let slowest = 0;
    while (!done()) {
      await Promise.all(c.cluster.ids.map(async (_, i) => {
        const n = c.cluster.processOf("replica", i);
        if (n === null) return;
        const t = performance.now();
        await getJson(String(n.ready.stats), 1, CAUGHT_UP_MS_MAX * 5).catch(() => undefined);
        slowest = Math.max(slowest, performance.now() - t);
      }));
      await sleep(STATS_READ_MS);
    }
    return slowest;
  }

  /** After a heal at `healedMs`: the drill's measure and the /seq probe both within the target. */
  async function expectCaughtUp(healedMs: number): Promise<void> {
    const l = await c.untilLeader(ELECTION_MS_MAX);
    expect(l, "a leader after the heal").not.toBeNull();
    let measured = false;
    const [drill, bySeq, statsMs] = await Promise.all([
      c.recovery(healedMs).finally(() => { measured = true; }), caughtUpBySeq(healedMs, l!.stats.committed_seq), slowestStats(() => measured),
    ]);
    if (process.env.CATCHUP_LOG === "1") console.error(`catch-up: /seq ${Math.round(bySeq ?? -1)} ms, drill ${drill.replicas_caught_up_ms} ms, first ack ${drill.first_ack_ms} ms, slowest /stats ${Math.round(statsMs)} ms`);
    // Soft: a failure reports every figure, not only the first one out of bounds.
    expect.soft(bySeq ?? Infinity, "heal → every replica's /seq at the commit point, ms").toBeLessThan(CAUGHT_UP_MS_MAX);
    expect.soft(drill.replicas_caught_up_ms ?? Infinity, "heal → every replica caught up as the drill measures it, ms").toBeLessThan(CAUGHT_UP_MS_MAX);
    expect.soft(statsMs, "slowest /stats answer of a replica while the recovery was measured, ms").toBeLessThan(STATS_ANSWER_MS_MAX);
    expect(drill.first_ack_ms, "heal → first ack, ms").not.toBeNull();
  }

  it("the leader cut off from etcd until a standby took over, then healed: every replica caught up within 2 s", async () => {
    expect(await c.untilInSync(30_000), "both standbys in sync before the fault").toBe(true);
    const l = (await c.leader())!;
    const link = [`${c.seqIds[l.index]}-etcd`];
    c.net.hold(link, "both");
    try {
      expect((await newLeader(l.stats.epoch)).index).not.toBe(l.index);
    } finally {
      c.net.heal(link);
    }
    await expectCaughtUp(performance.now());
  }, 60_000);

  it("the leader paused past its lease and the silence deadlines (SIGSTOP 3 s), then resumed: every replica caught up within 2 s", async () => {
    expect(await c.untilInSync(30_000), "both standbys in sync before the fault").toBe(true);
    const l = (await c.leader())!;
    const resume = pause(c.cluster.processOf("sequencer", l.index)!);
    try {
      await sleep(PAUSE_MS);
    } finally {
      resume();
    }
    await expectCaughtUp(performance.now());
  }, 60_000);
});
