/**
 * What moves with an instrument between shards (docs/scaling.md, "Moving an instrument"): its
 * book as rows in the export order, and the book hash that must be the same before the move (on
 * the source, at its HALT) and after it (on the target, at the end of its import).
 *
 * The export order is the order an import must rebuild the book in: buy stops, then sell stops,
 * each in trigger order (as StopSide stores them), then bids best to worst, each level oldest
 * first, then asks likewise. Stops come first so that an OCO pair's limit leg can name its stop
 * leg by its index in the import, already there when the limit leg arrives. Appending in this
 * order rebuilds every level's time priority and every stop side's trigger order exactly.
 *
 * The book hash leaves order ids out: a moved order takes a new id on its new shard (its
 * record's seq there, unique on that shard as every order id is). Everything else is in it:
 * the instrument's trading rules, the last trade price, and every order's owner, side, kind,
 * time in force, self-trade mode, post-only flag, prices, open and filled quantity, notional,
 * client order id and OCO link, in priority order.
 */
import { StateHasher } from "./hash.js";
import type { InstrumentConfig, InstrumentMode } from "./types.js";

/** One exported order. `peer`: for an OCO pair's limit leg, 1 + its stop leg's index in the rows; otherwise 0. */
export type MoveRow = [
  fromId: number, owner: number, side: number, kind: number, tif: number, stp: number, postOnly: number,
  price: number, stopPrice: number, leaves: number, cum: number, notional: number, peer: number, coid: string,
];

/** An instrument's book as a replica serves it for a move. */
export interface BookExport {
  readonly instrument: InstrumentConfig;
  readonly mode: InstrumentMode;
  /** Seq of the HALT that froze the book (0 unless HALTED): the export is the book as of that seq. */
  readonly haltSeq: number;
  /** Seq of the instrument's latest move claim on this shard (0: never claimed); a mover's steps name its own. */
  readonly moveClaim: number;
  readonly lastPrice: number;
  /** The rows, or none when the export was asked for without them (orderCount still counts them). */
  readonly orders: readonly MoveRow[];
  readonly orderCount: number;
  readonly bookHash: string;
}

/** Orders one import may carry: a bound on the records a move sequences on its target. */
export const MOVE_ORDERS_MAX = 1_000_000;

/** A book hash's hasher with everything before its rows added; each row then adds fields 1-12 of its MoveRow and its coid. */
export function bookHasher(c: InstrumentConfig, lastPrice: number, rows: number): StateHasher {
  const h = new StateHasher();
  h.add(c.id); h.add(c.tickSize); h.add(c.lotSize); h.add(c.qtyMin); h.add(c.qtyMax); h.add(c.priceMin); h.add(c.priceMax);
  h.add(lastPrice);
  h.add(rows);
  return h;
}

/** The book hash of an export (see the opening comment): 16 hex digits. */
export function bookHashOf(c: InstrumentConfig, lastPrice: number, rows: readonly MoveRow[]): string {
  const h = bookHasher(c, lastPrice, rows.length);
  for (const r of rows) {
    for (let k = 1; k <= 12; k++) h.add(r[k] as number);
    h.addText(r[13]);
  }
  return h.digest();
}

/** A book hash as the engine writes it: 16 lower-case hex digits. */
export function isBookHash(x: unknown): x is string {
  if (typeof x !== "string" || x.length !== 16) return false;
  for (let i = 0; i < 16; i++) {
    const c = x.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Longest shard id (as src/shard/rendezvous.ts SHARD_ID: 1-32 ASCII letters, digits, '_' or '-'). */
export const SHARD_NAME_LENGTH_MAX = 32;

/** True for a shard id; the engine carries shard ids in move commands and never interprets them. */
export function isShardName(x: unknown): x is string {
  if (typeof x !== "string" || x.length === 0 || x.length > SHARD_NAME_LENGTH_MAX) return false;
  for (let i = 0; i < x.length; i++) {
    const c = x.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d;
    if (!ok) return false;
  }
  return true;
}
