/**
 * The newest records of the log, kept in memory so the publisher sends followers at or near
 * the tip without reading the journal: every record's bytes and chain value copied into one
 * arena allocated once, with its position and length in typed arrays — no object per record.
 *
 * A ring of record objects (an object, its payload and its chain per record, 100,000 of them)
 * was most of what the sequencer's young-generation collections had to copy and then promote:
 * every record lives for about ten seconds at 10,000 orders/s, long past any scavenge.
 * docs/benchmarks.md ("What the rings cost") has the collections before and after.
 *
 * The ring holds a contiguous run of seqs ending at the newest one pushed, at most `recordsMax`
 * records and at most `bytesMax` bytes of them (a record never wraps around the arena's end:
 * the bytes it would have straddled are skipped). Older records are the journal's to serve.
 */
import { CHAIN_BYTES } from "../protocol/record.js";

/** The arena's bytes per record of `recordsMax`: orders' records are well under it (about 60 bytes here). */
export const RING_BYTES_PER_RECORD = 256;
/** The arena is never smaller than this: room for a few of the largest records (64 KiB, an import's). */
export const RING_BYTES_MIN = 4 * 64 * 1024;

export class RecordRing {
  readonly bytesMax: number;
  private readonly arena: Buffer;
  private readonly chains: Buffer;
  /** Each slot's record: its start in an ever-growing byte count (the arena offset is it mod bytesMax). */
  private readonly starts: Float64Array;
  private readonly lengths: Uint32Array;
  private start = 0;
  private count = 0;
  private first = 0;
  /** Where the next record's bytes would start, in the same ever-growing count. */
  private head = 0;

  constructor(readonly recordsMax: number, bytesMax = Math.max(RING_BYTES_MIN, recordsMax * RING_BYTES_PER_RECORD)) {
    if (!Number.isSafeInteger(recordsMax) || recordsMax < 1) throw new Error(`ring capacity must be a positive integer, not ${recordsMax}`);
    if (!Number.isSafeInteger(bytesMax) || bytesMax < 1) throw new Error(`ring bytes must be a positive integer, not ${bytesMax}`);
    this.bytesMax = bytesMax;
    this.arena = Buffer.allocUnsafeSlow(bytesMax);
    this.chains = Buffer.allocUnsafeSlow(recordsMax * CHAIN_BYTES);
    this.starts = new Float64Array(recordsMax);
    this.lengths = new Uint32Array(recordsMax);
  }

  get length(): number {
    return this.count;
  }

  /** The oldest seq kept, or undefined when the ring is empty. */
  get firstSeq(): number | undefined {
    return this.count === 0 ? undefined : this.first;
  }

  /** Whether `seq` is kept. */
  has(seq: number): boolean {
    return this.count > 0 && seq >= this.first && seq < this.first + this.count;
  }

  /**
   * Copies record `seq` in, dropping the oldest records it needs the room of. A seq that does not
   * follow the newest one kept starts the ring again from it; a record larger than the whole arena
   * empties the ring (the journal serves it).
   */
  push(seq: number, payload: Uint8Array, chain: Uint8Array): void {
    if (this.count > 0 && seq !== this.first + this.count) this.clear();
    const n = payload.length;
    if (n > this.bytesMax) return this.clear();
    let at = this.head;
    const offset = at % this.bytesMax;
    if (offset + n > this.bytesMax) at += this.bytesMax - offset;
    while (this.count > 0 && (this.count === this.recordsMax || at + n - this.starts[this.start]! > this.bytesMax)) {
      this.start = (this.start + 1) % this.recordsMax;
      this.count--;
      this.first++;
    }
    if (this.count === 0) this.first = seq;
    const i = (this.start + this.count++) % this.recordsMax;
    this.starts[i] = at;
    this.lengths[i] = n;
    this.arena.set(payload, at % this.bytesMax);
    this.chains.set(chain.subarray(0, CHAIN_BYTES), i * CHAIN_BYTES);
    this.head = at + n;
  }

  /**
   * Record `seq`'s bytes, a view of the arena: valid until the next push, so use it at once (the
   * publisher copies it into a frame), or undefined when it is not kept.
   */
  payload(seq: number): Buffer | undefined {
    if (!this.has(seq)) return undefined;
    const i = this.slot(seq);
    const offset = this.starts[i]! % this.bytesMax;
    return this.arena.subarray(offset, offset + this.lengths[i]!);
  }

  /** The chain value after record `seq`, as a copy, or undefined when it is not kept. */
  chain(seq: number): Buffer | undefined {
    if (!this.has(seq)) return undefined;
    const i = this.slot(seq);
    return Buffer.from(this.chains.subarray(i * CHAIN_BYTES, (i + 1) * CHAIN_BYTES));
  }

  /** The slot of a kept seq. */
  private slot(seq: number): number {
    return (this.start + seq - this.first) % this.recordsMax;
  }

  clear(): void {
    this.start = 0;
    this.count = 0;
    this.first = 0;
    this.head = 0;
  }
}
