/**
 * The journal keeps what it was given and says when it cannot: records read back from any seq
 * across segment rolls and reopenings; a torn tail (a record cut mid-way) is cut off on open;
 * a flipped byte is caught by the CRC (cut at the tail, refused in an older segment); the hash
 * chain links every record; retention drops whole old segments; fsync policies report
 * durability; a tail can be cut back to a seq.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal, JournalCorruptError, type JournalOptions } from "../src/journal/journal.js";
import { chainNext, GENESIS_CHAIN } from "../src/protocol/record.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function opts(over: Partial<JournalOptions> = {}): JournalOptions {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-journal-"));
  dirs.push(dir);
  return { dir, segmentBytesMax: 1024, fsync: { mode: "none" }, retainSegmentsMax: 0, ...over };
}
const payload = (seq: number): Buffer => Buffer.from(`record-${seq}-${"x".repeat(seq % 17)}`);
function fill(j: Journal, from: number, to: number): void {
  for (let s = from; s <= to; s++) j.append(s, payload(s));
  j.flush();
}
const segments = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith(".seg")).sort();

describe("journal", () => {
  it("the chain value is the first 16 bytes of SHA-256(previous chain ‖ payload)", () => {
    const payloadBytes = Buffer.from("record-1");
    const expected = createHash("sha256").update(GENESIS_CHAIN).update(payloadBytes).digest().subarray(0, 16);
    expect(chainNext(GENESIS_CHAIN, payloadBytes).equals(expected)).toBe(true);
    expect(chainNext(expected, payloadBytes).equals(createHash("sha256").update(expected).update(payloadBytes).digest().subarray(0, 16))).toBe(true);
  });

  it("truncateAfter cuts back to a seq (across segments), durably, and appends continue the chain from there", () => {
    const o = opts();
    const j = Journal.open(o);
    fill(j, 1, 200);
    const chain37 = j.chainAt(37);
    const before = segments(o.dir).length;
    j.truncateAfter(37);
    expect(j.lastSeq).toBe(37);
    expect(j.chain.equals(chain37)).toBe(true);
    expect(segments(o.dir).length).toBeLessThan(before);
    expect(() => j.read(38, 1)).not.toThrow();
    expect(j.read(38, 10)).toEqual([]);
    fill(j, 38, 60);
    j.close();
    const r = Journal.open(o);
    expect(r.truncatedBytes).toBe(0);
    expect(r.lastSeq).toBe(60);
    expect(r.read(1, 100).map((x) => x.payload.toString())).toEqual(Array.from({ length: 60 }, (_, i) => payload(i + 1).toString()));
    r.truncateAfter(0);
    expect(r.lastSeq).toBe(0);
    expect(r.chain.equals(GENESIS_CHAIN)).toBe(true);
    r.close();
    expect(Journal.open(o).lastSeq).toBe(0);
  });

  it("reads back from any seq across segment rolls and a reopen, with a linked hash chain", () => {
    const o = opts();
    const j = Journal.open(o);
    fill(j, 1, 200);
    expect(segments(o.dir).length).toBeGreaterThan(3);
    j.close();
    const r = Journal.open(o);
    expect(r.lastSeq).toBe(200);
    expect(r.truncatedBytes).toBe(0);
    const recs = r.read(37, 500);
    expect(recs.map((x) => x.seq)).toEqual(Array.from({ length: 164 }, (_, i) => 37 + i));
    expect(recs.every((x) => x.payload.equals(payload(x.seq)))).toBe(true);
    let chain = GENESIS_CHAIN;
    for (const rec of r.read(1, 500)) {
      chain = chainNext(chain, rec.payload);
      expect(rec.chain.equals(chain)).toBe(true);
    }
    expect(r.chain.equals(chain)).toBe(true);
    fill(r, 201, 210);
    expect(r.read(205, 3).map((x) => x.seq)).toEqual([205, 206, 207]);
    // records() pages through everything written, across segments.
    expect([...r.records(1, 7)].map((x) => x.seq)).toEqual(Array.from({ length: 210 }, (_, i) => i + 1));
  });

  it("cuts a torn tail (a record truncated mid-way) and keeps everything before it", () => {
    const o = opts({ segmentBytesMax: 1 << 20 });
    const j = Journal.open(o);
    fill(j, 1, 50);
    j.close();
    const file = join(o.dir, segments(o.dir).at(-1)!);
    truncateSync(file, statSync(file).size - 5);
    const r = Journal.open(o);
    expect(r.lastSeq).toBe(49);
    expect(r.truncatedBytes).toBeGreaterThan(0);
    expect(r.recoveryNote).toMatch(/incomplete record/);
    fill(r, 50, 51);
    expect(r.read(48, 10).map((x) => x.payload.toString())).toEqual([48, 49, 50, 51].map((s) => payload(s).toString()));
  });

  it("detects a flipped byte by CRC: cut at the tail of the last segment, refused in an older one", () => {
    const o = opts();
    const j = Journal.open(o);
    fill(j, 1, 120);
    j.close();
    const names = segments(o.dir);
    const flip = (name: string, at: number): void => {
      const f = join(o.dir, name);
      const b = readFileSync(f);
      b[at] = b[at]! ^ 0xff;
      writeFileSync(f, b);
    };
    flip(names.at(-1)!, 40);
    const r = Journal.open(o);
    expect(r.recoveryNote).toMatch(/CRC mismatch/);
    expect(r.lastSeq).toBeLessThan(120);
    r.close();
    flip(names[0]!, 40);
    expect(() => Journal.open(o)).toThrow(JournalCorruptError);
  });

  it("cuts a record whose CRC is valid but whose chain does not follow (a second writer's record)", () => {
    // Record 4 as written by a writer whose records 1-3 match ours...
    const other = opts({ segmentBytesMax: 1 << 20 });
    const w = Journal.open(other);
    fill(w, 1, 3);
    w.close();
    const before = readFileSync(join(other.dir, segments(other.dir)[0]!)).length;
    const w2 = Journal.open(other);
    fill(w2, 4, 4);
    w2.close();
    const record4 = readFileSync(join(other.dir, segments(other.dir)[0]!)).subarray(before);
    // ...appended after a different record 3: its CRC checks, its chain does not.
    const forked = opts({ segmentBytesMax: 1 << 20 });
    const f = Journal.open(forked);
    f.append(1, payload(1));
    f.append(2, payload(2));
    f.append(3, Buffer.from("a different record 3"));
    f.close();
    appendFileSync(join(forked.dir, segments(forked.dir)[0]!), record4);
    const r = Journal.open(forked);
    expect(r.lastSeq).toBe(3);
    expect(r.recoveryNote).toMatch(/hash chain broken/);
  });

  it("a segment roll makes the old segment durable before the next fsync goes to the new one", async () => {
    let durable = 0;
    const o = opts({ segmentBytesMax: 256, fsync: { mode: "batch", intervalUs: 60_000_000, records: 1_000_000 }, onDurable: (s) => { durable = s; } });
    const j = Journal.open(o);
    for (let s = 1; s <= 40; s++) {
      j.append(s, payload(s));
      j.flush();
    }
    // No batch fsync was due (huge thresholds): only the rolls made earlier records durable,
    // and each roll covered exactly what its segment held.
    expect(segments(o.dir).length).toBeGreaterThan(3);
    expect(durable).toBeGreaterThan(0);
    expect(durable).toBeLessThan(40);
    expect(j.read(1, 100).length).toBe(40);
    j.close();
    expect(durable).toBe(40);
  });

  it("refuses appends out of order and records that are empty or too large", () => {
    const j = Journal.open(opts());
    expect(() => j.append(2, payload(2))).toThrow(/after 0/);
    expect(() => j.append(1, Buffer.alloc(0))).toThrow(/0 bytes/);
    expect(() => j.append(1, Buffer.alloc(70_000))).toThrow(/70000 bytes/);
  });

  it("retention drops the oldest segments and says so when asked for them", () => {
    const o = opts({ retainSegmentsMax: 2 });
    const j = Journal.open(o);
    fill(j, 1, 300);
    expect(segments(o.dir).length).toBe(2);
    expect(j.firstSeq).toBeGreaterThan(1);
    expect(() => j.read(1, 10)).toThrow(/no longer retained/);
    expect(j.read(j.firstSeq, 1)[0]!.seq).toBe(j.firstSeq);
    j.close();
    expect(Journal.open(o).lastSeq).toBe(300);
  });

  it("reports durability per fsync policy: at once with none, after fsync with always and batch, on the loop or off it", async () => {
    for (const fsync of [
      { mode: "always" as const }, { mode: "batch" as const, intervalUs: 2000, records: 1000 },
      { mode: "always" as const, offLoop: true }, { mode: "batch" as const, intervalUs: 2000, records: 1000, offLoop: true },
    ]) {
      const durable: number[] = [];
      let done!: () => void;
      const reached = new Promise<void>((r) => (done = r));
      const j = Journal.open(opts({ fsync, onDurable: (s) => { durable.push(s); if (s === 10) done(); } }));
      fill(j, 1, 10);
      expect(j.durableSeq).toBe(0);
      await reached;
      expect(j.durableSeq).toBe(10);
      j.close();
    }
    const j = Journal.open(opts());
    fill(j, 1, 5);
    expect(j.durableSeq).toBe(5);
  });

  it("on the loop, a due fsync runs at the end of the turn that wrote: after what the caller does next, before any I/O callback", async () => {
    const order: string[] = [];
    const j = Journal.open(opts({ fsync: { mode: "always" }, onDurable: (s) => order.push(`durable ${s}`) }));
    j.append(1, payload(1));
    j.flush();
    order.push("after flush");
    expect(j.durableSeq).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(["after flush", "durable 1"]);
    expect(j.durableSeq).toBe(1);
    // A batch fsync that is not due yet waits for its timer, and runs on the loop then.
    let timerFsync!: () => void;
    const synced = new Promise<void>((r) => (timerFsync = r));
    const b = Journal.open(opts({ fsync: { mode: "batch", intervalUs: 5_000, records: 1_000 }, onDurable: () => timerFsync() }));
    const t0 = performance.now();
    b.append(1, payload(1));
    b.flush();
    await new Promise((r) => setImmediate(r));
    expect(b.durableSeq).toBe(0);
    await synced;
    expect(b.durableSeq).toBe(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(4);
    j.close();
    b.close();
  });
});
