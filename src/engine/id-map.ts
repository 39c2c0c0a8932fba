/**
 * Order id → order, as an open-addressing hash table with linear probing and backward-shift
 * deletion. Why not a Map: with orders constantly added and removed, V8's Map leaves deleted
 * entries behind and periodically rebuilds its whole table, which at 100k+ live orders shows
 * up as cache misses and pauses on the hot path. Here a delete shifts the probe run back, so
 * there are no tombstones, no rebuilds but growth, and lookups touch one small keys array.
 * Keys are positive safe integers; 0 marks an empty slot.
 */
const LOAD_PERCENT_MAX = 50;
const CAPACITY_MIN = 1024;

export class IdMap<V> {
  private keys: number[];
  private values: (V | undefined)[];
  private mask: number;
  private count = 0;

  constructor(capacity = CAPACITY_MIN) {
    let cap = CAPACITY_MIN;
    while (cap < capacity) cap *= 2;
    this.keys = new Array<number>(cap).fill(0);
    this.values = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Mixes both 32-bit halves of the id so sequential and strided ids spread evenly. */
  private slot(key: number): number {
    const lo = key >>> 0;
    const hi = ((key - lo) / 4294967296) | 0;
    let h = Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1);
    h ^= h >>> 15;
    return h & this.mask;
  }

  get(key: number): V | undefined {
    const keys = this.keys;
    for (let i = this.slot(key); ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) return this.values[i];
      if (k === 0) return undefined;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  set(key: number, value: V): void {
    const keys = this.keys;
    let i = this.slot(key);
    for (; keys[i] !== 0; i = (i + 1) & this.mask) {
      if (keys[i] === key) {
        this.values[i] = value;
        return;
      }
    }
    keys[i] = key;
    this.values[i] = value;
    if (++this.count * 100 > keys.length * LOAD_PERCENT_MAX) this.grow();
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slot(key);
    for (; keys[i] !== key; i = (i + 1) & mask) if (keys[i] === 0) return false;
    // Backward-shift: move later members of the probe run into the hole when their home allows it.
    let hole = i;
    for (let j = (i + 1) & mask; keys[j] !== 0; j = (j + 1) & mask) {
      const home = this.slot(keys[j]!);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keys[hole] = keys[j]!;
        this.values[hole] = this.values[j];
        hole = j;
      }
    }
    keys[hole] = 0;
    this.values[hole] = undefined;
    this.count--;
    return true;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const cap = oldKeys.length * 2;
    this.keys = new Array<number>(cap).fill(0);
    this.values = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== 0) this.set(oldKeys[i]!, oldValues[i]!);
  }
}
