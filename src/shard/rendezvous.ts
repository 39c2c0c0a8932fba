/**
 * Placement of instruments on shards by weighted rendezvous (highest-random-weight) hashing,
 * exact and float-free, so that every node, in any language, computes the same placement from
 * the same shard list (docs/scaling.md#the-placement-rule has the rule for reimplementing it).
 *
 *  - tickets    a shard of integer weight w holds w tickets, numbered 0 … w−1. Ticket t of shard
 *               s has a 64-bit seed: output t+1 of SplitMix64 seeded with FNV-1a-64 of the
 *               shard id's bytes, i.e. mix64(fnv1a64(id) + (t+1)·γ mod 2^64).
 *  - key        instrument i (a positive safe integer) has the key mix64(i + γ mod 2^64).
 *  - score      ticket t of shard s scores mix64(seed(s, t) XOR key(i)), an unsigned 64-bit
 *               integer. A shard's score is the highest of its tickets' scores.
 *  - winner     the shard with the highest score; on an equal score (odds 2^-64 a pair), the
 *               shard whose id sorts first by UTF-16 code units (byte order: ids are ASCII).
 *  - pins       a pinned instrument goes to its pin, whatever the hashes say.
 *
 * Why tickets rather than the textbook weighted score −w / ln(h): that needs a logarithm, and
 * Math.log is not required to be correctly rounded, so two engines (or two languages) may
 * disagree in the last bit and place an instrument differently. The highest of w uniform
 * draws has the distribution of h^(1/w), which ranks exactly as −w / ln(h) does, so tickets
 * are that same weighted rendezvous, computed in integers: each ticket is an equal
 * participant, so a shard wins with probability w / Σw (for an ideal hash), and a change of
 * one shard's tickets moves only instruments to it (added tickets) or from it (removed
 * tickets), never between two other shards. The price is Σw hashes per instrument, which is
 * why weights are small integers: at most SHARDS_MAX × WEIGHT_MAX = 1024 tickets.
 *
 * 64-bit arithmetic is done on pairs of unsigned 32-bit halves (hi, lo) with Math.imul and
 * 16-bit partial products: no BigInt, no floats, no imports; test/determinism.test.ts holds this
 * file to the engine's lint, and test/shard-rendezvous.test.ts checks it against BigInt.
 */

/** Shards one placement may have. */
export const SHARDS_MAX = 64;
/** The largest weight of a shard, in tickets (the smallest is 1). */
export const WEIGHT_MAX = 16;
/** Shard ids: 1-32 ASCII letters, digits, '_' or '-' (so an id's bytes are its UTF-16 code units). */
export const SHARD_ID = /^[A-Za-z0-9_-]{1,32}$/;

export interface WeightedShard {
  readonly id: string;
  /** Tickets, 1 … WEIGHT_MAX; 1 when absent. */
  readonly weight?: number;
}

/** One instrument that changes shard between two placements. */
export interface Move {
  readonly instrument: number;
  readonly from: string;
  readonly to: string;
}

export type Pins = ReadonlyMap<number, string>;
const NO_PINS: Pins = new Map();

// ---- 64-bit helpers on (hi, lo) pairs of uint32; results go to a caller-owned Uint32Array(2)

/** The high 32 bits of the 64-bit product of two uint32 values. */
function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const lowLow = a0 * b0, highLow = a1 * b0, lowHigh = a0 * b1;
  const carry = ((lowLow >>> 16) + (highLow & 0xffff) + (lowHigh & 0xffff)) >>> 16;
  return (a1 * b1 + (highLow >>> 16) + (lowHigh >>> 16) + carry) >>> 0;
}

/** (ah, al) × (bh, bl) mod 2^64 into out. */
function mul64(ah: number, al: number, bh: number, bl: number, out: Uint32Array): void {
  out[0] = (mulHi32(al, bl) + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
  out[1] = Math.imul(al, bl) >>> 0;
}

/** (ah, al) + (bh, bl) mod 2^64 into out. */
function add64(ah: number, al: number, bh: number, bl: number, out: Uint32Array): void {
  const lo = (al + bl) >>> 0;
  out[0] = (ah + bh + (lo < al ? 1 : 0)) >>> 0;
  out[1] = lo;
}

/** z ^ (z >>> s) for 0 < s < 32, into out. */
function xorShift64(hi: number, lo: number, s: number, out: Uint32Array): void {
  out[0] = (hi ^ (hi >>> s)) >>> 0;
  out[1] = (lo ^ ((lo >>> s) | (hi << (32 - s)))) >>> 0;
}

/** SplitMix64's γ, 0x9E3779B97F4A7C15. */
const GAMMA_HI = 0x9e3779b9, GAMMA_LO = 0x7f4a7c15;

/**
 * SplitMix64's finalizer (Stafford's Mix13): z ^= z >>> 30; z *= 0xBF58476D1CE4E5B9;
 * z ^= z >>> 27; z *= 0x94D049BB133111EB; z ^= z >>> 31. A bijection on 64 bits.
 */
export function mix64(hi: number, lo: number, out: Uint32Array): void {
  xorShift64(hi, lo, 30, out);
  mul64(out[0]!, out[1]!, 0xbf58476d, 0x1ce4e5b9, out);
  xorShift64(out[0]!, out[1]!, 27, out);
  mul64(out[0]!, out[1]!, 0x94d049bb, 0x133111eb, out);
  xorShift64(out[0]!, out[1]!, 31, out);
}

/** FNV-1a, 64-bit (offset basis 0xCBF29CE484222325, prime 0x100000001B3), of an ASCII string's bytes. */
export function fnv1a64(s: string, out: Uint32Array): void {
  let hi = 0xcbf29ce4, lo = 0x84222325;
  for (let k = 0; k < s.length; k++) {
    lo = (lo ^ s.charCodeAt(k)) >>> 0;
    mul64(hi, lo, 0x00000100, 0x000001b3, out);
    hi = out[0]!;
    lo = out[1]!;
  }
  out[0] = hi;
  out[1] = lo;
}

/** Seed of ticket t of shard `id`: mix64(fnv1a64(id) + (t+1)·γ). */
export function ticketSeed(id: string, t: number, out: Uint32Array): void {
  fnv1a64(id, out);
  const baseHi = out[0]!, baseLo = out[1]!;
  mul64(0, t + 1, GAMMA_HI, GAMMA_LO, out);
  add64(baseHi, baseLo, out[0]!, out[1]!, out);
  mix64(out[0]!, out[1]!, out);
}

/** Key of instrument i: mix64(i + γ), with i split exactly into its 32-bit halves. */
export function instrumentKey(instrument: number, out: Uint32Array): void {
  const lo = instrument >>> 0;
  const hi = (instrument - lo) / 4294967296;
  add64(hi, lo, GAMMA_HI, GAMMA_LO, out);
  mix64(out[0]!, out[1]!, out);
}

// ---- placement

function assertShards(shards: readonly WeightedShard[]): void {
  if (shards.length < 1 || shards.length > SHARDS_MAX) throw new RangeError(`a placement needs 1 to ${SHARDS_MAX} shards, not ${shards.length}`);
  const seen = new Set<string>();
  for (const s of shards) {
    if (!SHARD_ID.test(s.id)) throw new RangeError(`shard id "${s.id}" is not 1-32 ASCII letters, digits, '_' or '-'`);
    if (seen.has(s.id)) throw new RangeError(`shard id "${s.id}" is given twice`);
    seen.add(s.id);
    const w = s.weight ?? 1;
    if (!Number.isInteger(w) || w < 1 || w > WEIGHT_MAX) throw new RangeError(`shard "${s.id}": weight must be an integer 1 to ${WEIGHT_MAX} (tickets), not ${w}`);
  }
}

/**
 * The rule for one list of shards, with every ticket's seed computed once at construction, so
 * placing an instrument costs one key and one mix per ticket.
 */
export class Rendezvous {
  /** Per ticket: seed hi, seed lo. */
  private readonly seeds: Uint32Array;
  /** Per ticket: index of its shard in `ids`. */
  private readonly owner: Uint16Array;
  private readonly ids: readonly string[];
  private readonly scratch = new Uint32Array(2);

  constructor(shards: readonly WeightedShard[], private readonly pins: Pins = NO_PINS) {
    assertShards(shards);
    this.ids = shards.map((s) => s.id);
    const tickets = shards.reduce((n, s) => n + (s.weight ?? 1), 0);
    this.seeds = new Uint32Array(2 * tickets);
    this.owner = new Uint16Array(tickets);
    let k = 0;
    shards.forEach((s, index) => {
      for (let t = 0; t < (s.weight ?? 1); t++, k++) {
        ticketSeed(s.id, t, this.scratch);
        this.seeds[2 * k] = this.scratch[0]!;
        this.seeds[2 * k + 1] = this.scratch[1]!;
        this.owner[k] = index;
      }
    });
    const known = new Set(this.ids);
    for (const [instrument, shard] of pins) {
      if (!known.has(shard)) throw new RangeError(`instrument ${instrument} is pinned to shard "${shard}", which is not in the list`);
    }
  }

  /** The shard of one instrument (a positive safe integer). */
  place(instrument: number): string {
    if (!Number.isSafeInteger(instrument) || instrument < 1) throw new RangeError(`instrument id must be a positive safe integer, not ${instrument}`);
    const pinned = this.pins.get(instrument);
    if (pinned !== undefined) return pinned;
    const out = this.scratch;
    instrumentKey(instrument, out);
    const keyHi = out[0]!, keyLo = out[1]!;
    let bestHi = -1, bestLo = -1, best = -1;
    for (let k = 0; k < this.owner.length; k++) {
      mix64((this.seeds[2 * k]! ^ keyHi) >>> 0, (this.seeds[2 * k + 1]! ^ keyLo) >>> 0, out);
      const hi = out[0]!, lo = out[1]!, shard = this.owner[k]!;
      const higher = hi > bestHi || (hi === bestHi && (lo > bestLo || (lo === bestLo && this.ids[shard]! < this.ids[best]!)));
      if (higher) {
        bestHi = hi;
        bestLo = lo;
        best = shard;
      }
    }
    return this.ids[best]!;
  }
}

/** The shard of one instrument under `shards` and `pins`. */
export function place(instrument: number, shards: readonly WeightedShard[], pins: Pins = NO_PINS): string {
  return new Rendezvous(shards, pins).place(instrument);
}

/** Instrument → shard for every instrument, in the order given. */
export function placement(instruments: Iterable<number>, shards: readonly WeightedShard[], pins: Pins = NO_PINS): Map<number, string> {
  const r = new Rendezvous(shards, pins);
  const out = new Map<number, string>();
  for (const i of instruments) out.set(i, r.place(i));
  return out;
}

/**
 * The instruments whose shard differs between two placements of the same instruments, in
 * ascending instrument id.
 */
export function plan(current: ReadonlyMap<number, string>, next: ReadonlyMap<number, string>): Move[] {
  if (current.size !== next.size) throw new RangeError(`plan: the placements have ${current.size} and ${next.size} instruments; they must place the same ones`);
  const moves: Move[] = [];
  for (const [instrument, from] of current) {
    const to = next.get(instrument);
    if (to === undefined) throw new RangeError(`plan: instrument ${instrument} is placed now but not in the next placement`);
    if (to !== from) moves.push({ instrument, from, to });
  }
  return moves.sort((a, b) => a.instrument - b.instrument);
}
