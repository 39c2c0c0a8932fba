/**
 * Named faults where nothing dies, on one nemesis cluster (tools/drill/nemesis.ts: a leader, two
 * standbys, etcd, three replicas, open-loop load, every link behind its own proxy), one after
 * another, each starting from a healthy cluster and healed before the next:
 *   - a replica's clock stepped +5 s: its skew estimator finds the new offset; nothing else moves
 *   - a replica blackholed, then healed: it cuts the dead link, acks go on without it, it
 *     catches up and agrees
 *   - a standby blackholed: while it is in the in-sync set nothing past what it holds is
 *     committed; the set shrinks and acks go on; after healing it is back in sync
 *   - the leader cut off from etcd but not from clients: it stops acking within its lease, a
 *     standby takes over, the old leader is fenced
 *   - the leader paused past its lease (SIGSTOP), then resumed: it sends no ack after waking
 *   - the leader's disk full (a tmpfs the drill mounts; skipped where mounting is refused): a
 *     standby takes over; freed, the old leader rejoins
 * Three more were findings of the drill, now fixed: a leader paused just past its lease no longer
 * acks after waking; a standby on a full disk never reports durable what its disk does not hold;
 * a replica reconnecting into a link that swallows its handshake is back within its deadline.
 * At the end the history checker (tools/drill/history.ts) finds nothing lost, duplicated,
 * forked, diverged or misreported over the whole run.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findEtcd } from "../src/cluster/etcd.js";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.js";
import { adjustClock, pause } from "../src/tools/drill/faults.js";
import { readNodeLog } from "../src/tools/drill/history.js";
import { NemesisCluster } from "../src/tools/drill/nemesis.js";
import { setTimeout as sleep } from "node:timers/promises";

const etcd = findEtcd();
if ("missing" in etcd) console.warn(`nemesis scenarios skipped: ${etcd.missing}`);

const CONFIG = join(import.meta.dirname, "..", "config", "local.json");
const RATE_PER_S = 400;
const SEED = 18;
const LEASE_MS = 1_000;
/** Scheduling slack on a loaded 2-core machine, on top of each deadline. */
const SLACK_MS = 400;
/** How long a woken leader is watched for acks, at most, ms; and after it exited, ms. */
const WOKEN_WAIT_MS = 2_000;
const ACK_GRACE_MS = 200;
/**
 * How long the replica's links stay blackholed in "a replica blackholed": in the suite, until it
 * cut them and 0.5 s more; NEMESIS_REPLICA_HOLD_MS=30000 runs the 30 s (docs/failover.md).
 */
const REPLICA_HOLD_MS = Number(process.env.NEMESIS_REPLICA_HOLD_MS ?? 0);

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe.skipIf("missing" in etcd)("nemesis scenarios", () => {
  let c: NemesisCluster;
  const config = loadConfig(CONFIG);
  /** Acks received on connections to sequencer node `i` that arrived after `ms`. */
  const acksFrom = (i: number, afterMs: number): number => c.load.ops.filter((o) => o.outcome === "ack" && o.node === i && o.endMs > afterMs).length;
  const acksAfter = (afterMs: number): number => c.load.ops.filter((o) => o.outcome === "ack" && o.endMs > afterMs).length;

  /** A leader with both standbys in sync, every replica caught up, acks flowing. */
  async function healthy(): Promise<{ index: number; id: string; epoch: number }> {
    const r = await c.recovery(performance.now());
    expect(r.full_service_ms, "service whole again").not.toBeNull();
    expect(r.isr_full_ms, "every standby in sync").not.toBeNull();
    const l = (await c.leader())!;
    return { index: l.index, id: c.seqIds[l.index]!, epoch: l.stats.epoch };
  }

  beforeAll(async () => {
    c = new NemesisCluster({ baseConfig: CONFIG, config, ratePerS: RATE_PER_S, seed: SEED, disks: true, log: (line) => { if (process.env.NEMESIS_LOG === "1") console.error(line); } });
    await c.start();
  }, 60_000);
  afterAll(async () => {
    // NEMESIS_KEEP=1 keeps the cluster's directory (node logs, journals) for a diagnosis.
    if (process.env.NEMESIS_KEEP === "1") console.error(`nemesis: kept ${c?.dir}`);
    await c?.stop(process.env.NEMESIS_KEEP === "1");
  }, 60_000);

  it("a replica's clock stepped +5 s: its estimator finds the new offset within its bound, and the bound holds throughout; its log, hash and links do not move", async () => {
    await healthy();
    const r = c.cluster.replicas[0]!;
    const before = (await c.replicaStats(0))!;
    expect(Math.abs(before.skew!.offset_us)).toBeLessThan(5_000);
    adjustClock(r, c.clockFile("r1"), { stepMs: 5_000 });
    const stepped = performance.now();
    try {
      // The truth is the injected error (the leader's clock is true). Until the step is confirmed
      // (three probes, 25 ms apart) the old estimate stands: allow it that long, plus a poll.
      let wrong = 0;
      let converged: number | null = null;
      // Polled until 1 s past convergence (the bound must hold after it too), 8 s at most.
      while (performance.now() - stepped < 8_000 && (converged === null || performance.now() - stepped < converged + 1_000)) {
        const s = await c.replicaStats(0);
        if (s?.skew != null && performance.now() - stepped > 300) {
          const err = Math.abs(s.skew.offset_us - s.clock_injected_error_us!);
          if (err > s.skew.bound_us) wrong++;
          if (converged === null && err <= s.skew.bound_us && s.skew.bound_us < 5_000 && Math.abs(s.clock_injected_error_us! - 5_000_000) < 1_000) converged = performance.now() - stepped;
        }
        await sleep(100);
      }
      expect(wrong, "polls at which the bound excluded the truth").toBe(0);
      expect(converged, "ms from the step to an estimate at +5 s within a bound under 5 ms").not.toBeNull();
      // A bound under 5 ms needs probes with short round trips, so how soon it comes depends on
      // the machine's load (under 3 s alone, 3.2 s in a full CI run); before the estimator dropped
      // pre-step samples it was wrong for 6.5 s, so 5 s still tells the two apart.
      expect(converged!).toBeLessThan(5_000);
      const after = (await c.replicaStats(0))!;
      expect(after.link_silences).toBe(before.link_silences);
      expect(after.gaps).toBe(before.gaps);
      expect(acksAfter(stepped)).toBeGreaterThan(0);
      const others = await Promise.all([1, 2].map((i) => c.replicaStats(i)));
      for (const o of others) expect(Math.abs(o!.skew!.offset_us)).toBeLessThan(5_000);
      const l = (await c.leader())!;
      await until("r1 at the leader's committed seq with its peers' hash", 10_000, async () => {
        const [a, b] = await Promise.all([c.replicaStats(0), c.replicaStats(1)]);
        return a !== null && b !== null && a.seq >= l.stats.committed_seq && a.seq === b.seq && a.hash === b.hash;
      });
    } finally {
      adjustClock(r, c.clockFile("r1"), { stepMs: -5_000 });
    }
  }, 40_000);

  it("a replica blackholed, then healed: it cuts the silent link, acks go on without it, it catches up and agrees", async () => {
    await healthy();
    const links = c.net.replicaLinks("r2");
    const before = (await c.replicaStats(1))!;
    c.net.hold(links, "both");
    const cut = performance.now();
    try {
      await until("r2 cutting the silent link", 2_000 * 1.25 + SLACK_MS, async () => ((await c.replicaStats(1))?.link_silences ?? 0) > before.link_silences);
      await sleep(500);
      expect(acksAfter(cut + 500)).toBeGreaterThan(0);
      await sleep(Math.max(0, cut + REPLICA_HOLD_MS - performance.now()));
    } finally {
      c.net.heal(links);
    }
    const r = await c.recovery(performance.now());
    if (process.env.NEMESIS_LOG === "1") console.error(`replica blackholed ${Math.round(performance.now() - cut)} ms: ${JSON.stringify(r)}`);
    expect(r.replicas_caught_up_ms).not.toBeNull();
    await until("r2 agreeing with r3", 10_000, async () => {
      const [x, y] = await Promise.all([c.replicaStats(1), c.replicaStats(2)]);
      return x !== null && y !== null && x.seq === y.seq && x.hash === y.hash;
    });
  }, 40_000 + REPLICA_HOLD_MS);

  // FINDING 3 (issue 18; docs/failover.md, "Fault model"): a follower's silence deadline starts
  // when its connection opens, and the WebSocket handshake has none (src/replication/subscriber.ts,
  // connect: `new WebSocket(url, …)` without handshakeTimeout; the silence timer is armed in
  // onOpen). A replica that reconnects into a link that swallows its upgrade request waits until
  // the sequencer's HTTP layer drops the idle connection, ~10 s, however soon the link heals.
  // Measured with this test unskipped (seed 18, 400 orders/s): caught up 11.5 s after the heal;
  // in `lockstep drill nemesis --faults drop --seed 5 --duration 60`, 10.6 s and 8.7 s. Skipped
  // until the subscriber puts a deadline on the handshake. Fixed: the handshake has the silence
  // deadline (handshakeTimeout).
  it("a replica whose reconnection is swallowed (link dropping bytes 2.5 s): back and caught up within its silence deadline after the heal", async () => {
    await healthy();
    const links = c.net.replicaLinks("r2");
    c.net.hold(links, "both", "blackhole");
    try {
      await sleep(2_500);
    } finally {
      c.net.heal(links);
    }
    const r = await c.recovery(performance.now());
    expect(r.replicas_caught_up_ms, "heal → every replica caught up, ms").not.toBeNull();
    expect(r.replicas_caught_up_ms!).toBeLessThan(2_000 * 1.25 + SLACK_MS);
  }, 40_000);

  it("a standby blackholed: nothing past what it holds is committed while it is in sync; the set shrinks, acks go on; healed, it is back in sync", async () => {
    const l = await healthy();
    const si = [0, 1, 2].find((i) => i !== l.index)!;
    const s = c.seqIds[si]!;
    const link = `${s}-${l.id}`;
    c.net.hold([link], "both");
    const cut = performance.now();
    const samples: { isr: string[]; committed: number; atMs: number }[] = [];
    let held = -1;
    try {
      const deadline = cut + 3_000;
      while (performance.now() < deadline) {
        const st = await c.seqStats(l.index);
        if (st !== null) samples.push({ isr: st.isr, committed: st.committed_seq, atMs: performance.now() });
        if (held < 0 && performance.now() - cut > 300) held = (await c.seqStats(si))?.seq ?? -1;
        await sleep(20);
      }
    } finally {
      c.net.heal([link]);
    }
    expect(held).toBeGreaterThan(0);
    const inSync = samples.filter((x) => x.isr.includes(s) && x.atMs - cut > 300);
    for (const x of inSync) expect(x.committed, `committed while ${s} is in sync`).toBeLessThanOrEqual(held);
    const shrunk = samples.find((x) => !x.isr.includes(s));
    expect(shrunk, `${s} left the in-sync set`).toBeDefined();
    expect(shrunk!.atMs - cut).toBeLessThan(2_000 + SLACK_MS);
    expect(c.load.ops.some((o) => o.outcome === "ack" && o.seq > held)).toBe(true);
    const r = await c.recovery(performance.now());
    expect(r.isr_full_ms, `${s} back in sync`).not.toBeNull();
  }, 40_000);

  it("the leader cut off from etcd but not from clients: it stops acking within its lease, a standby takes over, the old leader is fenced", async () => {
    const l = await healthy();
    const exits = c.cluster.exits.length;
    c.net.hold([`${l.id}-etcd`], "both");
    const cut = performance.now();
    try {
      const next = await until("a new leader", 10_000, async () => {
        const n = await c.leader();
        return n !== null && n.stats.epoch > l.epoch ? n : null;
      });
      expect(next.index).not.toBe(l.index);
      await until("the old leader fenced (exit 3)", 10_000, async () => c.cluster.exits.slice(exits).some((e) => e.name === l.id && e.code === 3));
      const lastAck = Math.max(0, ...c.load.ops.filter((o) => o.outcome === "ack" && o.node === l.index).map((o) => o.endMs));
      expect(lastAck - cut, "last ack from the isolated leader after the cut, ms").toBeLessThan(LEASE_MS + SLACK_MS);
      await until("acks from the new leader", 10_000, async () => acksFrom(next.index, cut) > 0);
    } finally {
      c.net.heal([`${l.id}-etcd`]);
    }
    await healthy();
  }, 40_000);

  /** Pauses the leader for `pauseMs` (after a new leader is elected, if one is within it); returns the acks it sent after waking. */
  async function pauseLeader(pauseMs: number): Promise<{ acksAfterWaking: number; newLeaderDuringPause: boolean; replaced: boolean }> {
    const l = await healthy();
    const exits = c.cluster.exits.length;
    const resume = pause(c.cluster.processOf("sequencer", l.index)!);
    const paused = performance.now();
    let elected = false;
    try {
      while (performance.now() - paused < pauseMs) {
        const n = await c.leader();
        elected ||= n !== null && n.index !== l.index && n.stats.epoch > l.epoch;
        await sleep(20);
      }
    } finally {
      resume();
    }
    const woke = performance.now();
    // A leader replaced during its pause is fenced on waking and exits 3: once it has, it can
    // ack nothing more (allow the acks it wrote before exiting ACK_GRACE_MS to be read). One that
    // was not replaced goes on leading, so the wait is bounded by WOKEN_WAIT_MS.
    while (performance.now() - woke < WOKEN_WAIT_MS && !c.cluster.exits.slice(exits).some((e) => e.name === l.id)) await sleep(20);
    await sleep(ACK_GRACE_MS);
    const after = await c.leader();
    return { acksAfterWaking: acksFrom(l.index, woke), newLeaderDuringPause: elected, replaced: after !== null && after.index !== l.index && after.stats.epoch > l.epoch };
  }

  it("the leader paused past its lease and its followers' silence deadlines (SIGSTOP 3 s), then resumed: it sends no ack after waking", async () => {
    // Connections to the sleeping leader must outlive the pause, or there is nothing to ack on.
    c.load.opTimeoutMs = 15_000;
    try {
      const r = await pauseLeader(3_000);
      expect(r.newLeaderDuringPause, "a standby took over during the pause").toBe(true);
      expect(r.acksAfterWaking, "acks from the old leader after it woke").toBe(0);
    } finally {
      c.load.opTimeoutMs = 3_000;
    }
    await healthy();
  }, 40_000);

  // FINDING 1 (issue 18; docs/failover.md, "Fault model"): a leader paused just past its lease
  // (1.25 s then, 1.7 s now: past the 1 s TTL, inside the 2 s silence deadlines, so replicas stay connected)
  // sends acks after waking: records it had committed before the pause, released when the
  // replicas' queued STATUS frames are read, without a lease check (src/sequencer/sequencer.ts,
  // the publisher's onProgress → releaseAcks, and tick() → releaseAcks). Measured with this test
  // unskipped (seed 18, 400 orders/s): 4 acks after waking at the second pause; the history
  // check found none lost (every in-sync standby held them). Fixed: releaseAcks holds every ack
  // while the lease is not known to be alive.
  // The pause is 1.7 s: etcd revokes an expired lease only on its next check (every 500 ms), so
  // a lease last renewed just before a 1.25 s pause can still be alive when the leader wakes;
  // its keepalive then renews it, and it goes on leading and acking, rightly (the likeliest
  // reading of a CI failure on 2026-12-03: 264 acks after waking, whether a standby was elected
  // unrecorded). 1.7 s is past the TTL (1 s), the last renewal's age (up to a third of it) and
  // etcd's check, and inside the 2 s silence deadlines.
  it("the leader paused just past its lease (SIGSTOP 1.7 s, three times), then resumed: a standby takes over and the old leader sends no ack after waking", async () => {
    c.load.opTimeoutMs = 15_000;
    try {
      for (let k = 0; k < 3; k++) {
        const r = await pauseLeader(1_700);
        expect(r.replaced, `pause ${k + 1}: a standby took over`).toBe(true);
        expect(r.acksAfterWaking, `pause ${k + 1}: acks after waking`).toBe(0);
      }
    } finally {
      c.load.opTimeoutMs = 3_000;
    }
    await healthy();
  }, 60_000);

  it("the leader's disk full: it steps down (fenced), a standby takes over without losing an ack; freed, the old leader rejoins in sync", async (ctx) => {
    if (c.disks === null || !c.disks.available) ctx.skip(`disk faults unavailable: ${c.disks?.why}`);
    const l = await healthy();
    const disk = join(c.dir, l.id);
    const exits = c.cluster.exits.length;
    const taken = c.disks!.fill(disk);
    const full = performance.now();
    try {
      expect(taken).toBeGreaterThan(0);
      await until("a new leader", 15_000, async () => {
        const n = await c.leader();
        return n !== null && n.index !== l.index && n.stats.epoch > l.epoch ? n : null;
      });
      // It stepped down: fenced (exit 3), not crashed; restarted by the supervisor, it waits as a standby.
      expect(c.cluster.exits.slice(exits).map((e) => `${e.name}:${e.code}`)).toContain(`${l.id}:3`);
      await sleep(1_000);
      expect(acksAfter(full + 1_000)).toBeGreaterThan(0);
    } finally {
      c.disks!.free(disk);
    }
    await healthy();
  }, 60_000);

  // FINDING 2 (issue 18; docs/failover.md, "Fault model"): on a full disk a write can be short
  // (part of the records written, no error); the journal takes it as whole (src/journal/journal.ts,
  // writePending: writeSync's count is not checked), fsyncs, and the standby reports as durable
  // records its disk does not hold; the leader commits and acks on that. After the crash that
  // follows (the next write fails: ENOSPC), the standby's journal ends below what it reported.
  // Measured with this test unskipped (seed 18, 400 orders/s): reported durable 11,420 with
  // 11,371 whole records on disk. Fixed: the journal writes the rest of a short write, and a
  // write of nothing is a failure.
  it("a standby's disk full: it never reports durable a record its disk does not hold, waits without exiting, and catches up when freed", async (ctx) => {
    if (c.disks === null || !c.disks.available) ctx.skip(`disk faults unavailable: ${c.disks?.why}`);
    const l = await healthy();
    const si = [0, 1, 2].find((i) => i !== l.index)!;
    const sid = c.seqIds[si]!;
    const exits = c.cluster.exits.length;
    const disk = join(c.dir, sid);
    c.disks!.fill(disk);
    let reported = 0;
    let onDisk = -1;
    try {
      // Sampled until the standby has said for 1 s that it cannot write (it stays up, not following).
      const started = performance.now();
      let stalledAt = Infinity;
      while (performance.now() - stalledAt < 1_000 && performance.now() - started < 10_000) {
        const f = (await c.seqStats(l.index))?.replicas.find((r) => r.id === sid);
        if (f !== undefined) reported = Math.max(reported, f.applied);
        if (stalledAt === Infinity && (await c.seqStats(si))?.journal_stalled != null) stalledAt = performance.now();
        await sleep(5);
      }
      expect(stalledAt, `${sid} says in /stats that its journal cannot be written`).toBeLessThan(Infinity);
      expect(c.cluster.exits.length, "a standby on a full disk waits; it does not exit").toBe(exits);
      // What its disk holds now: whole records, read from a copy (opening cuts a torn tail).
      const copy = mkdtempSync(join(tmpdir(), "lockstep-nemesis-copy-"));
      cpSync(c.cluster.seqJournalDir(si), copy, { recursive: true });
      onDisk = readNodeLog(sid, copy).lastSeq;
      rmSync(copy, { recursive: true, force: true });
    } finally {
      c.disks!.free(disk);
    }
    expect(reported, `${sid}'s highest durable seq as reported to the leader, against the last whole record on its disk (${onDisk})`).toBeLessThanOrEqual(onDisk);
    await healthy();
  }, 60_000);

  it("over the whole run: nothing lost, duplicated, forked, diverged or misreported", async () => {
    const { settle, verdict } = await c.check();
    expect(settle.settled, settle.why).toBe(true);
    const { examples, ...counts } = verdict;
    expect({ lost: counts.lost, phantom_acks: counts.phantom_acks, duplicates: counts.duplicates, rejected_in_log: counts.rejected_in_log, forks: counts.forks, diverged: counts.diverged, report_mismatches: counts.report_mismatches }, JSON.stringify(examples).slice(0, 2000))
      .toEqual({ lost: 0, phantom_acks: 0, duplicates: 0, rejected_in_log: 0, forks: 0, diverged: 0, report_mismatches: 0 });
    expect(counts.journals_identical).toBe(true);
  }, 120_000);
});
