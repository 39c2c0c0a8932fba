/**
 * A fixed-capacity circular buffer: push drops the oldest entry once full, in O(1), where
 * `array.splice(0, 1)` would move the whole array on every push.
 */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`ring capacity must be a positive integer, not ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(x: T): void {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count++) % this.capacity] = x;
    } else {
      this.items[this.start] = x;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  clear(): void {
    this.items.fill(undefined);
    this.start = 0;
    this.count = 0;
  }

  /** The i-th oldest entry (0 = oldest). */
  at(i: number): T | undefined {
    return i >= 0 && i < this.count ? this.items[(this.start + i) % this.capacity] : undefined;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.start + i) % this.capacity]!;
  }
}
