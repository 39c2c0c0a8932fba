/**
 * `lockstep replay --format lobster`: replays NASDAQ order-level data in LOBSTER format.
 * Type 1 adds a limit order; 2 cancels part of one; 3 deletes one; 4 (visible execution) is
 * replayed as an aggressive IOC from the other side at that price and size, which under correct
 * price-time priority must fill exactly the resting order LOBSTER names; 5, 6 and 7 are counted
 * and skipped. With an orderbook file, the book is seeded from it, compared after every event,
 * and levels that come into view without a message of their own (the data's known limit) are
 * seeded from it and counted apart from real mismatches. docs/replay.md explains each count.
 */
import { readFileSync } from "node:fs";
import { Engine, NullListener, Side, Stp, Tif, type InstrumentConfig } from "../engine/index.js";
import { REPLAY_PRICE_MAX, REPLAY_QTY_MAX } from "./jsonl.js";

export const LOBSTER_INSTRUMENT: InstrumentConfig = {
  id: 1, symbol: "LOBSTER", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: REPLAY_QTY_MAX, priceMin: 1, priceMax: REPLAY_PRICE_MAX,
};
/** Synthetic orders that stand for liquidity the messages never showed get ids from here up. */
export const SEED_ID_BASE = 1_000_000_000_000;
const LOBSTER_ACCOUNT = 1;
const SEED_ACCOUNT = 2;
const INST = LOBSTER_INSTRUMENT.id;
const LEVELS = 10;
const DUMMY_ASK = 9999999999;

export interface LobsterMessage {
  readonly line: number;
  readonly time: string;
  readonly type: number;
  readonly id: number;
  readonly size: number;
  readonly price: number;
  /** Side of the order named by `id`. */
  readonly side: Side;
}

/** One orderbook row: visible levels, best first, [price, size]. */
export interface BookRow {
  readonly asks: [number, number][];
  readonly bids: [number, number][];
}

export interface LobsterSummary {
  events: number;
  executions: number;
  fill_mismatches: number;
  book_mismatches: number;
  seeds: number;
  unknown_ids: number;
  initial_levels: number;
  hidden_executions: number;
  skipped: number;
  rejects: number;
  bad_lines: number;
  hash: string;
  ops_per_s: number;
}

/** One explained difference between the data and our replay. */
export interface Difference {
  readonly event: number;
  readonly kind: "fill_mismatch" | "book_mismatch" | "seed" | "unknown_id";
  readonly detail: string;
}

export class LobsterParseError extends Error {}

function parseRow(line: string, lineNo: number, fields: number): number[] {
  const parts = line.split(",");
  if (parts.length < fields) throw new LobsterParseError(`line ${lineNo}: expected ${fields} comma-separated fields, found ${parts.length}`);
  return parts.map((p, i) => {
    const v = i === 0 && fields === 6 ? 0 : Number(p);
    if (!Number.isSafeInteger(v)) throw new LobsterParseError(`line ${lineNo}: field ${i + 1} ("${p}") is not an integer`);
    return v;
  });
}

export function parseMessages(text: string, onBad: (e: LobsterParseError) => void): LobsterMessage[] {
  const out: LobsterMessage[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      const [, type, id, size, price, dir] = parseRow(line, i + 1, 6);
      if (type! < 1 || type! > 7) throw new LobsterParseError(`line ${i + 1}: unknown event type ${type}`);
      if (dir !== 1 && dir !== -1) throw new LobsterParseError(`line ${i + 1}: direction must be 1 or -1, found ${dir}`);
      out.push({ line: i + 1, time: line.slice(0, line.indexOf(",")), type: type!, id: id!, size: size!, price: price!, side: dir === 1 ? Side.BUY : Side.SELL });
    } catch (err) {
      if (!(err instanceof LobsterParseError)) throw err;
      onBad(err);
    }
  });
  return out;
}

export function parseBookRows(text: string): BookRow[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((line, i) => {
    const v = parseRow(line, i + 1, 4 * LEVELS);
    const row: BookRow = { asks: [], bids: [] };
    for (let l = 0; l < LEVELS; l++) {
      const [ap, as, bp, bs] = [v[4 * l]!, v[4 * l + 1]!, v[4 * l + 2]!, v[4 * l + 3]!];
      if (as > 0 && ap !== DUMMY_ASK) row.asks.push([ap, as]);
      if (bs > 0 && bp !== -DUMMY_ASK) row.bids.push([bp, bs]);
    }
    return row;
  });
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
/** True when `a` is a worse price than `b` on side `s`. */
const worse = (s: Side, a: number, b: number): boolean => (s === Side.BUY ? a < b : a > b);

export class LobsterReplay {
  readonly log = new TradeLog();
  readonly engine = new Engine([LOBSTER_INSTRUMENT], this.log);
  readonly differences: Difference[] = [];
  readonly counts = { events: 0, executions: 0, fill_mismatches: 0, book_mismatches: 0, seeds: 0, unknown_ids: 0, initial_levels: 0, hidden_executions: 0, skipped: 0 };
  private nextSeedId = SEED_ID_BASE;
  private nextTakerId = SEED_ID_BASE * 2;

  private note(event: number, kind: Difference["kind"], detail: string): void {
    this.differences.push({ event, kind, detail });
  }

  /** Takes `qty` off an order: a partial cancel keeps its priority, the rest is a full cancel. */
  private reduce(id: number, qty: number): void {
    const o = this.engine.order(id)!;
    if (o.leaves > qty) this.engine.modify(id, 0, o.price, o.leaves - qty);
    else this.engine.cancel(id, 0);
  }

  /** Takes `qty` off a level, seeded (synthetic) orders first, then the newest real ones. Returns what it could not take. */
  private reduceLevel(side: Side, price: number, qty: number, seedsOnly: boolean): number {
    const ids = this.engine.levelOrders(INST, side, price);
    const ordered = [...ids.filter((i) => i >= SEED_ID_BASE), ...(seedsOnly ? [] : ids.filter((i) => i < SEED_ID_BASE).reverse())];
    for (const id of ordered) {
      if (qty === 0) break;
      const take = Math.min(qty, this.engine.order(id)!.leaves);
      this.reduce(id, take);
      qty -= take;
    }
    return qty;
  }

  private addSeed(side: Side, price: number, qty: number): void {
    this.engine.placeLimit(INST, this.nextSeedId++, SEED_ACCOUNT, side, price, qty, Tif.GTC, true, Stp.NONE);
  }

  /** Seeds the book before event 1 from orderbook row 1 with event 1's own effect taken out. */
  seedInitial(row1: BookRow, first: LobsterMessage | undefined): void {
    const levels = new Map<string, number>();
    for (const [p, q] of row1.asks) levels.set(`${Side.SELL}:${p}`, q);
    for (const [p, q] of row1.bids) levels.set(`${Side.BUY}:${p}`, q);
    if (first !== undefined && first.type <= 4) {
      const key = `${first.side}:${first.price}`;
      levels.set(key, (levels.get(key) ?? 0) + (first.type === 1 ? -first.size : first.size));
    }
    for (const [key, q] of levels) {
      if (q <= 0) continue;
      const [side, price] = key.split(":").map(Number) as [Side, number];
      this.addSeed(side, price, q);
      this.counts.initial_levels++;
    }
  }

  apply(m: LobsterMessage, event: number): void {
    this.counts.events++;
    switch (m.type) {
      case 1:
        this.engine.placeLimit(INST, m.id, LOBSTER_ACCOUNT, m.side, m.price, m.size, Tif.GTC, false, Stp.NONE);
        break;
      case 2:
      case 3:
        this.cancelPart(m, event);
        break;
      case 4:
        this.execute(m, event);
        break;
      case 5:
        this.counts.hidden_executions++;
        break;
      default:
        this.counts.skipped++;
    }
  }

  private cancelPart(m: LobsterMessage, event: number): void {
    const o = this.engine.order(m.id);
    if (o !== undefined) {
      this.reduce(m.id, m.type === 3 ? o.leaves : Math.min(m.size, o.leaves));
      return;
    }
    this.counts.unknown_ids++;
    const left = this.reduceLevel(m.side, m.price, m.size, true);
    this.note(event, "unknown_id", `${m.type === 3 ? "delete" : "partial cancel"} of order ${m.id} never seen (${m.size} @ ${m.price}); ${left === 0 ? "taken from seeded liquidity" : `${left} not found in seeded liquidity`}`);
  }

  /**
   * Replays a visible execution as an IOC from the other side when our book has the named order
   * (or, for an order never seen, seeded liquidity) first in line at the best price; otherwise
   * counts a fill mismatch, says why, and applies the execution to the named order directly.
   */
  private execute(m: LobsterMessage, event: number): void {
    this.counts.executions++;
    const known = this.engine.order(m.id) !== undefined;
    if (!known) this.counts.unknown_ids++;
    const best = this.engine.depth(INST, 1)[m.side === Side.BUY ? "bids" : "asks"][0];
    const head = best === undefined ? undefined : this.engine.levelOrders(INST, m.side, best[0])[0];
    const headOk = head !== undefined && (known ? head === m.id : head >= SEED_ID_BASE) && this.engine.order(head)!.leaves >= m.size;
    if (best !== undefined && best[0] === m.price && headOk) {
      this.log.trades.length = 0;
      this.engine.placeLimit(INST, this.nextTakerId++, LOBSTER_ACCOUNT, opposite(m.side), m.price, m.size, Tif.IOC, false, Stp.NONE);
      const t = this.log.trades;
      if (t.length === 1 && t[0]!.maker === head && t[0]!.price === m.price && t[0]!.qty === m.size) {
        if (!known) this.note(event, "unknown_id", `execution of order ${m.id}, never seen: filled from seeded liquidity at ${m.price}`);
        return;
      }
      throw new Error(`replay invariant: IOC for event ${event} did not fill order ${head} exactly`);
    }
    this.counts.fill_mismatches++;
    let why: string;
    if (best === undefined) why = "our side is empty";
    else if (best[0] !== m.price) why = `our best price is ${best[0]}, the execution is at ${m.price}`;
    else if (!known && (head === undefined || head < SEED_ID_BASE)) why = `order ${m.id} was never seen and no seeded liquidity is first at ${m.price} (order ${head} is)`;
    else if (head !== m.id && known) why = `order ${head} is ahead of ${m.id} at ${m.price} in our book`;
    else why = `order ${m.id} has ${this.engine.order(head!)!.leaves} left, the execution is ${m.size}`;
    this.note(event, "fill_mismatch", `execution of ${m.size} @ ${m.price} against order ${m.id}: ${why}`);
    if (known) this.reduce(m.id, Math.min(m.size, this.engine.order(m.id)!.leaves));
    else this.reduceLevel(m.side, m.price, m.size, false);
  }

  /**
   * Compares our top 10 levels per side with the file's row after event `event`. A level that
   * differs and lies beyond what the previous row showed came into view without a message:
   * it is seeded from the file. Any difference left is a real book mismatch: counted, noted,
   * and then corrected from the file so that one mismatch is not counted again on every later row.
   */
  checkBook(event: number, row: BookRow, prev: BookRow): void {
    const sides: [Side, [number, number][], [number, number][]][] = [[Side.SELL, row.asks, prev.asks], [Side.BUY, row.bids, prev.bids]];
    const adjust = (side: Side, price: number, target: number): void => {
      const have = this.engine.levelOrders(INST, side, price).reduce((s, id) => s + this.engine.order(id)!.leaves, 0);
      if (have > target) this.reduceLevel(side, price, have - target, false);
      else if (have < target) this.addSeed(side, price, target - have);
    };
    const diffs = sides.map(([side, file, before]) => ({ side, diff: this.levelDiff(side, file), before }));
    // Removals first, then additions, so a correction never crosses the other side.
    for (const pass of [true, false]) {
      for (const { side, diff, before } of diffs) {
        const window = before.length === LEVELS ? before[LEVELS - 1]![0] : undefined;
        for (const [price, ours, theirs] of diff) {
          if ((ours > theirs) !== pass || window === undefined || !worse(side, price, window)) continue;
          adjust(side, price, theirs);
          this.counts.seeds++;
          const what = theirs === 0 ? "emptied while out of view" : ours === 0 ? `came into view with ${theirs}` : `came back into view with ${theirs}`;
          this.note(event, "seed", `${side === Side.BUY ? "bid" : "ask"} level ${price} ${what} (we had ${ours}), beyond the previous row's 10th level`);
        }
      }
    }
    const left = sides.map(([side, file]) => ({ side, diff: this.levelDiff(side, file) })).filter((d) => d.diff.length > 0);
    if (left.length === 0) return;
    this.counts.book_mismatches++;
    const text = left.map((d) => d.diff.map(([p, o, t]) => `${d.side === Side.BUY ? "bid" : "ask"} ${p}: ours ${o}, file ${t}`).join("; ")).join("; ");
    this.note(event, "book_mismatch", text);
    for (const pass of [true, false]) {
      for (const { side, diff } of left) for (const [price, ours, theirs] of diff) if ((ours > theirs) === pass) adjust(side, price, theirs);
    }
  }

  /** [price, ours, file] for every visible price where our level differs from the file's. */
  private levelDiff(side: Side, file: [number, number][]): [number, number, number][] {
    const ours = this.engine.depth(INST, LEVELS + file.length)[side === Side.BUY ? "bids" : "asks"];
    const deepest = file.length === LEVELS ? file[LEVELS - 1]![0] : undefined;
    const theirs = new Map(file);
    const prices = new Set<number>(file.map(([p]) => p));
    for (const [p] of ours) if (deepest === undefined || !worse(side, p, deepest)) prices.add(p);
    const mine = new Map(ours);
    const out: [number, number, number][] = [];
    for (const p of prices) {
      const o = mine.get(p) ?? 0;
      const t = theirs.get(p) ?? 0;
      if (o !== t) out.push([p, o, t]);
    }
    return out.sort((a, b) => (side === Side.BUY ? b[0] - a[0] : a[0] - b[0]));
  }
}

export interface LobsterOptions {
  readonly bookFile?: string;
  readonly strict: boolean;
  readonly onProblem?: (message: string) => void;
}

export function replayLobster(messageFile: string, opts: LobsterOptions): { summary: LobsterSummary; replay: LobsterReplay } {
  let badLines = 0;
  const messages = parseMessages(readFileSync(messageFile, "utf8"), (err) => {
    if (opts.strict) throw err;
    badLines++;
    opts.onProblem?.(err.message);
  });
  const rows = opts.bookFile === undefined ? undefined : parseBookRows(readFileSync(opts.bookFile, "utf8"));
  if (rows !== undefined && rows.length < messages.length) {
    throw new LobsterParseError(`the orderbook file has ${rows.length} rows but the message file has ${messages.length} events; they must match row for row`);
  }
  const r = new LobsterReplay();
  const t0 = process.hrtime.bigint();
  if (rows !== undefined) r.seedInitial(rows[0]!, messages[0]);
  let prev: BookRow = rows?.[0] ?? { asks: [], bids: [] };
  messages.forEach((m, i) => {
    r.apply(m, i + 1);
    if (rows !== undefined) {
      r.checkBook(i + 1, rows[i]!, i === 0 ? prev : rows[i - 1]!);
      prev = rows[i]!;
    }
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const summary: LobsterSummary = {
    ...r.counts, rejects: r.log.rejects, bad_lines: badLines, hash: r.engine.stateHash(),
    ops_per_s: seconds > 0 ? Math.round(messages.length / seconds) : 0,
  };
  return { summary, replay: r };
}
