/**
 * `lockstep replay --format lobster`: replays NASDAQ order-level data in LOBSTER format.
 * Type 1 adds a limit order; 2 cancels part of one; 3 deletes one; 4 (visible execution) is
 * replayed as an aggressive IOC from the other side at that price and size, which under correct
 * price-time priority must fill exactly the resting order LOBSTER names; 5, 6 and 7 are counted
 * and skipped. Where the data and our book cannot both be right, the replay corrects its book
 * only as far as the file itself implies, and counts and explains every correction by kind:
 * docs/replay.md says what each one does. With an orderbook file the book is seeded from it and
 * compared after every event; levels that change out of view (the data's known limit) are
 * seeded from it and counted apart from real mismatches.
 *
 * The run streams both files line by line in batches: 1. read and parse a batch of lines (bad
 * lines reported and skipped), 2. apply it to the engine (timed), 3. repeat to the end.
 */
import { Engine, NullListener, REASON_NAME, Reason, Side, Stp, Tif, type Depth, type InstrumentConfig, type OrderView } from "../engine/index.js";
import { BadLine, countLines, LineReader, ReplayInputError } from "./lines.js";
import { BOOK_COLUMNS_PER_LEVEL, FILE_ORDER_ID_MAX, lobsterName, MessageParser, parseBookRow, type BookRow, type LobsterMessage } from "./lobster-format.js";

export type { BookRow, LobsterMessage } from "./lobster-format.js";
export { parseMessages } from "./lobster-format.js";
import { REPLAY_PRICE_MAX, REPLAY_QTY_MAX } from "./jsonl.js";

export const LOBSTER_INSTRUMENT: InstrumentConfig = {
  id: 1, symbol: "LOBSTER", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: REPLAY_QTY_MAX, priceMin: 1, priceMax: REPLAY_PRICE_MAX,
};
/** Synthetic orders that stand for liquidity the messages never showed get ids from here up (above every id a file may use). */
export const SEED_ID_BASE = FILE_ORDER_ID_MAX + 1;
/** The IOC orders that replay executions get ids from here up. */
const TAKER_ID_BASE = 2 ** 52;
/** The depth a replay without an orderbook file carries: only the book check reads it, and that has the file's own. */
const DEFAULT_LEVELS = 10;
/** Order ids one explanation lists before it says how many more. */
const IDS_LISTED_MAX = 5;
/** Lines parsed per batch before the batch is applied, so the engine's time is taken per batch, not per event. */
const EVENTS_PER_BATCH = 4096;
const LOBSTER_ACCOUNT = 1;
const SEED_ACCOUNT = 2;
const INST = LOBSTER_INSTRUMENT.id;

/** Why a visible execution could not be replayed as an IOC that fills exactly the named order. */
export const FILL_MISMATCH_KINDS = ["unknown_order", "order_differs", "queue", "size"] as const;
export type FillMismatchKind = (typeof FILL_MISMATCH_KINDS)[number];

export interface LobsterSummary {
  events: number;
  executions: number;
  fill_mismatches: number;
  fill_mismatch_kinds: Record<FillMismatchKind, number>;
  book_mismatches: number;
  seeds: number;
  unknown_ids: number;
  initial_levels: number;
  stale_orders_removed: number;
  preopen_orders: number;
  preopen_requeued: number;
  cancel_mismatches: number;
  hidden_executions: number;
  skipped: number;
  rejects: number;
  bad_lines: number;
  /** Levels per side of the orderbook file; 0 without one. */
  levels: number;
  hash: string;
  ops_per_s: number;
}

export type DifferenceKind = "fill_mismatch" | "book_mismatch" | "seed" | "unknown_id" | "stale_order" | "preopen" | "cancel_mismatch" | "reject";

/** One explained difference between the data and our replay. */
export interface Difference {
  /** The event's line in the message file (and its row in the orderbook file). */
  readonly event: number;
  readonly kind: DifferenceKind;
  readonly detail: string;
  /** The message's attribution (7th column), when it has one. */
  readonly attribution: string | null;
}

class TradeLog extends NullListener {
  readonly trades: { maker: number; price: number; qty: number }[] = [];
  rejects = 0;
  override trade(_i: number, _t: number, makerId: number, _ma: number, _ti: number, _ta: number, _s: Side, price: number, qty: number): void {
    this.trades.push({ maker: makerId, price, qty });
  }
  override rejected(): void {
    this.rejects++;
  }
}

const opposite = (s: Side): Side => (s === Side.BUY ? Side.SELL : Side.BUY);
/** True when `a` is a better price than `b` on side `s`. */
const better = (s: Side, a: number, b: number): boolean => (s === Side.BUY ? a > b : a < b);
const levelName = (s: Side): string => (s === Side.BUY ? "bid" : "ask");
const sideName = (s: Side): string => (s === Side.BUY ? "buy" : "sell");
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
const listed = (items: string[], total: number): string => `${items.join(", ")}${total > items.length ? ` and ${total - items.length} more` : ""}`;

export class LobsterReplay {
  readonly log = new TradeLog();
  readonly engine = new Engine([LOBSTER_INSTRUMENT], this.log);
  readonly counts = {
    events: 0, executions: 0, fill_mismatches: 0, fill_mismatch_kinds: { unknown_order: 0, order_differs: 0, queue: 0, size: 0 } as Record<FillMismatchKind, number>,
    book_mismatches: 0, seeds: 0, unknown_ids: 0, initial_levels: 0, stale_orders_removed: 0, preopen_orders: 0, preopen_requeued: 0,
    cancel_mismatches: 0, hidden_executions: 0, skipped: 0,
  };
  private nextSeedId = SEED_ID_BASE;
  private nextTakerId = TAKER_ID_BASE;
  /** The highest id a type-1 add has had so far: a lower one is an order entered earlier and released now (pre-open). */
  private highestAddId = 0;
  private current: LobsterMessage | undefined;
  /** The last good orderbook row, and whether the book has been seeded from one. */
  private prevRow: BookRow | undefined;
  private seeded = false;

  /** `levels` is the orderbook file's depth: the window beyond which a level may change unseen. */
  constructor(private readonly onDifference: (d: Difference) => void = () => undefined, readonly levels = DEFAULT_LEVELS) {}

  private note(kind: DifferenceKind, detail: string): void {
    const m = this.current;
    this.onDifference({ event: m?.line ?? 0, kind, detail, attribution: m?.attribution ?? null });
  }

  private bookSide(side: Side): [number, number][] {
    return this.engine.depth(INST, 1)[side === Side.BUY ? "bids" : "asks"];
  }

  private orderName(id: number): string {
    return id >= SEED_ID_BASE ? "seeded liquidity" : `order ${id}`;
  }

  /** Rests an order that must not trade (post-only): the callers have removed whatever it could cross. */
  private place(id: number, account: number, side: Side, price: number, qty: number): Reason {
    const r = this.engine.placeLimit(INST, id, account, side, price, qty, Tif.GTC, true, Stp.NONE);
    if (r === Reason.POST_ONLY_WOULD_CROSS) throw new Error(`replay invariant: order ${id} at ${price} would cross after stale orders were removed`);
    return r;
  }

  /** Takes `qty` off an order: a partial cancel keeps its priority, the rest is a full cancel. */
  private reduce(id: number, qty: number): void {
    const o = this.engine.order(id)!;
    if (o.leaves > qty) this.engine.modify(id, 0, o.price, o.leaves - qty);
    else this.engine.cancel(id, 0);
  }

  /** Takes `qty` off a level's seeded (synthetic) orders, oldest first. Returns what it could not take. */
  private reduceSeeds(side: Side, price: number, qty: number): number {
    for (const id of this.engine.levelOrders(INST, side, price)) {
      if (qty === 0) break;
      if (id < SEED_ID_BASE) continue;
      const take = Math.min(qty, this.engine.order(id)!.leaves);
      this.reduce(id, take);
      qty -= take;
    }
    return qty;
  }

  /**
   * Takes `qty` off a level that shrank out of view, where no message says which order left:
   * seeded liquidity first, then one real order whose open quantity is exactly what is left to
   * take (a whole order leaving is the common case), then the newest real orders.
   */
  private shrinkLevel(side: Side, price: number, qty: number): void {
    qty = this.reduceSeeds(side, price, qty);
    if (qty === 0) return;
    const ids = this.engine.levelOrders(INST, side, price);
    const exact = ids.find((id) => this.engine.order(id)!.leaves === qty);
    for (const id of exact === undefined ? ids.reverse() : [exact]) {
      if (qty === 0) break;
      const take = Math.min(qty, this.engine.order(id)!.leaves);
      this.reduce(id, take);
      qty -= take;
    }
  }

  private addSeed(side: Side, price: number, qty: number): void {
    const r = this.place(this.nextSeedId++, SEED_ACCOUNT, side, price, qty);
    if (r !== Reason.OK) throw new Error(`replay invariant: a seed of ${qty} @ ${price} was refused (${REASON_NAME[r]})`);
  }

  /** True when an order on `side` at `price` would cross the other side of our book. */
  private crosses(side: Side, price: number): boolean {
    const best = this.bookSide(opposite(side))[0];
    if (best === undefined) return false;
    return side === Side.BUY ? price >= best[0] : price <= best[0];
  }

  /** Seeds the book from the first usable orderbook row, with its own event's effect taken out. */
  private seedInitial(row: BookRow, first: LobsterMessage): void {
    const levels = new Map<string, number>();
    for (const [p, q] of row.asks) levels.set(`${Side.SELL}:${p}`, q);
    for (const [p, q] of row.bids) levels.set(`${Side.BUY}:${p}`, q);
    const touched = first.type <= 4 ? `${first.side}:${first.price}` : undefined;
    if (touched !== undefined) levels.set(touched, (levels.get(touched) ?? 0) + (first.type === 1 ? -first.size : first.size));
    // A row is never crossed, so only the level the event touched can cross the other side: it goes in last.
    const keys = [...levels.keys()].filter((k) => k !== touched);
    if (touched !== undefined) keys.push(touched);
    for (const key of keys) {
      const q = levels.get(key)!;
      const [side, price] = key.split(":").map(Number) as [Side, number];
      if (q <= 0) continue;
      if (this.crosses(side, price)) {
        this.counts.book_mismatches++;
        this.note("book_mismatch", `before event ${first.line}: ${levelName(side)} ${price} with the event taken out (${q}) would cross the row's other side; not seeded`);
        continue;
      }
      this.addSeed(side, price, q);
      this.counts.initial_levels++;
    }
  }

  /**
   * Applies one event and, given its orderbook row, checks the book after it. `row` is
   * undefined without an orderbook file or when the row was bad; `m` is undefined when the
   * message line was bad (its row then only serves as the previous row of the next event).
   */
  step(m: LobsterMessage | undefined, row: BookRow | undefined): void {
    if (m === undefined) {
      this.prevRow = row ?? this.prevRow;
      return;
    }
    if (row !== undefined && !this.seeded) {
      this.current = m;
      this.seedInitial(row, m);
      this.seeded = true;
      this.prevRow = row;
    }
    this.apply(m);
    if (row !== undefined) {
      this.checkBook(m.line, row, this.prevRow ?? row);
      this.prevRow = row;
    }
  }

  apply(m: LobsterMessage): void {
    this.counts.events++;
    this.current = m;
    switch (m.type) {
      case 1:
        this.add(m);
        break;
      case 2:
      case 3:
        this.cancelPart(m);
        break;
      case 4:
        this.execute(m);
        break;
      case 5:
        this.counts.hidden_executions++;
        break;
      default:
        this.counts.skipped++;
    }
  }

  /**
   * A type-1 add never trades at the exchange (an order that would is executed first and only
   * its rest is added), so whatever it would cross in our book is stale and is removed first.
   * An add with a lower id than an earlier add is an order entered earlier and released now (at
   * the open): it keeps its original priority, ahead of the orders at its price that came later.
   */
  private add(m: LobsterMessage): void {
    if (this.engine.order(m.id) !== undefined) {
      const r = this.place(m.id, LOBSTER_ACCOUNT, m.side, m.price, m.size);
      this.note("reject", `add of ${sideName(m.side)} order ${m.id} (${m.size} @ ${m.price}) refused by the engine: ${REASON_NAME[r]} (an order with this id is resting)`);
      return;
    }
    this.removeStale(opposite(m.side), m.price, true, `the add of ${sideName(m.side)} order ${m.id} (${m.size} @ ${m.price}) would trade with them, and adds never trade`);
    const released = m.id < this.highestAddId;
    this.highestAddId = Math.max(this.highestAddId, m.id);
    if (released) this.counts.preopen_orders++;
    const later = released ? this.laterArrivals(m) : [];
    for (const o of later) this.engine.cancel(o.id, 0);
    const r = this.place(m.id, LOBSTER_ACCOUNT, m.side, m.price, m.size);
    if (r !== Reason.OK) throw new Error(`replay invariant: add of order ${m.id} refused (${REASON_NAME[r]})`);
    for (const o of later) {
      if (this.place(o.id, o.account, o.side, o.price, o.leaves) !== Reason.OK) throw new Error(`replay invariant: order ${o.id} could not be queued again`);
    }
    if (later.length === 0) return;
    this.counts.preopen_requeued++;
    const real = later.filter((o) => o.id < SEED_ID_BASE);
    this.note("preopen", `${sideName(m.side)} order ${m.id} (${m.size} @ ${m.price}) has a lower id than ${plural(real.length, "order")} resting at its price, so it was entered before ${real.length === 1 ? "it" : "them"}: it is queued ahead of ${listed(real.slice(0, IDS_LISTED_MAX).map((o) => String(o.id)), real.length)}`);
  }

  /** The orders at m's level from the first real order with a higher id than m's to the end of the queue (seeds among them keep their places relative to each other). */
  private laterArrivals(m: LobsterMessage): OrderView[] {
    const ids = this.engine.levelOrders(INST, m.side, m.price);
    const k = ids.findIndex((id) => id < SEED_ID_BASE && id > m.id);
    return k < 0 ? [] : ids.slice(k).map((id) => this.engine.order(id)!);
  }

  /** Removes every order on `side` priced better than `price` (or at it, when `inclusive`): the event proves the exchange no longer had them. */
  private removeStale(side: Side, price: number, inclusive: boolean, why: string): void {
    const names: string[] = [];
    let removed = 0;
    for (let best = this.bookSide(side)[0]; best !== undefined && (better(side, best[0], price) || (inclusive && best[0] === price)); best = this.bookSide(side)[0]) {
      for (const id of this.engine.levelOrders(INST, side, best[0])) {
        if (names.length < IDS_LISTED_MAX) names.push(`${this.orderName(id)} (${this.engine.order(id)!.leaves} @ ${best[0]})`);
        removed++;
        this.engine.cancel(id, 0);
      }
    }
    if (removed === 0) return;
    this.counts.stale_orders_removed += removed;
    this.note("stale_order", `removed ${plural(removed, `stale ${levelName(side)}`)}, ${listed(names, removed)}: ${why}`);
  }

  private cancelPart(m: LobsterMessage): void {
    const what = m.type === 3 ? "delete" : "partial cancel";
    const o = this.engine.order(m.id);
    if (o === undefined) {
      this.counts.unknown_ids++;
      const left = this.reduceSeeds(m.side, m.price, m.size);
      const settled = left === 0 ? "" : this.seeded ? this.settle(m, m.size - left) : ", and no other order is touched";
      this.note("unknown_id", `${what} of order ${m.id} never seen (${m.size} @ ${m.price}): ${m.size - left} taken from seeded liquidity${settled}`);
      return;
    }
    const take = m.type === 3 ? o.leaves : Math.min(m.size, o.leaves);
    const samePlace = o.side === m.side && o.price === m.price;
    this.reduce(m.id, take);
    if (samePlace && (m.type === 3 ? o.leaves === m.size : m.size <= o.leaves)) return;
    this.counts.cancel_mismatches++;
    const settled = samePlace && this.seeded ? this.settle(m, take) : "";
    this.note("cancel_mismatch", `${what} of ${m.size} @ ${m.price} (${sideName(m.side)}) for order ${m.id}, which our book had as a ${sideName(o.side)} of ${o.leaves} @ ${o.price}: ${take} taken off it${settled}`);
  }

  /**
   * With an orderbook file our level totals are the exchange's, so an event that took `taken`
   * off the order it names (or seeded liquidity) but says m.size left the level has the
   * difference settled at the level: an earlier out-of-view change was charged to the wrong
   * order there. Returns the explanation's tail. Callers use it only with an orderbook file.
   */
  private settle(m: LobsterMessage, taken: number): string {
    if (taken === m.size) return "";
    if (taken < m.size) {
      this.shrinkLevel(m.side, m.price, m.size - taken);
      return `; the other ${m.size - taken} come off the level (seeded liquidity first), whose total the orderbook file gives`;
    }
    this.addSeed(m.side, m.price, taken - m.size);
    return `; the ${taken - m.size} it had beyond that stay at the level as seeded liquidity, whose total the orderbook file gives`;
  }

  /**
   * Replays a visible execution as an IOC from the other side when our book has the named order
   * first in line at the best price with enough left (for an order never seen: seeded liquidity
   * first at that price). Otherwise counts a fill mismatch of one kind, says why, and applies
   * the execution to the named order alone (for an order never seen: to seeded liquidity alone).
   */
  private execute(m: LobsterMessage): void {
    this.counts.executions++;
    const o = this.engine.order(m.id);
    if (o === undefined) {
      this.executeUnknown(m);
      return;
    }
    if (o.side !== m.side || o.price !== m.price) {
      this.fillMismatch(m, "order_differs", `our book has it as a ${sideName(o.side)} of ${o.leaves} @ ${o.price}`);
      this.reduce(m.id, Math.min(m.size, o.leaves));
      return;
    }
    this.removeStale(m.side, m.price, false, `order ${m.id} was executed at ${m.price}, and a visible execution is always at the best price`);
    const queue = this.engine.levelOrders(INST, m.side, m.price);
    const ahead = queue.indexOf(m.id);
    if (ahead === 0 && o.leaves >= m.size) {
      this.sendIoc(m, m.id);
      return;
    }
    const taken = Math.min(m.size, o.leaves);
    this.reduce(m.id, taken);
    const settled = this.seeded ? this.settle(m, taken) : "";
    if (ahead > 0) this.fillMismatch(m, "queue", `${plural(ahead, "order")} ${ahead === 1 ? "is" : "are"} ahead of it at ${m.price} in our book (first: ${this.orderName(queue[0]!)})${settled}`);
    else this.fillMismatch(m, "size", `it has ${o.leaves} left, the execution is ${m.size}${settled}`);
  }

  /** An execution of an order never seen: filled from seeded liquidity when that is first in line, otherwise a fill mismatch that touches no other order. */
  private executeUnknown(m: LobsterMessage): void {
    this.counts.unknown_ids++;
    const best = this.bookSide(m.side)[0];
    const head = best?.[0] === m.price ? this.engine.levelOrders(INST, m.side, m.price)[0] : undefined;
    const headLeaves = head === undefined ? 0 : this.engine.order(head)!.leaves;
    if (head !== undefined && head >= SEED_ID_BASE && headLeaves >= m.size) {
      this.sendIoc(m, head);
      this.note("unknown_id", `execution of order ${m.id}, never seen: filled from seeded liquidity at ${m.price}`);
      return;
    }
    let why: string;
    if (best === undefined) why = "our side is empty";
    else if (best[0] !== m.price) why = `our best ${levelName(m.side)} is ${best[0]}, the execution is at ${m.price}`;
    else if (head! < SEED_ID_BASE) why = `order ${head} is first at ${m.price}, and only seeded liquidity stands for orders never seen`;
    else why = `the seeded liquidity first at ${m.price} has ${headLeaves}, the execution is ${m.size}`;
    const taken = m.size - this.reduceSeeds(m.side, m.price, m.size);
    const settled = taken === m.size ? "" : this.seeded ? this.settle(m, taken) : ", and no other order is touched";
    this.fillMismatch(m, "unknown_order", `order ${m.id} was never seen: ${why}; ${taken} taken from seeded liquidity at ${m.price}${settled}`);
  }

  private fillMismatch(m: LobsterMessage, kind: FillMismatchKind, why: string): void {
    this.counts.fill_mismatches++;
    this.counts.fill_mismatch_kinds[kind]++;
    this.note("fill_mismatch", `${kind}: execution of ${m.size} @ ${m.price} against ${sideName(m.side)} order ${m.id}: ${why}`);
  }

  /** The IOC that replays execution m; it must fill exactly `maker` (anything else is an engine bug and stops the replay). */
  private sendIoc(m: LobsterMessage, maker: number): void {
    this.log.trades.length = 0;
    this.engine.placeLimit(INST, this.nextTakerId++, LOBSTER_ACCOUNT, opposite(m.side), m.price, m.size, Tif.IOC, false, Stp.NONE);
    const t = this.log.trades;
    if (t.length !== 1 || t[0]!.maker !== maker || t[0]!.price !== m.price || t[0]!.qty !== m.size) {
      throw new Error(`replay invariant: the IOC for event ${m.line} did not fill order ${maker} exactly`);
    }
  }

  /**
   * Compares our top levels per side with the file's row after event `event`. A level that
   * differs and lies beyond what the previous row showed came into view without a message:
   * it is seeded from the file. Any other difference is a real book mismatch: counted once per
   * row, noted, and corrected from the file so that it is not counted again on every later row.
   */
  checkBook(event: number, row: BookRow, prev: BookRow): void {
    const found: { side: Side; price: number; ours: number; theirs: number; seed: boolean }[] = [];
    for (const [side, file, before] of [[Side.SELL, row.asks, prev.asks], [Side.BUY, row.bids, prev.bids]] as const) {
      const window = before.length === this.levels ? before[this.levels - 1]![0] : undefined;
      for (const [price, ours, theirs] of this.levelDiff(side, file)) found.push({ side, price, ours, theirs, seed: window !== undefined && better(side, window, price) });
    }
    if (found.length === 0) return;
    for (const d of found.filter((x) => x.seed)) {
      this.counts.seeds++;
      const what = d.theirs === 0 ? "emptied while out of view" : d.ours === 0 ? `came into view with ${d.theirs}` : `came back into view with ${d.theirs}`;
      this.note("seed", `${levelName(d.side)} level ${d.price} ${what} (we had ${d.ours}), beyond the previous row's level ${this.levels}`);
    }
    const mismatched = found.filter((x) => !x.seed);
    if (mismatched.length > 0) {
      this.counts.book_mismatches++;
      this.note("book_mismatch", `after event ${event}: ${mismatched.map((d) => `${levelName(d.side)} ${d.price}: ours ${d.ours}, file ${d.theirs}`).join("; ")}`);
    }
    // All removals before any addition, so that no correction crosses the other side.
    for (const d of found) if (d.ours > d.theirs) this.adjust(d.side, d.price, d.theirs);
    for (const d of found) if (d.ours < d.theirs) this.adjust(d.side, d.price, d.theirs);
  }

  /** Sets one of our levels to the file's quantity: the excess comes off seeds first, then the newest orders; a shortfall is seeded. */
  private adjust(side: Side, price: number, target: number): void {
    const have = this.engine.levelOrders(INST, side, price).reduce((s, id) => s + this.engine.order(id)!.leaves, 0);
    if (have > target) this.shrinkLevel(side, price, have - target);
    else if (have < target) this.addSeed(side, price, target - have);
  }

  /** [price, ours, file] for every visible price where our level differs from the file's. */
  private levelDiff(side: Side, file: [number, number][]): [number, number, number][] {
    // A side the file shows full hides what lies beyond its deepest level; a side shown short has nothing beyond.
    const deepest = file.length === this.levels ? file[this.levels - 1]![0] : undefined;
    const ours = this.ourLevelsTo(side, deepest);
    const theirs = new Map(file);
    const prices = new Set<number>(file.map(([p]) => p));
    for (const [p] of ours) prices.add(p);
    const mine = new Map(ours);
    const out: [number, number, number][] = [];
    for (const p of prices) {
      const o = mine.get(p) ?? 0;
      const t = theirs.get(p) ?? 0;
      if (o !== t) out.push([p, o, t]);
    }
    return out.sort((a, b) => (side === Side.BUY ? b[0] - a[0] : a[0] - b[0]));
  }

  /** Our levels on `side`, best first, down to `deepest` (all of them when it is undefined). */
  private ourLevelsTo(side: Side, deepest: number | undefined): [number, number][] {
    const pick = (d: Depth): [number, number][] => d[side === Side.BUY ? "bids" : "asks"];
    if (deepest === undefined) return pick(this.engine.depth(INST));
    for (let n = this.levels * 2; ; n *= 2) {
      const ours = pick(this.engine.depth(INST, n));
      const last = ours.at(-1);
      if (ours.length < n || last === undefined || better(side, deepest, last[0])) return ours.filter(([p]) => !better(side, deepest, p));
    }
  }
}

export interface LobsterOptions {
  readonly bookFile?: string;
  /** Stop at the first bad line (throwing its BadLine) instead of skipping it. */
  readonly strict: boolean;
  /** Each bad line of either file, as it is met. */
  readonly onBadLine?: (e: BadLine) => void;
  /** Each explained difference, as it is found. */
  readonly onDifference?: (d: Difference) => void;
}

export interface LobsterResult {
  readonly summary: LobsterSummary;
  readonly replay: LobsterReplay;
  /** Lines of the message file read, good and bad. */
  readonly lines: number;
}

/**
 * Refuses an orderbook file that is not the message file's partner: row k of the orderbook is
 * the book after event k, so both have as many lines, and LOBSTER writes both at one depth.
 * Returns the orderbook's depth (levels per side), which its column count gives.
 */
function pairFiles(messageFile: string, bookFile: string): number {
  const messageLines = countLines(messageFile);
  if (messageLines === 0) throw new ReplayInputError(`${messageFile} is empty: no events to replay`);
  const bookLines = countLines(bookFile);
  if (bookLines !== messageLines) {
    throw new ReplayInputError(`${bookFile} has ${plural(bookLines, "line")} but ${messageFile} has ${messageLines}: row k of an orderbook file is the book after event k, so the two must have as many lines`);
  }
  const reader = new LineReader(bookFile, "latin1");
  let first: string | null;
  try {
    first = reader.next();
  } finally {
    reader.close();
  }
  const columns = (first ?? "").split(",").length;
  if (columns % BOOK_COLUMNS_PER_LEVEL !== 0) {
    throw new ReplayInputError(`${bookFile} line 1: ${columns} comma-separated fields; an orderbook row has ${BOOK_COLUMNS_PER_LEVEL} per level (ask price, ask size, bid price, bid size)${columns === 6 || columns === 7 ? " (is this a message file?)" : ""}`);
  }
  const levels = columns / BOOK_COLUMNS_PER_LEVEL;
  const mn = lobsterName(messageFile);
  const bn = lobsterName(bookFile);
  if (bn?.kind === "message") throw new ReplayInputError(`${bookFile} is named as a message file; --check-book takes the orderbook file`);
  if (bn !== undefined && bn.levels !== levels) throw new ReplayInputError(`${bookFile} is named for ${bn.levels} levels but its rows have ${levels} (${columns} fields)`);
  if (mn !== undefined && mn.kind === "message" && mn.levels !== levels) {
    throw new ReplayInputError(`${messageFile} is a ${mn.levels}-level message file (by its name) but ${bookFile} has ${plural(levels, "level")}; LOBSTER writes the pair at one depth`);
  }
  if (mn?.kind === "message" && bn !== undefined && mn.stem !== bn.stem) throw new ReplayInputError(`${messageFile} and ${bookFile} are not a pair: ${mn.stem} is not ${bn.stem}`);
  return levels;
}

const END = Symbol("end of file");

/** Reads and parses one line: END at the end of the file, undefined for a bad line (reported through `bad`). */
function readLine<T>(reader: LineReader, parse: (text: string) => T, bad: (e: BadLine) => void): T | undefined | typeof END {
  try {
    const text = reader.next();
    return text === null ? END : parse(text);
  } catch (err) {
    if (!(err instanceof BadLine)) throw err;
    bad(err);
    return undefined;
  }
}

export function replayLobster(messageFile: string, opts: LobsterOptions): LobsterResult {
  const levels = opts.bookFile === undefined ? 0 : pairFiles(messageFile, opts.bookFile);
  const replay = new LobsterReplay(opts.onDifference, levels === 0 ? DEFAULT_LEVELS : levels);
  const parser = new MessageParser(messageFile);
  const messages = new LineReader(messageFile, "latin1");
  const book = opts.bookFile === undefined ? undefined : new LineReader(opts.bookFile, "latin1");
  let badLines = 0;
  const bad = (e: BadLine): void => {
    if (opts.strict) throw e;
    badLines++;
    opts.onBadLine?.(e);
  };
  const batch: [LobsterMessage | undefined, BookRow | undefined][] = [];
  let engineNs = 0n;
  try {
    for (let done = false; !done; ) {
      // ---- 1. read and parse a batch
      while (batch.length < EVENTS_PER_BATCH) {
        const m = readLine(messages, (t) => parser.parse(t, messages.lineNo, messages.terminated), bad);
        const row = book === undefined ? undefined : readLine(book, (t) => parseBookRow(t, book.file, book.lineNo, levels, book.terminated), bad);
        if (book !== undefined && (m === END) !== (row === END)) throw new ReplayInputError(`${messageFile} and ${book.file} ended at different lines (was one changed during the run?)`);
        if (m === END) {
          done = true;
          break;
        }
        batch.push([m, row === END ? undefined : row]);
      }
      // ---- 2. apply it
      const t0 = process.hrtime.bigint();
      for (const [m, row] of batch) replay.step(m, row);
      engineNs += process.hrtime.bigint() - t0;
      batch.length = 0;
    }
  } finally {
    messages.close();
    book?.close();
  }
  if (messages.lineNo === 0) throw new ReplayInputError(`${messageFile} is empty: no events to replay`);
  const seconds = Number(engineNs) / 1e9;
  const summary: LobsterSummary = {
    ...replay.counts, rejects: replay.log.rejects, bad_lines: badLines, levels, hash: replay.engine.stateHash(),
    ops_per_s: seconds > 0 ? Math.round(replay.counts.events / seconds) : 0,
  };
  return { summary, replay, lines: messages.lineNo };
}
