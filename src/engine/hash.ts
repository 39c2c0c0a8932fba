/**
 * A deterministic 64-bit digest over safe integers, built from two independent 32-bit lanes
 * (FNV-1a over 32-bit words, and a murmur3-style mix). Integer operations only, so every
 * machine computes the same digest. Not cryptographic: it detects divergence, not tampering.
 */
const TWO_32 = 4294967296;

export class StateHasher {
  private a = 0x811c9dc5 | 0;
  private b = 0x9747b28c | 0;

  /** Adds one safe integer (negative allowed). */
  add(x: number): void {
    // lo is x mod 2^32, so x - lo is a multiple of 2^32 and the division is exact.
    const lo = x >>> 0;
    const hi = ((x - lo) / TWO_32) | 0;
    this.word(lo | 0);
    this.word(hi);
  }

  /** Adds a string of UTF-16 code units: its length, then each unit. */
  addText(s: string): void {
    this.add(s.length);
    for (let i = 0; i < s.length; i++) this.word(s.charCodeAt(i));
  }

  private word(w: number): void {
    this.a = Math.imul(this.a ^ w, 0x01000193);
    let k = Math.imul(w, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    let b = this.b ^ k;
    b = (b << 13) | (b >>> 19);
    this.b = (Math.imul(b, 5) + 0xe6546b64) | 0;
  }

  digest(): string {
    let b = this.b;
    b ^= b >>> 16;
    b = Math.imul(b, 0x85ebca6b);
    b ^= b >>> 13;
    b = Math.imul(b, 0xc2b2ae35);
    b ^= b >>> 16;
    return (this.a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
  }
}
