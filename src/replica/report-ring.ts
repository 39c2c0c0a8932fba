/**
 * The replica's resume ring of execution reports, kept without an object per report: a report's
 * numbers go into a row of one typed array, its three string fields into an array, and a report
 * is rebuilt, and its frame encoded again, only for a client that resumes from it. A ring of
 * 200,000 report objects held by every replica was a third of its collection pauses and all its
 * major collections, and about 2 µs of CPU per order; keeping each live report's frame too (a
 * view object per report) held about 20 MB more of the serving replica's heap (docs/benchmarks.md,
 * "What the rings cost").
 *
 * A rebuilt report has its fields in the order the live one had (FIELDS below, the order
 * outputs.ts writes them in), so the frame sent on resume is byte for byte the live frame
 * (test/report-ring.test.ts).
 */
import type { ReportOut } from "./outputs.js";

/** Every field a report may have, in the order outputs.ts writes them. */
const FIELDS = ["n", "acct", "k", "oid", "st", "coid", "px", "qty", "left", "cum", "ntl", "code", "tid", "liq", "cnt", "to", "from", "foid", "last"] as const;
type Field = (typeof FIELDS)[number];
const STRING_FIELDS: readonly Field[] = ["coid", "to", "from"];
const NUMBER_FIELDS: readonly Field[] = FIELDS.filter((f) => f !== "last" && !STRING_FIELDS.includes(f));
const NUMBERS = NUMBER_FIELDS.length;
const STRINGS = STRING_FIELDS.length;
// push() below is unrolled for this layout.
if (NUMBER_FIELDS.join() !== "n,acct,k,oid,st,px,qty,left,cum,ntl,code,tid,liq,cnt,foid" || FIELDS.length !== 19) throw new Error("report-ring: push() does not match FIELDS");

/**
 * A report's row in `rows`: its command's seq, the bits of the fields it has (bit f set: field
 * FIELDS[f] is present), then its numbers in NUMBER_FIELDS' order. One row per report, rows
 * back to back, so a push writes one run of memory: with a column per field (seq, account and
 * bits each an array of their own beside the numbers) a push wrote into five places far apart,
 * likely a cache miss each on a replica whose cache the rest of its work keeps cold; rows cost
 * a little less CPU per order (docs/benchmarks.md, "The report ring in rows").
 */
const SEQ = 0;
const BITS = 1;
const NUM = 2;
const ROW = NUM + NUMBERS;
/** The account's place in a row (acct is the second of NUMBER_FIELDS). */
const ACCT = NUM + 1;

export class ReportRing {
  private readonly rows: Float64Array;
  private readonly strings: (string | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`ring capacity must be a positive integer, not ${capacity}`);
    this.rows = new Float64Array(capacity * ROW);
    this.strings = new Array<string | undefined>(capacity * STRINGS);
  }

  get length(): number {
    return this.count;
  }

  /** The seq of the oldest report kept, or undefined when none is. */
  get oldestSeq(): number | undefined {
    return this.count === 0 ? undefined : this.rows[this.start * ROW + SEQ];
  }

  /** Keeps `rep` of command `seq`, dropping the oldest once full. */
  push(seq: number, rep: ReportOut): void {
    let i: number;
    if (this.count < this.capacity) i = (this.start + this.count++) % this.capacity;
    else {
      i = this.start;
      this.start = (this.start + 1) % this.capacity;
    }
    // Unrolled, in FIELDS' order (bit = the field's index there; a row's numbers in NUMBER_FIELDS'
    // order, its strings in STRING_FIELDS'): this runs for every report.
    const x = this.rows;
    x[i * ROW + SEQ] = seq;
    const o = i * ROW + NUM;
    const t = this.strings;
    const so = i * STRINGS;
    let bits = 0b1111;
    x[o] = rep.n;
    x[o + 1] = rep.acct;
    x[o + 2] = rep.k;
    x[o + 3] = rep.oid;
    if (rep.st !== undefined) { x[o + 4] = rep.st; bits |= 1 << 4; }
    t[so] = rep.coid;
    if (rep.coid !== undefined) bits |= 1 << 5;
    if (rep.px !== undefined) { x[o + 5] = rep.px; bits |= 1 << 6; }
    if (rep.qty !== undefined) { x[o + 6] = rep.qty; bits |= 1 << 7; }
    if (rep.left !== undefined) { x[o + 7] = rep.left; bits |= 1 << 8; }
    if (rep.cum !== undefined) { x[o + 8] = rep.cum; bits |= 1 << 9; }
    if (rep.ntl !== undefined) { x[o + 9] = rep.ntl; bits |= 1 << 10; }
    if (rep.code !== undefined) { x[o + 10] = rep.code; bits |= 1 << 11; }
    if (rep.tid !== undefined) { x[o + 11] = rep.tid; bits |= 1 << 12; }
    if (rep.liq !== undefined) { x[o + 12] = rep.liq; bits |= 1 << 13; }
    if (rep.cnt !== undefined) { x[o + 13] = rep.cnt; bits |= 1 << 14; }
    t[so + 1] = rep.to;
    if (rep.to !== undefined) bits |= 1 << 15;
    t[so + 2] = rep.from;
    if (rep.from !== undefined) bits |= 1 << 16;
    if (rep.foid !== undefined) { x[o + 14] = rep.foid; bits |= 1 << 17; }
    if (rep.last === true) bits |= 1 << 18;
    x[i * ROW + BITS] = bits;
  }

  /** Each kept report of `acct` from `fromSeq` on, oldest first, as the frame `encode` makes of it. */
  forEachFrame(acct: number, fromSeq: number, encode: (seq: number, rep: ReportOut) => Buffer, send: (frame: Buffer) => void): void {
    for (let k = 0; k < this.count; k++) {
      const i = (this.start + k) % this.capacity;
      const seq = this.rows[i * ROW + SEQ]!;
      if (this.rows[i * ROW + ACCT] !== acct || seq < fromSeq) continue;
      send(encode(seq, this.report(i)));
    }
  }

  /** The report in slot i, its fields in the live report's order. */
  private report(i: number): ReportOut {
    const out: Record<string, number | string | boolean> = {};
    const bits = this.rows[i * ROW + BITS]!;
    let num = i * ROW + NUM;
    let str = i * STRINGS;
    for (let f = 0; f < FIELDS.length; f++) {
      const name = FIELDS[f]!;
      const has = (bits & (1 << f)) !== 0;
      if (name === "coid" || name === "to" || name === "from") {
        const v = this.strings[str++];
        if (has) out[name] = v!;
      } else if (name === "last") {
        if (has) out.last = true;
      } else {
        const v = this.rows[num++]!;
        if (has) out[name] = v;
      }
    }
    return out as unknown as ReportOut;
  }
}
