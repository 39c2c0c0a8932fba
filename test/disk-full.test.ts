/**
 * A disk that fills under a running node (issue 18): the journal never leaves part of a record
 * on disk, keeps what it was given in memory and says why it cannot write; it writes everything
 * once space returns. A sequencer on such a disk refuses new commands with STORAGE_UNAVAILABLE,
 * acks nothing that is not on disk, says why in /stats, and resumes by itself when space returns:
 * no exit, no lost or re-used seq. (An HA leader steps down instead: test/nemesis.test.ts.)
 *
 * The disks are size-limited tmpfs mounts (root only); without the right to mount, these skip.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LockstepError, TradingClient } from "../src/client/index.js";
import { Journal, STALL_RETRY_MS } from "../src/journal/journal.js";
import { WireReason } from "../src/protocol/messages.js";
import { NodeDisks } from "../src/tools/drill/faults.js";
import { TestCluster, until } from "./cluster-helpers.js";

const DISK_BYTES = 512 * 1024;
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).reverse().forEach((f) => f()));

function disk(): { dir: string; disks: NodeDisks } {
  const root = mkdtempSync(join(tmpdir(), "lockstep-disk-full-"));
  const dir = join(root, "journal");
  mkdirSync(dir);
  const disks = NodeDisks.mount([dir], DISK_BYTES);
  cleanups.push(() => { disks.unmount(); rmSync(root, { recursive: true, force: true }); });
  return { dir, disks };
}

/** The journal as a fresh open finds it: a copy, so the original stays as the node left it. */
function reopenCopy(dir: string): Journal {
  const copy = mkdtempSync(join(tmpdir(), "lockstep-disk-copy-"));
  cleanups.push(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(dir, copy, { recursive: true });
  rmSync(join(copy, "drill-filler"), { force: true });
  return Journal.open({ dir: copy, segmentBytesMax: 1 << 20, fsync: { mode: "none" }, retainSegmentsMax: 0 });
}

describe("a full disk", () => {
  it("the journal stalls without a partial record, keeps its records, and writes them all when space returns", async (ctx) => {
    const { dir, disks } = disk();
    if (!disks.available) return ctx.skip(disks.why);
    const stalls: (string | null)[] = [];
    const j = Journal.open({ dir, segmentBytesMax: 1 << 20, fsync: { mode: "always" }, retainSegmentsMax: 0, onStall: (why) => stalls.push(why) });
    cleanups.push(() => j.close());
    const payload = (seq: number): Buffer => Buffer.alloc(200 + (seq % 50), seq % 251);
    for (let s = 1; s <= 10; s++) j.append(s, payload(s));
    j.flush();
    expect(j.stalled).toBeNull();
    disks.fill(dir);
    // Batches until the disk refuses one: the last one refused is kept whole in memory.
    let seq = 10;
    while (j.stalled === null && seq < 100_000) {
      for (let k = 0; k < 20; k++) j.append(++seq, payload(seq));
      j.flush();
    }
    expect(j.stalled, "the journal says why it cannot write").toMatch(/could not write \d+ bytes .*(ENOSPC|no space|wrote nothing)/i);
    expect(stalls).toEqual([j.stalled]);
    expect(j.lastSeq).toBe(seq);
    const written = j.lastWrittenSeq;
    expect(written).toBeLessThan(seq);
    expect(j.durableSeq).toBeLessThanOrEqual(written);
    // More records while stalled: kept, not written, no second report of the stall.
    for (let k = 0; k < 5; k++) j.append(++seq, payload(seq));
    j.flush();
    expect(j.lastWrittenSeq).toBe(written);
    expect(stalls).toHaveLength(1);
    // What is held in memory still reads (a standby reads its last record's epoch before following).
    const held = j.read(written - 1, seq);
    expect(held.map((r) => r.seq)).toEqual(Array.from({ length: seq - written + 2 }, (_, k) => written - 1 + k));
    expect(held.every((r) => r.payload.equals(payload(r.seq)))).toBe(true);
    expect(held.at(-1)!.chain.equals(j.chain)).toBe(true);
    // The disk holds whole records only, and exactly the written ones (nothing torn to cut).
    const before = reopenCopy(dir);
    expect(before.truncatedBytes, before.recoveryNote ?? "").toBe(0);
    expect(before.lastSeq).toBe(written);
    before.close();

    disks.free(dir);
    const freed = performance.now();
    await until(() => j.stalled === null, 20 * STALL_RETRY_MS);
    expect(performance.now() - freed).toBeLessThan(10 * STALL_RETRY_MS);
    expect(stalls).toEqual([stalls[0], null]);
    expect(j.lastWrittenSeq).toBe(seq);
    await until(() => j.durableSeq === seq, 5_000);
    const after = reopenCopy(dir);
    expect(after.lastSeq).toBe(seq);
    expect(after.chain.equals(j.chain)).toBe(true);
    expect([...after.records(1)].map((r) => r.payload.equals(payload(r.seq)))).toEqual(Array.from({ length: seq }, () => true));
    after.close();
  });

  it("a sequencer refuses new commands with STORAGE_UNAVAILABLE, acks nothing off disk, and resumes when space returns", async (ctx) => {
    const cluster = new TestCluster();
    cleanups.push(() => cluster.stop());
    const dir = join(cluster.dir, "journal");
    mkdirSync(dir);
    const disks = NodeDisks.mount([dir], DISK_BYTES);
    cleanups.push(() => disks.unmount());
    if (!disks.available) return ctx.skip(disks.why);
    await cluster.start(1);
    const replica = cluster.replicas[0]!;
    const c = await TradingClient.connect(cluster.tradeUrl, 1);
    cleanups.push(() => void c.close());
    const order = (i: number): Promise<unknown> => c.submit({ instrument: 1, side: i % 2 === 0 ? "buy" : "sell", price: 1000 + (i % 7), quantity: 1 + (i % 3) });
    for (let i = 0; i < 20; i++) await order(i);
    disks.fill(dir);

    // Orders in flight when the disk fills: some are sequenced before the journal notices and
    // wait for the disk; every one after that is refused, not sequenced.
    const outcomes: { seq?: number; code?: number }[] = [];
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < 2_000 && cluster.sequencer.stats().journal_stalled === null; i++) {
      inFlight.push(order(i).then((a) => { outcomes.push({ seq: (a as { seq: number }).seq }); }, (e: LockstepError) => { outcomes.push({ code: e.code }); }));
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await until(() => cluster.sequencer.stats().journal_stalled !== null, 10_000);
    const stats = cluster.sequencer.stats();
    expect(stats.journal_stalled).toMatch(/could not write/);
    expect(stats.journal_stalls).toBe(1);
    const refused = await order(9).then(() => null, (e: LockstepError) => e);
    expect(refused?.code, "a command while the journal cannot be written").toBe(WireReason.STORAGE_UNAVAILABLE);
    expect(refused?.message).toMatch(/cannot write its journal/);
    const seqAtStall = cluster.sequencer.lastSeq;
    // Nothing acked beyond what is written, and replicas get nothing unwritten.
    const ackedSoFar = outcomes.filter((o) => o.seq !== undefined).map((o) => o.seq!);
    const onDisk = reopenCopy(dir).lastSeq;
    expect(Math.max(0, ...ackedSoFar)).toBeLessThanOrEqual(onDisk);
    expect(replica.stats().seq).toBeLessThanOrEqual(onDisk);
    expect(cluster.sequencer.lastSeq).toBe(seqAtStall);

    disks.free(dir);
    await Promise.all(inFlight);
    await until(() => cluster.sequencer.stats().journal_stalled === null, 5_000);
    // Every command sequenced before the stall is acked, none refused after being sequenced.
    const acked = outcomes.filter((o) => o.seq !== undefined).map((o) => o.seq!).sort((a, b) => a - b);
    expect(outcomes.every((o) => o.seq !== undefined || o.code === WireReason.STORAGE_UNAVAILABLE)).toBe(true);
    expect(acked).toEqual(Array.from({ length: seqAtStall - 20 }, (_, k) => 21 + k));
    const next = (await order(1)) as { seq: number };
    expect(next.seq).toBe(seqAtStall + 1);
    await until(() => replica.stats().seq === next.seq, 10_000);
    expect(reopenCopy(dir).lastSeq).toBe(next.seq);
  });
});
