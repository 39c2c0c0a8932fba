/**
 * MessagePack on our terms, at the two places where msgpackr's choices are not ours:
 *
 * - `pack` writes every integer as a MessagePack integer of the smallest fitting width, up to
 *   64 bits. msgpackr writes any integer beyond 32 bits as a float64, which a strictly typed
 *   client (Go, Rust, Java) refuses for an integer field, and our timestamps (µs since 1970)
 *   are all beyond 32 bits. Non-integral numbers are floats (no message of ours has one).
 * - `unpackFields` reads an inbound frame from an untrusted peer and refuses what msgpackr
 *   would silently accept: a key given twice (msgpackr keeps the last), nil (JavaScript's
 *   null, where an absent field was meant), floats in any field (msgpackr turns 1.0 into 1),
 *   nested values and extension types (no inbound message has them), invalid UTF-8, and bytes
 *   after the map. Every refusal names the field and carries a WireReason.
 * - `IntArrayReader` reads an array of integers (a sequenced record) in place and refuses
 *   anything else.
 *
 * Both readers walk the bytes once and allocate only the values they return.
 */
import { WireReason } from "./messages.js";

// ---- pack -------------------------------------------------------------------------------

/** Frames are written into shared chunks and returned as views, as msgpackr does: no copy per frame. */
const CHUNK_BYTES = 64 * 1024;
/** An integer of up to this many bits goes on the wire as uint64/int64. */
const TWO_32 = 0x1_0000_0000;

let chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
let pos = 0;

class ChunkFull extends Error {}
const CHUNK_FULL = new ChunkFull();

function room(n: number): void {
  if (pos + n > chunk.length) throw CHUNK_FULL;
}

/** Big-endian unsigned 32-bit write, by hand: Buffer's methods check their arguments on every call. */
function u32(c: Buffer, at: number, v: number): void {
  c[at] = v >>> 24;
  c[at + 1] = (v >>> 16) & 0xff;
  c[at + 2] = (v >>> 8) & 0xff;
  c[at + 3] = v & 0xff;
}

function packInt(v: number): void {
  room(9);
  const c = chunk;
  if (v >= 0) {
    if (v < 0x80) c[pos++] = v;
    else if (v < 0x100) { c[pos++] = 0xcc; c[pos++] = v; }
    else if (v < 0x10000) { c[pos] = 0xcd; c[pos + 1] = v >>> 8; c[pos + 2] = v & 0xff; pos += 3; }
    else if (v < TWO_32) { c[pos] = 0xce; u32(c, pos + 1, v); pos += 5; }
    else { c[pos] = 0xcf; u32(c, pos + 1, Math.floor(v / TWO_32)); u32(c, pos + 5, v % TWO_32); pos += 9; }
  } else if (v >= -0x20) c[pos++] = 0x100 + v;
  else if (v >= -0x80) { c[pos++] = 0xd0; c.writeInt8(v, pos); pos += 1; }
  else if (v >= -0x8000) { c[pos++] = 0xd1; c.writeInt16BE(v, pos); pos += 2; }
  else if (v >= -0x8000_0000) { c[pos++] = 0xd2; c.writeInt32BE(v, pos); pos += 4; }
  else { c[pos++] = 0xd3; c.writeBigInt64BE(BigInt(v), pos); pos += 8; }
}

/** The bytes packInt writes for `v` (a safe integer): what a packer sizes a field by without packing it. */
export function intBytes(v: number): number {
  if (v >= 0) return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v < TWO_32 ? 5 : 9;
  return v >= -0x20 ? 1 : v >= -0x80 ? 2 : v >= -0x8000 ? 3 : v >= -0x8000_0000 ? 5 : 9;
}

function packHeader(len: number, fix: number, fixMax: number, op16: number): void {
  room(5);
  if (len <= fixMax) chunk[pos++] = fix | len;
  else if (len < 0x10000) { chunk[pos++] = op16; chunk.writeUInt16BE(len, pos); pos += 2; }
  else { chunk[pos++] = op16 + 1; chunk.writeUInt32BE(len, pos); pos += 4; }
}

function packString(s: string): void {
  const n = s.length;
  if (n < 32) {
    // Short ASCII (every key, most values) byte by byte: a native UTF-8 write costs more than
    // the whole string at this size. Falls through on the first non-ASCII character.
    room(1 + n);
    let k = 0;
    for (; k < n; k++) {
      const ch = s.charCodeAt(k);
      if (ch >= 0x80) break;
      chunk[pos + 1 + k] = ch;
    }
    if (k === n) {
      chunk[pos] = 0xa0 | n;
      pos += 1 + n;
      return;
    }
  }
  packUtf8(s);
}

function packUtf8(s: string): void {
  // Reserve the widest header the string could need, write it, then close the gap.
  const bytesMax = s.length * 3;
  const head = bytesMax < 32 ? 1 : bytesMax < 0x100 ? 2 : bytesMax < 0x10000 ? 3 : 5;
  room(head + bytesMax);
  const n = chunk.write(s, pos + head, "utf8");
  const need = n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  if (need < head) chunk.copyWithin(pos + need, pos + head, pos + head + n);
  if (need === 1) chunk[pos] = 0xa0 | n;
  else if (need === 2) { chunk[pos] = 0xd9; chunk[pos + 1] = n; }
  else if (need === 3) { chunk[pos] = 0xda; chunk.writeUInt16BE(n, pos + 1); }
  else { chunk[pos] = 0xdb; chunk.writeUInt32BE(n, pos + 1); }
  pos += need + n;
}

function packBin(b: Uint8Array): void {
  const n = b.length;
  room(5 + n);
  if (n < 0x100) { chunk[pos++] = 0xc4; chunk[pos++] = n; }
  else if (n < 0x10000) { chunk[pos++] = 0xc5; chunk.writeUInt16BE(n, pos); pos += 2; }
  else { chunk[pos++] = 0xc6; chunk.writeUInt32BE(n, pos); pos += 4; }
  chunk.set(b, pos);
  pos += n;
}

function packValue(v: unknown): void {
  switch (typeof v) {
    case "number":
      if (Number.isSafeInteger(v)) return packInt(v);
      room(9);
      chunk[pos++] = 0xcb;
      chunk.writeDoubleBE(v, pos);
      pos += 8;
      return;
    case "string":
      return packString(v);
    case "boolean":
      room(1);
      chunk[pos++] = v ? 0xc3 : 0xc2;
      return;
    case "object":
      if (v === null) { room(1); chunk[pos++] = 0xc0; return; }
      if (v instanceof Uint8Array) return packBin(v);
      if (Array.isArray(v)) {
        packHeader(v.length, 0x90, 15, 0xdc);
        for (const x of v) packValue(x === undefined ? null : x);
        return;
      }
      return packMap(v as Record<string, unknown>);
    default:
      throw new TypeError(`wire: cannot pack a ${typeof v}`);
  }
}

function packMap(m: Record<string, unknown>): void {
  // One pass: a one-byte fixmap header, patched once the entries are counted (widened to map16
  // in the rare map of more than 15 entries).
  room(1);
  const at = pos++;
  closeMap(at, packEntries(m));
}

/** Writes m's defined entries, in their order; returns how many. */
function packEntries(m: Record<string, unknown>): number {
  let n = 0;
  for (const k in m) {
    const x = m[k];
    if (x === undefined) continue;
    packString(k);
    packValue(x);
    n++;
  }
  return n;
}

/** Patches the header at `at` for a map of n entries written after it. */
function closeMap(at: number, n: number): void {
  if (n <= 15) {
    chunk[at] = 0x80 | n;
    return;
  }
  if (n >= 0x10000) throw new TypeError("wire: a map of 65536 entries or more");
  room(2);
  chunk.copyWithin(at + 3, at + 1, pos);
  chunk[at] = 0xde;
  chunk[at + 1] = n >>> 8;
  chunk[at + 2] = n & 0xff;
  pos += 2;
}

/**
 * Encodes one value (a message map, a record array) as MessagePack. Map entries whose value is
 * undefined are left out, as if the field were absent.
 */
export function pack(v: unknown): Buffer {
  return frame(v, -1, 0, 0);
}

/**
 * The bytes `pack({ v, t, seq, ...body })` writes, without building that object: a map of
 * version, type and seq followed by body's entries (body must not repeat those three keys, nor
 * have array-index keys such as "0", which an object literal would list first).
 * The replica's execution reports go out this way, one per order event.
 */
export function packSequenced(v: number, t: number, seq: number, body: object): Buffer {
  return frame(body, v, t, seq);
}

/** Writes `value` (with the v/t/seq head when v ≥ 0) into the chunk and returns its bytes. */
function frame(value: unknown, v: number, t: number, seq: number): Buffer {
  for (;;) {
    const start = pos;
    try {
      if (v < 0) packValue(value);
      else {
        room(1);
        const at = pos++;
        packString("v");
        packInt(v);
        packString("t");
        packInt(t);
        packString("seq");
        packInt(seq);
        closeMap(at, 3 + packEntries(value as Record<string, unknown>));
      }
      return chunk.subarray(start, pos);
    } catch (err) {
      pos = start;
      if (err !== CHUNK_FULL) throw err;
      // The frame did not fit: start it again at the beginning of a new chunk (views of the
      // old one stay valid; it is freed once the last of them is).
      const grown = start === 0 ? chunk.length * 2 : CHUNK_BYTES;
      chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, grown));
      pos = 0;
    }
  }
}

// ---- unpack (untrusted input) ---------------------------------------------------------

export type Fields = Record<string, string | number | boolean | Uint8Array>;
export type Unpacked = { ok: true; msg: Fields } | { ok: false; code: WireReason; text: string; cid: number };

/** More entries than any inbound message has fields, with room for a misspelt few. */
export const FIELDS_MAX = 32;
/** Longest string or binary value in any inbound field (keys, nonces, ids, signatures, chains). */
export const VALUE_BYTES_MAX = 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** Strings of up to this many ASCII characters are interned (7 bits each + a 3-bit length fit in 2^53). */
const SHORT_TEXT_CHARS_MAX = 7;
/** Interned short strings at most; past it, new ones are built each time (a peer sending random keys cannot grow it). */
const SHORT_TEXTS_MAX = 4096;
const shortTexts = new Map<number, string>();

class Refusal {
  constructor(readonly code: WireReason, readonly text: string) {}
}

class Reader {
  i = 0;
  constructor(public b: Uint8Array) {}

  reset(bytes: Uint8Array): void {
    this.b = bytes;
    this.i = 0;
  }

  need(n: number): void {
    if (this.i + n > this.b.length) throw new Refusal(WireReason.MALFORMED, "the frame ends in the middle of a value");
  }
  u8(): number {
    this.need(1);
    return this.b[this.i++]!;
  }
  uint(bytes: number): number {
    this.need(bytes);
    let v = 0;
    for (let k = 0; k < bytes; k++) v = v * 256 + this.b[this.i++]!;
    return v;
  }
  int(bytes: number): number {
    const u = this.uint(bytes);
    const half = 2 ** (8 * bytes - 1);
    return u >= half ? u - 2 * half : u;
  }
  /** A 64-bit integer, or NaN when it is outside the safe range (beyond 2^53 − 1 in magnitude). */
  int64(signed: boolean): number {
    this.need(8);
    const hi = this.uint(4);
    const lo = this.uint(4);
    if (signed && hi >= 0x8000_0000) {
      const v = (hi - TWO_32) * TWO_32 + lo;
      return Number.isSafeInteger(v) ? v : NaN;
    }
    const v = hi * TWO_32 + lo;
    return Number.isSafeInteger(v) ? v : NaN;
  }
  text(n: number): string {
    this.need(n);
    const b = this.b;
    const end = this.i + n;
    let ascii = true;
    let code = 0;
    for (let k = this.i; k < end; k++) {
      if (b[k]! >= 0x80) { ascii = false; break; }
      code = code * 128 + b[k]!;
    }
    if (ascii && n <= SHORT_TEXT_CHARS_MAX) {
      // Field names and other short strings repeat from frame to frame: build each once.
      // `code` holds all the characters (7 bits each) and the length below them: no collisions.
      const key = code * 8 + n;
      let s = shortTexts.get(key);
      if (s === undefined) {
        s = String.fromCharCode(...b.subarray(this.i, end));
        if (shortTexts.size < SHORT_TEXTS_MAX) shortTexts.set(key, s);
      }
      this.i = end;
      return s;
    }
    let s: string;
    if (ascii) {
      s = "";
      for (let k = this.i; k < end; k++) s += String.fromCharCode(b[k]!);
    } else {
      try {
        s = utf8.decode(b.subarray(this.i, end));
      } catch {
        throw new Refusal(WireReason.MALFORMED, "a string is not valid UTF-8");
      }
    }
    this.i = end;
    return s;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    // A copy: uWS frees a message's buffer when its handler returns.
    const out = this.b.slice(this.i, this.i + n);
    this.i += n;
    return out;
  }
  /** The length of a str value starting at the current byte, or -1 if it is not a string. */
  strLength(op: number): number {
    if (op >= 0xa0 && op <= 0xbf) return op & 0x1f;
    if (op === 0xd9) return this.uint(1);
    if (op === 0xda) return this.uint(2);
    if (op === 0xdb) return this.uint(4);
    return -1;
  }
}

const NOT_INTEGER = "integers only, not floats";

/** One scalar value of field `name`; anything an inbound field may not hold is refused. */
function scalar(r: Reader, name: string): string | number | boolean | Uint8Array {
  const op = r.u8();
  if (op <= 0x7f) return op;
  if (op >= 0xe0) return op - 0x100;
  const len = r.strLength(op);
  if (len >= 0) {
    if (len > VALUE_BYTES_MAX) throw new Refusal(WireReason.OUT_OF_RANGE, `field "${name}" is longer than ${VALUE_BYTES_MAX} bytes`);
    return r.text(len);
  }
  switch (op) {
    case 0xc0: throw new Refusal(WireReason.OUT_OF_RANGE, `field "${name}" is nil: leave a field out rather than send nil`);
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xcc: return r.uint(1);
    case 0xcd: return r.uint(2);
    case 0xce: return r.uint(4);
    case 0xcf: case 0xd3: {
      const v = r.int64(op === 0xd3);
      if (Number.isNaN(v)) throw new Refusal(WireReason.OUT_OF_RANGE, `field "${name}" is beyond ±(2^53 − 1)`);
      return v;
    }
    case 0xd0: return r.int(1);
    case 0xd1: return r.int(2);
    case 0xd2: return r.int(4);
    case 0xca: case 0xcb: throw new Refusal(WireReason.OUT_OF_RANGE, `field "${name}" is a float: ${NOT_INTEGER}`);
    case 0xc4: case 0xc5: case 0xc6: {
      const n = r.uint(op === 0xc4 ? 1 : op === 0xc5 ? 2 : 4);
      if (n > VALUE_BYTES_MAX) throw new Refusal(WireReason.OUT_OF_RANGE, `field "${name}" is longer than ${VALUE_BYTES_MAX} bytes`);
      return r.bytes(n);
    }
    case 0xc1: throw new Refusal(WireReason.MALFORMED, "byte 0xc1 is never used in MessagePack");
    default: throw new Refusal(WireReason.OUT_OF_RANGE, `field "${name}" must be a single value (no arrays, maps or extension types)`);
  }
}

function mapLength(r: Reader): number {
  const op = r.u8();
  if (op >= 0x80 && op <= 0x8f) return op & 0x0f;
  if (op === 0xde) return r.uint(2);
  if (op === 0xdf) return r.uint(4);
  throw new Refusal(WireReason.MALFORMED, "a frame must be one MessagePack map");
}

/**
 * Reads one frame from an untrusted peer: a single map of string keys to scalar values
 * (integers, booleans, strings, binary). The refusal carries the frame's `cid` when it was
 * read before the problem, so a client can match the REJECT to its request.
 */
export function unpackFields(bytes: Uint8Array): Unpacked {
  const r = new Reader(bytes);
  const msg: Fields = {};
  let cid = 0;
  try {
    const n = mapLength(r);
    if (n > FIELDS_MAX) throw new Refusal(WireReason.MALFORMED, `a frame has at most ${FIELDS_MAX} fields`);
    for (let k = 0; k < n; k++) {
      const len = r.strLength(r.u8());
      if (len < 0) throw new Refusal(WireReason.MALFORMED, "every key must be a string");
      if (len > VALUE_BYTES_MAX) throw new Refusal(WireReason.MALFORMED, `a key is longer than ${VALUE_BYTES_MAX} bytes`);
      const key = r.text(len);
      if (Object.hasOwn(msg, key)) throw new Refusal(WireReason.MALFORMED, `field "${key}" appears twice`);
      if (key === "__proto__") throw new Refusal(WireReason.UNKNOWN_FIELD, `field "${key}" is not part of any message`);
      const v = scalar(r, key);
      msg[key] = v;
      if (key === "cid" && Number.isSafeInteger(v) && (v as number) >= 0) cid = v as number;
    }
    if (r.i !== bytes.length) throw new Refusal(WireReason.MALFORMED, "bytes after the map: a frame holds one MessagePack map");
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return { ok: false, code: err.code, text: err.text, cid };
  }
  return { ok: true, msg };
}

/**
 * Reads, one after the other, the integers of an array (a sequenced record) without allocating:
 * `open` returns the element count, `int` the next integer (any integer encoding, safe range),
 * `end` checks nothing follows. Anything else throws NotIntegers. One instance is reused.
 */
export class IntArrayReader {
  /**
   * The byte-level reads are the frame reader's; only what counts as an element differs. Those
   * reads throw the frame reader's refusal when the bytes run out: `asNotIntegers` turns it
   * into NotIntegers for the caller, once, rather than a try per element on the hot path.
   */
  private readonly r = new Reader(new Uint8Array(0));

  open(bytes: Uint8Array): number {
    const r = this.r;
    r.reset(bytes);
    const op = r.u8();
    if (op >= 0x90 && op <= 0x9f) return op & 0x0f;
    if (op === 0xdc) return r.uint(2);
    throw new NotIntegers("not an array of at most 65535 elements");
  }

  int(): number {
    const r = this.r;
    const op = r.u8();
    if (op <= 0x7f) return op;
    if (op >= 0xe0) return op - 0x100;
    switch (op) {
      case 0xcc: return r.uint(1);
      case 0xcd: return r.uint(2);
      case 0xce: return r.uint(4);
      case 0xd0: return r.int(1);
      case 0xd1: return r.int(2);
      case 0xd2: return r.int(4);
      case 0xcf: case 0xd3: {
        const v = r.int64(op === 0xd3);
        if (Number.isNaN(v)) throw new NotIntegers("an integer beyond ±(2^53 − 1)");
        return v;
      }
      default: throw new NotIntegers(`element at byte ${r.i - 1} is not an integer (0x${op.toString(16)})`);
    }
  }

  end(): void {
    if (this.r.i !== this.r.b.length) throw new NotIntegers("bytes after the array");
  }
}

/** What an IntArrayReader threw, as NotIntegers (bytes that ran out included); null for anything else (a bug). */
export function asNotIntegers(err: unknown): NotIntegers | null {
  if (err instanceof NotIntegers) return err;
  return err instanceof Refusal ? new NotIntegers(err.text) : null;
}

/** Thrown by `IntArrayReader` for bytes that are not an array of integers. */
export class NotIntegers extends Error {}
