/**
 * The operator's side of moving an instrument (docs/scaling.md): the rows a MOVE_ORDERS frame
 * carries, and the record each move message is sequenced as.
 *
 * Rows travel in the frame's `rows` field as one MessagePack array of integers: per order
 *   fromId, owner, side, kind, tif, stp, postOnly 0|1, price, stopPrice, leaves, cum, notional, peer,
 *   coid length (0 for none), then the coid's character codes,
 * in the export order (src/engine/move.ts). The field holds at most VALUE_BYTES_MAX bytes, so
 * a frame holds at most as many rows as fit (about 30 typical ones, at least 6 of the longest):
 * the mover packs as many as fit and sends the rest in the next frame.
 */
import { CLIENT_ORDER_ID_LENGTH_MAX, isClientOrderId, type Command, type ImportRow, type MoveRow, type OrderKind, type Side, type Stp, type Tif } from "../engine/index.js";
import { MsgType, type MoveMessage } from "./messages.js";
import { asNotIntegers, intBytes, IntArrayReader, pack, VALUE_BYTES_MAX } from "./wire.js";

/** Integers of a row before its client order id's length. */
const ROW_FIELDS = 13;

/** The rows field of one MOVE_ORDERS frame (a copy: `pack` returns a view of a shared chunk), written as an import-orders record writes them. */
export function packRows(rows: readonly MoveRow[]): Buffer {
  const flat: number[] = [];
  for (const r of rows) {
    for (let k = 0; k < ROW_FIELDS; k++) flat.push(r[k] as number);
    pushCoid(r[13], flat);
  }
  return Buffer.from(pack(flat));
}

/** The largest array header MessagePack gives an array of up to 65535 elements (array 16). */
const ARRAY_HEADER_BYTES_MAX = 3;

/**
 * Splits rows, in order, into MOVE_ORDERS fields of at most VALUE_BYTES_MAX bytes each. A row
 * packs to at most 13 × 9 + 1 + 36 = 154 bytes, so every field holds at least 6 rows.
 */
export function rowChunks(rows: readonly MoveRow[]): Buffer[] {
  const out: Buffer[] = [];
  let chunk: MoveRow[] = [];
  let bytes = ARRAY_HEADER_BYTES_MAX;
  for (const r of rows) {
    // The row's elements as packed: sized integer by integer (intBytes), not packed twice.
    let own = 1 + r[13].length;
    for (let k = 0; k < ROW_FIELDS; k++) own += intBytes(r[k] as number);
    if (bytes + own > VALUE_BYTES_MAX && chunk.length > 0) {
      out.push(packRows(chunk));
      chunk = [];
      bytes = ARRAY_HEADER_BYTES_MAX;
    }
    chunk.push(r);
    bytes += own;
  }
  if (chunk.length > 0) out.push(packRows(chunk));
  return out;
}

const reader = new IntArrayReader();

/** The rows of a MOVE_ORDERS frame, or why they are not rows (a plain sentence). Checks shape and ranges, not the book. */
export function unpackRows(bytes: Uint8Array): MoveRow[] | string {
  return unpackWith(bytes, moveRowOf);
}

/** unpackRows, each row made as the engine takes it (what a sequencer journals a MOVE_ORDERS frame as). */
export function unpackImportRows(bytes: Uint8Array): ImportRow[] | string {
  return unpackWith(bytes, importRowFrom);
}

function unpackWith<T>(bytes: Uint8Array, make: RowMaker<T>): T[] | string {
  try {
    const rows = readRowsWith(reader, reader.open(bytes), make);
    if (typeof rows !== "string") reader.end();
    return rows;
  } catch (err) {
    const bad = asNotIntegers(err);
    if (bad !== null) return `rows: not an array of integers (${bad.message})`;
    throw err;
  }
}

/** Makes a row from the ROW_FIELDS integers just read (in `f`, reused: copy what is kept) and its client order id. */
type RowMaker<T> = (f: readonly number[], coid: string) => T;
const moveRowOf: RowMaker<MoveRow> = (f, coid) => [f[0]!, f[1]!, f[2]!, f[3]!, f[4]!, f[5]!, f[6]!, f[7]!, f[8]!, f[9]!, f[10]!, f[11]!, f[12]!, coid];
const importRowFrom: RowMaker<ImportRow> = (f, coid) => importRow(f[0]!, f[1]!, f[2]!, f[3]!, f[4]!, f[5]!, f[6]!, f[7]!, f[8]!, f[9]!, f[10]!, f[11]!, f[12]!, coid);
/** The integers of the row being read: one array for every row (readRowsWith runs once per imported order on every node). */
const fieldsRead: number[] = new Array<number>(ROW_FIELDS).fill(0);

/**
 * The next `n` integers of `r` read as rows (the layout above), or why they are not rows. For
 * a MOVE_ORDERS field and for the record an import-orders command is journaled as, which
 * carries its rows in the same layout. Throws NotIntegers (see asNotIntegers) as `r` does.
 */
export function readRows(r: IntArrayReader, n: number): MoveRow[] | string {
  return readRowsWith(r, n, moveRowOf);
}

/** readRows, each row made as the engine takes it (an import-orders record's command). */
export function readImportRows(r: IntArrayReader, n: number): ImportRow[] | string {
  return readRowsWith(r, n, importRowFrom);
}

function readRowsWith<T>(r: IntArrayReader, n: number, make: RowMaker<T>): T[] | string {
  const rows: T[] = [];
  const f = fieldsRead;
  let read = 0;
  while (read < n) {
    if (n - read < ROW_FIELDS + 1) return `rows: ${n - read} integers left, a row has at least ${ROW_FIELDS + 1}`;
    for (let k = 0; k < ROW_FIELDS; k++) f[k] = r.int();
    const len = r.int();
    read += ROW_FIELDS + 1;
    if (len < 0 || len > CLIENT_ORDER_ID_LENGTH_MAX || n - read < len) return `rows: row ${rows.length} has a client order id length of ${len}`;
    let coid = "";
    for (let i = 0; i < len; i++) {
      const c = r.int();
      if (c < 0 || c > 0xffff) return `rows: row ${rows.length} has a character code ${c}`;
      coid += String.fromCharCode(c);
    }
    read += len;
    if (len > 0 && !isClientOrderId(coid)) return `rows: row ${rows.length} has a client order id with a character outside 0x21..0x7e`;
    const problem = rowProblem(f);
    if (problem !== null) return `rows: row ${rows.length}: ${problem}`;
    rows.push(make(f, coid));
  }
  return rows.length === 0 ? "rows: no rows" : rows;
}

/** A row as the engine takes it (import-orders). */
export function importRowOf(r: MoveRow): ImportRow {
  return importRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13]);
}

/**
 * The one place an ImportRow is made: every row has the same keys in the same order, and
 * `clientOrderId` undefined when the order has none (never absent), so the engine's reads of
 * rows see one object shape rather than two.
 */
function importRow(
  fromOrderId: number, owner: number, side: number, kind: number, tif: number, stp: number, postOnly: number,
  price: number, stopPrice: number, leaves: number, cum: number, notional: number, peer: number, coid: string,
): ImportRow {
  return {
    fromOrderId, owner, side: side as Side, kind: kind as OrderKind, tif: tif as Tif, stp: stp as Stp, postOnly: postOnly === 1,
    price, stopPrice, leaves, cum, notional, peer, clientOrderId: coid === "" ? undefined : coid,
  };
}

/** The integers of import rows in the layout above: a MOVE_ORDERS frame's field, and the record of an import-orders command. */
export function importRowInts(rows: readonly ImportRow[], out: number[]): void {
  for (const r of rows) {
    out.push(r.fromOrderId, r.owner, r.side, r.kind, r.tif, r.stp, r.postOnly ? 1 : 0, r.price, r.stopPrice, r.leaves, r.cum, r.notional, r.peer);
    pushCoid(r.clientOrderId ?? "", out);
  }
}

/** A row's client order id as the layout above has it: its length (0 for none), then its character codes. */
function pushCoid(coid: string, out: number[]): void {
  out.push(coid.length);
  for (let i = 0; i < coid.length; i++) out.push(coid.charCodeAt(i));
}

/** The ranges a row's fields are held to, checked before anything is sequenced. */
function rowProblem(f: readonly number[]): string | null {
  const [fromId, owner, side, kind, tif, stp, postOnly, price, stopPrice, leaves, cum, notional, peer] = f as [number, number, number, number, number, number, number, number, number, number, number, number, number];
  if (fromId < 1 || owner < 0) return "fromId is positive and owner not negative";
  if (side > 1 || side < 0 || kind < 0 || kind > 3 || tif < 0 || tif > 2 || stp < 0 || stp > 3 || postOnly < 0 || postOnly > 1) return "side, kind, tif, stp or postOnly out of range";
  if (price < 0 || stopPrice < 0 || leaves < 1 || cum < 0 || notional < 0 || peer < 0) return "prices, quantities and peer are not negative, leaves positive";
  return null;
}

/**
 * The command a move message is sequenced as, one record each; MOVE_ORDERS's `rows`, already
 * unpacked (unpackImportRows), become one import-orders command (each row takes an imported-order id there).
 */
export function moveCommandOf(m: MoveMessage, seq: number, rows: readonly ImportRow[] = []): Command {
  const account = 0;
  const instrument = m.inst;
  switch (m.t) {
    case MsgType.MOVE_CLAIM: return { type: "claim", instrument, account, seq, claim: m.mc };
    case MsgType.MOVE_HALT: return { type: "halt", instrument, account, seq, claim: m.mc };
    case MsgType.MOVE_RESUME: return { type: "resume", instrument, account, claim: m.mc };
    case MsgType.MOVE_RELEASE: return { type: "release", instrument, account, toShard: m.to, claim: m.mc };
    case MsgType.MOVE_BEGIN: return { type: "import-begin", instrument, account, fromShard: m.from, orders: m.n, lastPrice: m.lpx, bookHash: m.h, claim: m.mc };
    case MsgType.MOVE_END: return { type: "import-end", instrument, account, claim: m.mc };
    case MsgType.MOVE_ABORT: return { type: "import-abort", instrument, account, claim: m.mc };
    case MsgType.MOVE_ORDERS: return { type: "import-orders", instrument, account, rows, claim: m.mc };
  }
}
