/**
 * The sequencer's log: segmented, append-only files of sequenced records.
 *
 * Record layout: u32 length of payload | u32 CRC32 of (chain + payload) | 16-byte chain | payload.
 * The chain value (protocol/record.ts, shared with the replication link) travels with
 * replication so a replica can tell that the log it follows is the one it already applied (a
 * second writer after a failover, or a swapped segment, breaks it).
 *
 * Segments are named by the seq of their first record. On open, every record's CRC is checked;
 * a bad or incomplete record at the end of the last segment is a torn write and is cut off
 * (the journal says how many bytes); anywhere else it is corruption and open refuses.
 * Appends are buffered and written once per flush (group commit); fsync runs according to the
 * policy, on the event loop unless it says `offLoop`, and `durableSeq` says what survived.
 */
import { closeSync, existsSync, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { CHAIN_BYTES, chainNext, GENESIS_CHAIN } from "../protocol/record.js";

const HEADER_BYTES = 8 + CHAIN_BYTES;
export const RECORD_BYTES_MAX = 64 * 1024;
/**
 * While the disk refuses a write (full, or an I/O error), the journal keeps what it was given in
 * memory and tries again this often; the first write that succeeds ends the stall.
 */
export const STALL_RETRY_MS = 100;

/**
 * `offLoop`: fsync on libuv's thread pool while the event loop runs on (the behaviour before
 * 2026-12-03), instead of on the loop itself (the default). Off the loop, each fsync wakes a pool
 * thread and then the loop again when it completes, and under load the next fsync starts as soon
 * as one ends, whatever the interval; on the loop the fsync blocks it for the call's duration
 * (about 0.1–0.2 ms on this machine's disk), right after the turn that wrote the records.
 */
export type FsyncPolicy =
  | { readonly mode: "none" }
  | { readonly mode: "always"; readonly offLoop?: boolean }
  /** Group commit: fsync once `records` are pending or `intervalUs` has passed since the first pending one. */
  | { readonly mode: "batch"; readonly intervalUs: number; readonly records: number; readonly offLoop?: boolean };

export interface JournalOptions {
  readonly dir: string;
  readonly segmentBytesMax: number;
  readonly fsync: FsyncPolicy;
  /** Oldest segments beyond this count are deleted; 0 keeps everything. */
  readonly retainSegmentsMax: number;
  /** Called whenever durableSeq advances. */
  readonly onDurable?: (seq: number) => void;
  /** Called when a write fails and the journal stalls (`why`), and when it can write again (null). */
  readonly onStall?: (why: string | null) => void;
}

export interface JournalRecord {
  readonly seq: number;
  readonly chain: Buffer;
  readonly payload: Buffer;
}

export class JournalCorruptError extends Error {}

interface Segment {
  readonly firstSeq: number;
  readonly path: string;
  /** Byte offset of each record; index i holds seq firstSeq + i. */
  readonly offsets: number[];
  bytes: number;
}


const segmentName = (firstSeq: number): string => `${String(firstSeq).padStart(20, "0")}.seg`;

export class Journal {
  private readonly segments: Segment[] = [];
  private fd = -1;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lastSeq_ = 0;
  private chain_: Buffer = GENESIS_CHAIN;
  private writtenSeq = 0;
  private durableSeq_ = 0;
  private syncing = false;
  private syncTimer: NodeJS.Timeout | null = null;
  /** An on-loop fsync is due at the end of this turn (syncSoon). */
  private syncQueued = false;
  private unsyncedSince = 0;
  private stalled_: string | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  /** Bytes cut off a torn tail when the journal was opened. */
  readonly truncatedBytes: number;
  /** Why the tail was cut (e.g. "CRC mismatch at byte 4096 of …"), or null. */
  recoveryNote: string | null = null;

  private constructor(private readonly opts: JournalOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.truncatedBytes = this.recover();
    this.writtenSeq = this.lastSeq_;
    this.durableSeq_ = this.lastSeq_;
  }

  static open(opts: JournalOptions): Journal {
    return new Journal(opts);
  }

  get lastSeq(): number {
    return this.lastSeq_;
  }
  /** Chain value after the last appended record. */
  get chain(): Buffer {
    return this.chain_;
  }
  /** Last seq handed to the OS (written, perhaps not yet fsync'd): below lastSeq while the disk refuses writes. */
  get lastWrittenSeq(): number {
    return this.writtenSeq;
  }
  get durableSeq(): number {
    return this.durableSeq_;
  }
  /** Lowest seq still readable (retention may have dropped older ones). */
  get firstSeq(): number {
    return this.segments[0]?.firstSeq ?? this.lastSeq_ + 1;
  }

  private recover(): number {
    const names = readdirSync(this.opts.dir).filter((n) => /^\d{20}\.seg$/.test(n)).sort();
    let cut = 0;
    names.forEach((name, i) => {
      const seg: Segment = { firstSeq: Number(name.slice(0, 20)), path: join(this.opts.dir, name), offsets: [], bytes: 0 };
      if (this.segments.length > 0 && seg.firstSeq !== this.lastSeq_ + 1) {
        throw new JournalCorruptError(`${name}: starts at seq ${seg.firstSeq}, expected ${this.lastSeq_ + 1}`);
      }
      cut += this.scan(seg, i === names.length - 1);
      this.segments.push(seg);
    });
    return cut;
  }

  /**
   * Checks a segment's records (CRC and chain) from one read of the whole file, rather than two
   * system calls per record; returns the bytes cut from a torn tail.
   */
  private scan(seg: Segment, last: boolean): number {
    const fd = openSync(seg.path, last ? "r+" : "r");
    try {
      const size = fstatSync(fd).size;
      const file = Buffer.allocUnsafe(size);
      for (let got = 0; got < size; ) got += readSync(fd, file, got, size - got, got);
      let off = 0;
      while (off < size) {
        // The first retained record's predecessor may have been deleted by retention: trust its chain.
        const trustChain = this.segments.length === 0 && seg.offsets.length === 0 && seg.firstSeq !== 1;
        const problem = this.parseAt(file, off, trustChain);
        if (typeof problem === "string") {
          if (!last) throw new JournalCorruptError(`${seg.path}: ${problem} at byte ${off}`);
          this.recoveryNote = `${problem} at byte ${off} of ${seg.path}; ${size - off} bytes cut`;
          ftruncateSync(fd, off);
          seg.bytes = off;
          return size - off;
        }
        seg.offsets.push(off);
        this.lastSeq_ = seg.firstSeq + seg.offsets.length - 1;
        this.chain_ = problem.chain;
        off += HEADER_BYTES + problem.payloadBytes;
      }
      seg.bytes = size;
      return 0;
    } finally {
      closeSync(fd);
    }
  }

  /** The record at `off` of a segment held in memory, or why it is not a valid one. */
  private parseAt(file: Buffer, off: number, trustChain: boolean): { chain: Buffer; payloadBytes: number } | string {
    if (off + HEADER_BYTES > file.length) return "incomplete record header";
    const len = file.readUInt32LE(off);
    if (len === 0 || len > RECORD_BYTES_MAX) return `impossible record length ${len}`;
    if (off + HEADER_BYTES + len > file.length) return "incomplete record";
    const body = file.subarray(off + 8, off + HEADER_BYTES + len);
    if (crc32(body) !== file.readUInt32LE(off + 4)) return "CRC mismatch";
    const chain = body.subarray(0, CHAIN_BYTES);
    if (!trustChain && !chainNext(this.chain_, body.subarray(CHAIN_BYTES)).equals(chain)) return "hash chain broken";
    return { chain: Buffer.from(chain), payloadBytes: len };
  }

  /** Appends record `seq` (must be lastSeq + 1). Buffered until flush(). Returns its chain value. */
  append(seq: number, payload: Buffer): Buffer {
    if (seq !== this.lastSeq_ + 1) throw new Error(`journal: append of seq ${seq} after ${this.lastSeq_}`);
    if (payload.length === 0 || payload.length > RECORD_BYTES_MAX) throw new Error(`journal: record of ${payload.length} bytes`);
    const chain = chainNext(this.chain_, payload);
    const rec = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    rec.writeUInt32LE(payload.length, 0);
    chain.copy(rec, 8);
    payload.copy(rec, HEADER_BYTES);
    rec.writeUInt32LE(crc32(rec.subarray(8)), 4);
    // While stalled the current segment grows past its size (a new file would need the disk).
    if (this.segments.length === 0 || (this.stalled_ === null && this.current().bytes + this.pendingBytes >= this.opts.segmentBytesMax)) this.roll(seq);
    const seg = this.current();
    seg.offsets.push(seg.bytes + this.pendingBytes);
    this.pending.push(rec);
    this.pendingBytes += rec.length;
    this.lastSeq_ = seq;
    this.chain_ = chain;
    return chain;
  }

  private current(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private roll(firstSeq: number): void {
    // A disk that refuses the old segment's tail keeps it the current one (pending) for now.
    if (!this.writePending()) return;
    if (this.fd >= 0) {
      // Everything up to lastSeq is now in the old file, and the next fsync will be of the new
      // one: make the old file durable before letting go of it.
      this.writtenSeq = this.lastSeq_;
      if (this.opts.fsync.mode !== "none") {
        fsyncSync(this.fd);
        this.advanceDurable(this.lastSeq_);
      }
      closeSync(this.fd);
    }
    const seg: Segment = { firstSeq, path: join(this.opts.dir, segmentName(firstSeq)), offsets: [], bytes: 0 };
    this.segments.push(seg);
    this.fd = -1;
    const max = this.opts.retainSegmentsMax;
    while (max > 0 && this.segments.length > max) unlinkSync(this.segments.shift()!.path);
  }

  /** Why the journal cannot write (e.g. "ENOSPC: no space left on device …"), or null when it can. */
  get stalled(): string | null {
    return this.stalled_;
  }

  /**
   * Writes the pending records at the end of the current segment; false when the disk refused
   * them. writeSync may write less than asked (a full disk writes what fits): the rest is written
   * from where it stopped. A write that fails leaves no part of a record behind (the file is cut
   * back to its last whole record) and keeps the records pending: durableSeq only ever covers
   * bytes on disk, and the next attempt writes them whole.
   */
  private writePending(): boolean {
    if (this.pending.length === 0) return true;
    const seg = this.current();
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [buf];
    try {
      if (this.fd < 0) this.fd = openSync(seg.path, existsSync(seg.path) ? "r+" : "w");
      for (let done = 0; done < buf.length;) {
        const n = writeSync(this.fd, buf, done, buf.length - done, seg.bytes + done);
        if (n <= 0) throw new Error(`wrote nothing of ${buf.length - done} bytes`);
        done += n;
      }
    } catch (err) {
      if (this.fd >= 0) {
        try {
          ftruncateSync(this.fd, seg.bytes);
        } catch {
          // The torn tail stays; opening the journal cuts it (CRC), and nothing counts it as written.
        }
      }
      this.stall(`could not write ${buf.length} bytes to ${seg.path}: ${(err as Error).message}`);
      return false;
    }
    seg.bytes += buf.length;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.stalled_ !== null) {
      this.stalled_ = null;
      this.opts.onStall?.(null);
    }
    return true;
  }

  private stall(why: string): void {
    const first = this.stalled_ === null;
    this.stalled_ = why;
    if (this.stallTimer === null) {
      this.stallTimer = setTimeout(() => {
        this.stallTimer = null;
        this.flush();
      }, STALL_RETRY_MS);
    }
    if (first) this.opts.onStall?.(why);
  }

  /**
   * Writes everything appended so far to the OS, then fsyncs according to the policy. While the
   * disk refuses writes (`stalled`), the records stay pending and are retried every
   * STALL_RETRY_MS; nothing of them counts as written or durable until they are.
   */
  flush(): void {
    if (this.pending.length === 0) return;
    if (this.stalled_ !== null && this.stallTimer !== null) return;
    if (!this.writePending()) return;
    this.writtenSeq = this.lastSeq_;
    const p = this.opts.fsync;
    if (p.mode === "none") return this.advanceDurable(this.writtenSeq);
    if (this.unsyncedSince === 0) this.unsyncedSince = performance.now();
    const due = p.mode === "always" || this.writtenSeq - this.durableSeq_ >= p.records || (performance.now() - this.unsyncedSince) * 1000 >= p.intervalUs;
    if (due) this.syncSoon();
    else if (this.syncTimer === null && p.mode === "batch") this.syncTimer = setTimeout(() => this.startSync(), Math.max(1, Math.ceil(p.intervalUs / 1000)));
  }

  /**
   * An fsync that is due: off the loop, started now; on the loop, at the end of this turn
   * (setImmediate: no sleep in between), so what the caller does after flush() (the sequencer
   * sends the records to its followers) does not wait for the disk.
   */
  private syncSoon(): void {
    if (this.offLoop) return this.startSync();
    if (this.syncQueued) return;
    this.syncQueued = true;
    setImmediate(() => {
      this.syncQueued = false;
      this.startSync();
    });
  }

  private get offLoop(): boolean {
    const p = this.opts.fsync;
    return p.mode !== "none" && p.offLoop === true;
  }

  private startSync(): void {
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.syncing || this.fd < 0 || this.writtenSeq === this.durableSeq_) return;
    this.syncing = true;
    this.unsyncedSince = 0;
    const upTo = this.writtenSeq;
    const fd = this.fd;
    if (!this.offLoop) {
      try {
        fsyncSync(fd);
      } catch (err) {
        throw new Error(`journal: fsync failed: ${(err as Error).message}`);
      }
      this.syncing = false;
      this.advanceDurable(upTo);
      return;
    }
    fsync(fd, (err) => {
      this.syncing = false;
      // close() fsyncs synchronously and closes the file; a late answer about it means nothing.
      if (this.fd !== fd) return;
      if (err) throw new Error(`journal: fsync failed: ${err.message}`);
      this.advanceDurable(upTo);
      if (this.writtenSeq > this.durableSeq_) this.startSync();
    });
  }

  private advanceDurable(seq: number): void {
    if (seq <= this.durableSeq_) return;
    this.durableSeq_ = seq;
    this.opts.onDurable?.(seq);
  }

  /**
   * Up to `countMax` records from `seq` on: written ones from their segments, the rest from memory.
   * Records of one segment are contiguous on disk, so each segment's share is one read.
   */
  read(seq: number, countMax: number): JournalRecord[] {
    const out: JournalRecord[] = [];
    if (seq < this.firstSeq) throw new RangeError(`journal: seq ${seq} is no longer retained (oldest is ${this.firstSeq})`);
    for (const seg of this.segments) {
      const endSeq = Math.min(seg.firstSeq + seg.offsets.length, this.writtenSeq + 1);
      if (seq >= endSeq) continue;
      const last = Math.min(endSeq - 1, seq + countMax - out.length - 1);
      const from = seg.offsets[seq - seg.firstSeq]!;
      const to = last + 1 - seg.firstSeq < seg.offsets.length ? seg.offsets[last + 1 - seg.firstSeq]! : seg.bytes;
      const buf = Buffer.allocUnsafe(to - from);
      const fd = openSync(seg.path, "r");
      try {
        for (let got = 0; got < buf.length; ) got += readSync(fd, buf, got, buf.length - got, from + got);
      } finally {
        closeSync(fd);
      }
      for (let s = seq; s <= last; s++) {
        const off = seg.offsets[s - seg.firstSeq]! - from;
        const len = buf.readUInt32LE(off);
        out.push({ seq: s, chain: buf.subarray(off + 8, off + HEADER_BYTES), payload: buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + len) });
      }
      seq = last + 1;
      if (out.length >= countMax) break;
    }
    if (out.length < countMax && seq > this.writtenSeq && seq <= this.lastSeq_) this.readPending(seq, countMax - out.length, out);
    return out;
  }

  /**
   * Records appended but not yet written (a flush to come, or a disk that refuses them), read
   * from memory: they all belong to the current segment (a roll writes the pending ones first).
   */
  private readPending(seq: number, countMax: number, out: JournalRecord[]): void {
    const seg = this.current();
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [buf];
    for (let s = seq; s <= this.lastSeq_ && out.length < countMax; s++) {
      const off = seg.offsets[s - seg.firstSeq]! - seg.bytes;
      const len = buf.readUInt32LE(off);
      out.push({ seq: s, chain: buf.subarray(off + 8, off + HEADER_BYTES), payload: buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + len) });
    }
  }

  /** Every record from `fromSeq` on, read a page at a time. */
  *records(fromSeq = this.firstSeq, pageRecords = 4096): Generator<JournalRecord> {
    for (let seq = fromSeq; seq <= this.lastSeq_; seq += pageRecords) yield* this.read(seq, pageRecords);
  }

  /** Chain value after record `seq` (GENESIS before seq 1). */
  chainAt(seq: number): Buffer {
    if (seq === 0) return GENESIS_CHAIN;
    if (seq === this.lastSeq_) return this.chain_;
    return this.read(seq, 1)[0]!.chain;
  }

  /**
   * Drops every record after `seq` (a standby rejoining a newer epoch cuts the tail its old
   * leader wrote but never got committed). The cut is fsync'd before this returns.
   */
  truncateAfter(seq: number): void {
    if (seq >= this.lastSeq_) return;
    if (seq < this.firstSeq - 1) throw new RangeError(`journal: cannot cut back to seq ${seq}: records before ${this.firstSeq} are no longer retained`);
    this.flush();
    if (this.pending.length > 0) throw new Error(`journal: cannot cut back to seq ${seq} while the disk refuses writes (${this.stalled_})`);
    const chain = this.chainAt(seq);
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    while (this.segments.length > 0 && this.current().firstSeq > seq) unlinkSync(this.segments.pop()!.path);
    const seg = this.segments[this.segments.length - 1];
    if (seg !== undefined) {
      const keep = seq - seg.firstSeq + 1;
      const bytes = keep < seg.offsets.length ? seg.offsets[keep]! : seg.bytes;
      const fd = openSync(seg.path, "r+");
      try {
        ftruncateSync(fd, bytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      seg.offsets.length = keep;
      seg.bytes = bytes;
    }
    this.lastSeq_ = seq;
    this.chain_ = chain;
    this.writtenSeq = seq;
    this.durableSeq_ = seq;
    this.unsyncedSince = 0;
  }

  close(): void {
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.flush();
    // A last write the disk refused leaves its records unwritten (never acked): no retry after close.
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    if (this.fd >= 0) {
      if (this.opts.fsync.mode !== "none") {
        // A clean shutdown makes everything durable before it returns.
        fsyncSync(this.fd);
        this.advanceDurable(this.writtenSeq);
      }
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}


