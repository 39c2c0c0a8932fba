/**
 * A race in leadership, found by the nemesis drill (5,000 orders/s, leaders losing 1 s leases
 * on a saturated machine) and pinned here with a scripted coordinator: a standby about to
 * follow asks etcd which epochs replaced its tail; while it waits for the answer it is elected
 * and sequences its own epoch; the answer names that very epoch, and the node cut its own new
 * records (already sent to its standbys, which then refused its next batch as a fork). Now only
 * a standby cuts, and only when its journal did not move while etcd answered.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { SystemClock } from "../src/clock/clock.js";
import { Journal } from "../src/journal/journal.js";
import { encodeRecord } from "../src/protocol/record.js";
import type { ClusterState, Coordinator } from "../src/sequencer/coordinator.js";
import { Leadership, type HaHost } from "../src/sequencer/ha.js";
import type { Publisher } from "../src/replication/publisher.js";
import { RecordRing } from "../src/replication/record-ring.js";
import { NodeDisks } from "../src/tools/drill/faults.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const record = (seq: number, epoch: number): Buffer =>
  encodeRecord({ seq, epoch, tsUs: 1_000_000 + seq, cmd: { type: "cancel-all", account: 1 } });

/** A journal holding seqs 1–10 of epoch 1 (in `dir`, or a new directory). */
function journalOfTen(dir = mkdtempSync(join(tmpdir(), "lockstep-ha-race-"))): Journal {
  dirs.push(dir);
  const journal = Journal.open({ dir, segmentBytesMax: 1 << 20, fsync: { mode: "none" }, retainSegmentsMax: 0 });
  for (let s = 1; s <= 10; s++) journal.append(s, record(s, 1));
  journal.flush();
  return journal;
}

/** What Leadership needs of its sequencer, as a standby whose `lead` makes it the leader. */
function standbyHost(journal: Journal): HaHost & { role: "leader" | "standby" | "fenced" } {
  return {
    journal, ring: new RecordRing(1000), publisher: { standbys: () => [], durableOf: () => 0 } as unknown as Publisher,
    clock: new SystemClock(), log: pino({ level: "silent" }), batchRecordsMax: 512, role: "standby", epoch: 1,
    selfUrl: () => "ws://127.0.0.1:9", scheduleTick: () => undefined,
    lead(epoch) { this.epoch = epoch; this.role = "leader"; },
    cutTo: () => undefined, fence() { this.role = "fenced"; },
  };
}

describe("leadership: elected while asking etcd what to cut", () => {
  it("a node elected meanwhile keeps its own epoch's records", async () => {
    const journal = journalOfTen();

    let answer: ((epochs: { epoch: number; startSeq: number }[]) => void) | null = null;
    let elected: (() => void) | null = null;
    let leaderUrl: ((url: string | undefined) => void) | null = null;
    let asked = 0;
    const state: ClusterState = { epoch: 1, leader: "old", startSeq: 1, isr: ["me"] };
    const coordinator = {
      leading: true,
      async epochsAfter() {
        // The first question (join) is answered at once; the second (before following) waits.
        if (++asked === 1) return [];
        return new Promise((resolve) => { answer = resolve; });
      },
      async readState() { return { state, rev: "1" }; },
      async observe(cb: (url: string | undefined) => void) { leaderUrl = cb; },
      campaign(_url: string, onElected: () => void) { elected = onElected; },
      async promote(_prev: unknown, startSeq: number) { return { epoch: 2, leader: "me", startSeq, isr: [] }; },
      async resign() {},
      async setIsr() { return true; },
      async close() {},
    } as unknown as Coordinator;

    const host = standbyHost(journal);
    const leadership = new Leadership({ coordinator, id: "me", isrLagMsMax: 500, onFenced: () => undefined }, host);
    try {
      await leadership.join();
      // The old leader is announced: the standby prepares to follow and asks etcd (held).
      leaderUrl!("ws://127.0.0.1:1");
      await until(() => answer !== null);
      // Elected meanwhile: it leads epoch 2 from seq 11 and sequences its own records.
      elected!();
      await until(() => host.role === "leader");
      for (let s = 11; s <= 20; s++) journal.append(s, record(s, 2));
      journal.flush();
      // Now etcd's answer arrives: epoch 2 starts at 11 — ours.
      answer!([{ epoch: 2, startSeq: 11 }]);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 20));
      expect(journal.lastSeq, "the leader's own records of epoch 2").toBe(20);
    } finally {
      leadership.stop();
      journal.close();
    }
  });
});

describe("leadership: a leader change announced while being promoted", () => {
  it("the new leader follows nobody afterwards (no retry loop preparing to follow)", async () => {
    const journal = journalOfTen();
    let elected: (() => void) | null = null;
    let leaderUrl: ((url: string | undefined) => void) | null = null;
    const held: (() => void)[] = [];
    let holdReads = false;
    let prepared = 0;
    const state: ClusterState = { epoch: 1, leader: "old", startSeq: 1, isr: ["me"] };
    const coordinator = {
      leading: true,
      async epochsAfter() { prepared++; return []; },
      async readState() {
        if (holdReads) await new Promise<void>((r) => { held.push(r); });
        return { state, rev: "1" };
      },
      async observe(cb: (url: string | undefined) => void) { leaderUrl = cb; },
      campaign(_url: string, onElected: () => void) { elected = onElected; },
      async promote(_prev: unknown, startSeq: number) { return { epoch: 2, leader: "me", startSeq, isr: [] }; },
      async resign() {}, async setIsr() { return true; }, async close() {},
    } as unknown as Coordinator;
    const host = standbyHost(journal);
    const leadership = new Leadership({ coordinator, id: "me", isrLagMsMax: 500, onFenced: () => undefined }, host);
    try {
      await leadership.join();
      holdReads = true;
      elected!();
      await until(() => held.length > 0);
      // While the promotion waits on etcd, a leader change is announced: the standby starts following it.
      leaderUrl!("ws://127.0.0.1:2");
      await new Promise((r) => setTimeout(r, 10));
      holdReads = false;
      held.splice(0).forEach((r) => r());
      await until(() => host.role === "leader");
      const after = prepared;
      // Longer than the subscriber's retry after a failed preparation (1 s).
      await new Promise((r) => setTimeout(r, 1_300));
      expect(prepared - after, "preparations to follow after becoming leader").toBe(0);
      expect(leadership.stats().following).toBeNull();
    } finally {
      leadership.stop();
      journal.close();
    }
  });
});

/** Records appended one by one until the filled disk refuses one (a page is 4 KiB). */
const RECORDS_UNTIL_FULL_MAX = 5_000;

/** A standby on a small real tmpfs, with a scripted coordinator that counts what it is asked. */
interface FullDiskStandby {
  readonly journal: Journal;
  readonly host: ReturnType<typeof standbyHost>;
  readonly leadership: Leadership;
  readonly calls: { campaigns: number; resigns: number; promotes: number };
  /** The last campaign's "elected". */
  elect(): void;
  /** Fills the disk and appends records until the journal stalls; returns the last seq held. */
  fillWhileAppending(): number;
  free(): void;
}

/**
 * Runs `body` with such a standby (joined), or skips where tmpfs cannot be mounted.
 * `onPromote` runs inside the coordinator's promote, before it answers.
 */
async function withFullDiskStandby(ctx: { skip: (why: string) => void }, body: (s: FullDiskStandby) => Promise<void>, onPromote: (s: FullDiskStandby, n: number) => void = () => undefined): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "lockstep-ha-race-disk-"));
  dirs.push(root);
  const dir = join(root, "journal");
  const disks = NodeDisks.mount([dir], 256 * 1024);
  try {
    if (!disks.available) return ctx.skip(disks.why);
    const journal = journalOfTen(dir);
    const calls = { campaigns: 0, resigns: 0, promotes: 0 };
    let elected: (() => void) | null = null;
    const state: ClusterState = { epoch: 1, leader: "old", startSeq: 1, isr: ["me"] };
    const coordinator = {
      leading: true,
      async epochsAfter() { return []; },
      async readState() { return { state, rev: "1" }; },
      async observe() {},
      campaign(_url: string, onElected: () => void) { calls.campaigns++; elected = onElected; },
      async promote(_prev: unknown, startSeq: number) {
        onPromote(s, ++calls.promotes);
        return { epoch: 1 + calls.promotes, leader: "me", startSeq, isr: [] };
      },
      async resign() { calls.resigns++; },
      async setIsr() { return true; }, async close() {},
    } as unknown as Coordinator;
    const host = standbyHost(journal);
    const leadership = new Leadership({ coordinator, id: "me", isrLagMsMax: 500, onFenced: () => undefined }, host);
    const s: FullDiskStandby = {
      journal, host, leadership, calls,
      elect: () => elected!(),
      fillWhileAppending: () => {
        disks.fill(dir);
        // (tmpfs gives whole pages: the segment's last page still takes a few records.)
        for (let seq = journal.lastSeq + 1; seq <= RECORDS_UNTIL_FULL_MAX && journal.stalled === null; seq++) {
          journal.append(seq, record(seq, 1));
          journal.flush();
        }
        return journal.lastSeq;
      },
      free: () => disks.free(dir),
    };
    try {
      await leadership.join();
      await body(s);
    } finally {
      leadership.stop();
      journal.close();
    }
  } finally {
    disks.unmount();
  }
}

describe("leadership: a standby whose journal cannot be written", () => {
  // A standby elected while its disk was full led from records only in its memory (lead()
  // commits the journal's end): it would send them to replicas, ack after them, and lose them
  // if it crashed before the disk freed.
  it("does not lead, elected or not, and campaigns again once its journal can write", (ctx) => withFullDiskStandby(ctx, async ({ journal, host, leadership, calls, elect, fillWhileAppending, free }) => {
    expect(calls.campaigns).toBe(1);
    // The disk fills while records from the leader arrive: they stay in memory.
    const held = fillWhileAppending();
    expect(journal.stalled, "the journal says it cannot write").not.toBeNull();
    expect(journal.lastWrittenSeq).toBeLessThan(held);
    // Elected before the sequencer has told Leadership of the stall: it resigns, no promotion.
    elect();
    await until(() => calls.resigns === 1);
    expect(host.role).toBe("standby");
    expect(calls.promotes).toBe(0);
    // Told of the stall: out of the election, and it stays out (no campaign after RECAMPAIGN_MS).
    leadership.onJournalStalled();
    await until(() => calls.resigns === 2);
    await new Promise((r) => setTimeout(r, 700));
    expect(calls.campaigns, "campaigns while the journal cannot write").toBe(1);
    // Space returns; the journal writes what it held, and the standby campaigns again.
    free();
    await until(() => journal.stalled === null && journal.lastWrittenSeq === held, 5_000);
    leadership.onJournalWritable();
    expect(calls.campaigns).toBe(2);
    elect();
    await until(() => host.role === "leader");
    expect(calls.promotes).toBe(1);
    expect(host.epoch).toBe(2);
  }));
});

describe("leadership: the disk fills while etcd promotes the standby", () => {
  it("it does not lead the epoch it was given, and leads once its journal can write", (ctx) => {
    let held = 0;
    // While etcd answers the first promotion, the disk fills with records from the old leader still being written.
    const onPromote = (s: FullDiskStandby, n: number): void => { if (n === 1) held = s.fillWhileAppending(); };
    return withFullDiskStandby(ctx, async ({ journal, host, leadership, calls, elect, free }) => {
      elect();
      await until(() => calls.resigns === 1);
      expect(journal.stalled, "the journal says it cannot write").not.toBeNull();
      expect(host.role, "promoted in etcd, but not leading with records off its disk").toBe("standby");
      free();
      await until(() => journal.stalled === null && journal.lastWrittenSeq === held, 5_000);
      leadership.onJournalWritable();
      elect();
      await until(() => host.role === "leader");
      expect(host.epoch).toBe(3);
    }, onPromote);
  });
});

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 1));
  }
}
