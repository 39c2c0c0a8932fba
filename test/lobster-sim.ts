/**
 * A small exchange that writes LOBSTER files, for tests of layouts the shared sample does not
 * have. Its true book keeps price-time priority; orders entered before the open are released
 * in one burst with their original (id) priority. Like LOBSTER, it writes a message only for an
 * event inside the top `levels` price levels (before or after it), and after each message the
 * orderbook row of the top `levels` levels; everything deeper happens out of view. Seeded, so a
 * failing case replays from its seed.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface SimOptions {
  readonly seed: number;
  readonly events: number;
  readonly levels: number;
  /** Orders entered before the open and released at once after the first few events. */
  readonly preopen: number;
  /** Write a 7th column: `null` or a participant id. */
  readonly attribution?: boolean;
}

export interface SimFiles {
  readonly messages: string[];
  readonly rows: string[];
}

interface Order {
  readonly id: number;
  readonly side: 1 | -1;
  readonly price: number;
  size: number;
}

export const DUMMY = 9_999_999_999;
const TICK = 100;
const MID = 5_000_000;
const MPIDS = ["null", "null", "null", "MSCO", "GSCO", "UBSS"];

/** mulberry32: a tiny seeded generator, good enough to vary order flow. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function timeText(ns: number): string {
  return `${Math.floor(ns / 1e9)}.${String(ns % 1e9).padStart(9, "0")}`;
}

class Exchange {
  readonly books = { 1: new Map<number, Order[]>(), [-1]: new Map<number, Order[]>() } as Record<1 | -1, Map<number, Order[]>>;
  readonly orders = new Map<number, Order>();

  /** Prices of one side, best first. */
  prices(side: 1 | -1): number[] {
    return [...this.books[side].keys()].sort((a, b) => (side === 1 ? b - a : a - b));
  }

  /** How many levels are better than `price` on `side`. */
  rank(side: 1 | -1, price: number): number {
    return this.prices(side).filter((p) => (side === 1 ? p > price : p < price)).length;
  }

  /** Rests an order; `byId` puts it ahead of the orders at its price with higher ids (a pre-open release). */
  rest(o: Order, byId = false): void {
    const q = this.books[o.side].get(o.price) ?? [];
    const k = byId ? q.findIndex((x) => x.id > o.id) : -1;
    if (k < 0) q.push(o);
    else q.splice(k, 0, o);
    this.books[o.side].set(o.price, q);
    this.orders.set(o.id, o);
  }

  take(o: Order, size: number): void {
    o.size -= size;
    if (o.size > 0) return;
    const q = this.books[o.side].get(o.price)!;
    q.splice(q.indexOf(o), 1);
    if (q.length === 0) this.books[o.side].delete(o.price);
    this.orders.delete(o.id);
  }

  row(levels: number): string {
    const cols: number[] = [];
    const asks = this.prices(-1);
    const bids = this.prices(1);
    const size = (side: 1 | -1, p: number): number => this.books[side].get(p)!.reduce((s, o) => s + o.size, 0);
    for (let l = 0; l < levels; l++) {
      const a = asks[l];
      const b = bids[l];
      cols.push(a ?? DUMMY, a === undefined ? 0 : size(-1, a), b ?? -DUMMY, b === undefined ? 0 : size(1, b));
    }
    return cols.join(",");
  }
}

/** Runs the exchange and returns the LOBSTER message lines and orderbook rows it wrote. */
export function simulate(opts: SimOptions): SimFiles {
  const rand = rng(opts.seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const ex = new Exchange();
  const messages: string[] = [];
  const rows: string[] = [];
  let ns = 34_200_000_000_000;
  let nextId = 1;
  // Before the file: a deep book (more levels than any file shows), ids first of all.
  for (const side of [1, -1] as const) {
    for (let l = 0; l < opts.levels * 2 + 6; l++) {
      for (let k = int(1, 2); k > 0; k--) ex.rest({ id: nextId++, side, price: MID - side * (l + 1) * TICK, size: int(1, 5) * 10 });
    }
  }
  const preopen = Array.from({ length: opts.preopen }, () => nextId++);
  nextId += 1000;
  const write = (type: number, o: { id: number; side: 1 | -1; price: number }, size: number, shown: boolean): void => {
    if (!shown) return;
    const attribution = opts.attribution === true ? `,${MPIDS[int(0, MPIDS.length - 1)]}` : "";
    messages.push(`${timeText(ns)},${type},${o.id},${size},${o.price},${o.side}${attribution}`);
    rows.push(ex.row(opts.levels));
  };
  const inView = (side: 1 | -1, price: number): boolean => ex.rank(side, price) < opts.levels;
  for (let e = 0; messages.length < opts.events && e < opts.events * 20; e++) {
    ns += int(1, 2000) * 1000;
    if (e === 5 && preopen.length > 0) {
      for (const id of preopen) {
        const side = rand() < 0.5 ? 1 : -1;
        const o: Order = { id, side, price: ex.prices(side)[int(0, Math.min(3, opts.levels))]!, size: int(1, 5) * 10 };
        ex.rest(o, true);
        write(1, o, o.size, inView(side, o.price));
      }
      continue;
    }
    step(ex, rand, int, () => nextId++, opts.levels, write, inView);
  }
  return { messages, rows };
}

/** Writes the message of an event already applied to the book, with the row after it, when `shown`. */
type Write = (type: number, o: { id: number; side: 1 | -1; price: number }, size: number, shown: boolean) => void;

/** One random event of the true book: an add near the touch or deep, a marketable order, a cancel or delete, a hidden execution. */
function step(ex: Exchange, rand: () => number, int: (lo: number, hi: number) => number, newId: () => number, levels: number, write: Write, inView: (s: 1 | -1, p: number) => boolean): void {
  const side: 1 | -1 = rand() < 0.5 ? 1 : -1;
  const best = ex.prices(side)[0] ?? MID - side * TICK;
  const r = rand();
  if (r < 0.45) {
    const deep = rand() < 0.25 ? int(levels, levels + 4) : int(0, Math.min(levels, 4));
    const oppositeBest = ex.prices(side === 1 ? -1 : 1)[0];
    let price = best - side * (deep - 1) * TICK;
    if (oppositeBest !== undefined && (side === 1 ? price >= oppositeBest : price <= oppositeBest)) price = oppositeBest - side * TICK;
    const o: Order = { id: newId(), side, price, size: int(1, 5) * 10 };
    ex.rest(o);
    write(1, o, o.size, inView(side, price));
  } else if (r < 0.6) {
    let left = int(1, 12) * 10;
    const maker = side;
    while (left > 0 && ex.prices(maker).length > 0) {
      const o = ex.books[maker].get(ex.prices(maker)[0]!)![0]!;
      const fill = Math.min(left, o.size);
      ex.take(o, fill);
      write(4, o, fill, true);
      left -= fill;
    }
  } else if (r < 0.92) {
    const ids = [...ex.orders.keys()];
    if (ids.length === 0) return;
    const o = ex.orders.get(ids[int(0, ids.length - 1)]!)!;
    const shown = inView(o.side, o.price);
    if (rand() < 0.3 && o.size > 10) {
      ex.take(o, 10);
      write(2, o, 10, shown);
    } else {
      const size = o.size;
      ex.take(o, size);
      write(3, o, size, shown);
    }
  } else {
    write(5, { id: 0, side, price: best }, int(1, 3) * 10, true);
  }
}

/** Writes the pair under LOBSTER's names (TICKER_DATE_START_END_message_N.csv) and returns their paths. */
export function writePair(dir: string, files: SimFiles, levels: number, stem = "SIM_2024-01-02_34200000_57600000"): { messages: string; book: string } {
  const messages = join(dir, `${stem}_message_${levels}.csv`);
  const book = join(dir, `${stem}_orderbook_${levels}.csv`);
  writeFileSync(messages, `${files.messages.join("\n")}\n`);
  writeFileSync(book, `${files.rows.join("\n")}\n`);
  return { messages, book };
}
