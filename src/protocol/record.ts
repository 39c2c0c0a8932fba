/**
 * A sequenced command: what the sequencer journals and replicates, and all a replica's engine
 * needs. Encoded as a MessagePack array of integers (each of the smallest fitting integer
 * width, never a float) so the journal stores, and the hash chain covers, exactly the bytes
 * every replica decodes:
 *   [seq, epoch, tsUs, account, type, ...fields, ...clientOrderId]
 *   type 1 limit  [instrument, orderId, side, price, qty, tif, postOnly 0|1, stp] + optional coid
 *   type 2 market [instrument, orderId, side, qty, stp] + optional coid
 *   type 3 stop   [instrument, orderId, side, stopPrice, price (0 = market), qty, tif, stp] + optional coid
 *   type 4 cancel [orderId]
 *   type 5 modify [orderId, price, qty]
 *   type 6 cancel-all (the account's kill switch) []
 *   type 7 oco    [instrument, limitId, side, qty, price, postOnly 0|1, stopId, stopPrice, stopLimitPrice (0 = market), stp] + optional coid
 *   type 8 cancel by client order id [] + coid
 *   type 9 modify by client order id [price, qty] + coid
 *   type 20 cancel by client order id on an instrument [instrument] + coid
 *   type 21 modify by client order id on an instrument [instrument, price, qty] + coid
 * The operator's commands that move an instrument between shards (account 0; docs/scaling.md):
 *   type 10 halt          [instrument, seq (its own)]
 *   type 11 resume        [instrument]
 *   type 12 release       [instrument] + shard (where the orders went)
 *   type 13 import-begin  [instrument, orders, lastPrice, bookHash high 32 bits, bookHash low 32 bits] + shard (where they come from)
 *   type 14 import-order  [instrument, orderId, fromOrderId, owner, side, kind, tif, stp, postOnly 0|1, price, stopPrice, leaves, cum, notional, peer] + optional coid
 *   type 15 import-end    [instrument]
 *   type 16 import-abort  [instrument]
 *   type 17 import-orders [instrument] + rows, each fromOrderId, owner, side, kind, tif, stp,
 *                         postOnly 0|1, price, stopPrice, leaves, cum, notional, peer, coid
 *                         length (0 for none) and its character codes: a MOVE_ORDERS frame's
 *                         rows as they came (src/protocol/move.ts); each row takes the engine's
 *                         next imported-order id. Up to VALUE_BYTES_MAX integers of rows.
 *   type 19 claim         [instrument, seq (its own)]: the instrument's moves here are the claimer's
 *   type 39 claim         [instrument, seq, claim replaced (0: none)]: the same, over the claim it
 *                         names, refused unless that is the latest (a compare-and-swap)
 *   types 30-33 and 35-37 are types 10-13 and 15-17 with the claim they belong to (the seq of a
 *                         claim record) as one more field, after the others and before the shard
 *                         or rows: 30 halt [instrument, seq, claim], 31 resume [instrument, claim],
 *                         32 release [instrument, claim] + shard, 33 import-begin [instrument,
 *                         orders, lastPrice, hash high, hash low, claim] + shard, 35 import-end
 *                         [instrument, claim], 36 import-abort [instrument, claim], 37
 *                         import-orders [instrument, claim] + rows. A sequencer writes only these
 *                         and type 39.
 * (Type 14 is what a move journaled before type 17, one record a row, types 10-13 and 15-17
 * what it journaled before claims, and type 19 its claims before they named the one they
 * replace; they are still read, their steps unchecked against a claim.)
 * A shard id travels as a client order id does (its characters are a subset of theirs).
 * A client order id travels as its length followed by its character codes, one integer each:
 * the record stays an array of integers, and since every character is visible ASCII (0x21 to
 * 0x7e) each code is a one-byte positive fixint, so an id costs one byte per character plus
 * one (and two of array header once a record has more than 15 elements). Absent, nothing
 * follows the fields (never a length of 0), so every command has exactly one encoding.
 * The decoder is strict (exact arity, integers only, flags, enums and characters in range): the
 * sequencer runs it on every record before journaling it (see command.ts), so nothing reaches
 * the log that a replica would refuse.
 */
import * as crypto from "node:crypto";
import { CLIENT_ORDER_ID_LENGTH_MAX, isClientOrderId, isShardName, type Command, type OrderKind, type Side, type Stp, type Tif } from "../engine/index.js";
import { importRowInts, readImportRows } from "./move.js";
import { asNotIntegers, IntArrayReader, pack, VALUE_BYTES_MAX } from "./wire.js";

export interface SeqRecord {
  readonly seq: number;
  readonly epoch: number;
  /** Sequencer clock when the command was sequenced, µs. Carried for latency, never used to match. */
  readonly tsUs: number;
  readonly cmd: Command;
}

const HEAD_FIELDS = 5;
/** Head fields plus the longest command (import-order: 15 fields) and the longest client order id with its length. */
const RECORD_FIELDS_MAX = HEAD_FIELDS + 15 + 1 + CLIENT_ORDER_ID_LENGTH_MAX;

/**
 * Fields after the head, by record type, and whether a text follows them: a client order id,
 * or for types 12, 13, 32 and 33 (`shard`) a shard id.
 */
type Layout = { readonly fields: number; readonly coid: "none" | "optional" | "required"; readonly shard?: true };
const UNCLAIMED_LAYOUT: Readonly<Record<number, Layout>> = {
  1: { fields: 8, coid: "optional" },
  2: { fields: 5, coid: "optional" },
  3: { fields: 8, coid: "optional" },
  4: { fields: 1, coid: "none" },
  5: { fields: 3, coid: "none" },
  6: { fields: 0, coid: "none" },
  7: { fields: 10, coid: "optional" },
  8: { fields: 0, coid: "required" },
  9: { fields: 2, coid: "required" },
  10: { fields: 2, coid: "none" },
  11: { fields: 1, coid: "none" },
  12: { fields: 1, coid: "required", shard: true },
  13: { fields: 5, coid: "required", shard: true },
  14: { fields: 15, coid: "optional" },
  15: { fields: 1, coid: "none" },
  16: { fields: 1, coid: "none" },
  19: { fields: 2, coid: "none" },
  20: { fields: 1, coid: "required" },
  21: { fields: 3, coid: "required" },
};
/** A claimed step's record type is its unclaimed type plus this (see above). */
const CLAIMED = 20;
/** The move steps with a claimed form (import-orders, 17 and 37, is read on its own); each has one field more, the claim. */
const CLAIMABLE = [10, 11, 12, 13, 15, 16, 19] as const;
/** The claim record that names the claim it replaces: 0 there means none (every other step names a claim's seq). */
const CLAIM_CLAIMED = 19 + CLAIMED;
const LAYOUT: Readonly<Record<number, Layout>> = {
  ...UNCLAIMED_LAYOUT,
  ...Object.fromEntries(CLAIMABLE.map((t) => [t + CLAIMED, { ...UNCLAIMED_LAYOUT[t]!, fields: UNCLAIMED_LAYOUT[t]!.fields + 1 }])),
};

const TWO_32 = 0x1_0000_0000;
/** A book hash (16 hex digits) as two unsigned 32-bit integers, and back. */
const hashHalves = (h: string): [number, number] => [parseInt(h.slice(0, 8), 16), parseInt(h.slice(8), 16)];
const hashOf = (hi: number, lo: number): string => hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");

/** The record's bytes do not decode to a sequenced command. */
export class RecordError extends Error {}

/** [length, code, code, …], or nothing without an id. */
function coidInts(coid: string | undefined): number[] {
  if (coid === undefined) return [];
  const out = [coid.length];
  for (let i = 0; i < coid.length; i++) out.push(coid.charCodeAt(i));
  return out;
}

/** The record types of import-orders: the head, the instrument (and for 37 the claim), then its rows' integers (src/protocol/move.ts). */
const IMPORT_ORDERS = 17;
const IMPORT_ORDERS_CLAIMED = IMPORT_ORDERS + CLAIMED;

/** A move step's type and fields, with its claim (before the shard id, if any) when it has one. */
function claimed(type: number, fields: number[], claim: number | undefined, text: number[] = []): [number, number[]] {
  if (claim === undefined) return [type, [...fields, ...text]];
  return [type + CLAIMED, [...fields, claim, ...text]];
}

function fieldsOf(c: Command): [type: number, fields: number[]] {
  switch (c.type) {
    case "limit":
      return [1, [c.instrument, c.orderId, c.side, c.price, c.qty, c.tif ?? 0, c.postOnly === true ? 1 : 0, c.stp ?? 0, ...coidInts(c.clientOrderId)]];
    case "market":
      return [2, [c.instrument, c.orderId, c.side, c.qty, c.stp ?? 0, ...coidInts(c.clientOrderId)]];
    case "stop":
      return [3, [c.instrument, c.orderId, c.side, c.stopPrice, c.price ?? 0, c.qty, c.tif ?? 0, c.stp ?? 0, ...coidInts(c.clientOrderId)]];
    case "cancel":
      if (c.clientOrderId === undefined) return [4, [c.orderId!]];
      return c.instrument === undefined ? [8, coidInts(c.clientOrderId)] : [20, [c.instrument, ...coidInts(c.clientOrderId)]];
    case "modify":
      if (c.clientOrderId === undefined) return [5, [c.orderId!, c.price, c.qty]];
      return c.instrument === undefined ? [9, [c.price, c.qty, ...coidInts(c.clientOrderId)]] : [21, [c.instrument, c.price, c.qty, ...coidInts(c.clientOrderId)]];
    case "cancel-all":
      return [6, []];
    case "oco":
      return [7, [
        c.instrument, c.limitId, c.side, c.qty, c.price, c.postOnly === true ? 1 : 0, c.stopId, c.stopPrice, c.stopLimitPrice ?? 0, c.stp ?? 0,
        ...coidInts(c.clientOrderId),
      ]];
    case "claim":
      return claimed(19, [c.instrument, c.seq], c.claim);
    case "halt":
      return claimed(10, [c.instrument, c.seq], c.claim);
    case "resume":
      return claimed(11, [c.instrument], c.claim);
    case "release":
      return claimed(12, [c.instrument], c.claim, coidInts(c.toShard));
    case "import-begin":
      return claimed(13, [c.instrument, c.orders, c.lastPrice, ...hashHalves(c.bookHash)], c.claim, coidInts(c.fromShard));
    case "import-order":
      return [14, [
        c.instrument, c.orderId, c.fromOrderId, c.owner, c.side, c.kind, c.tif, c.stp, c.postOnly ? 1 : 0, c.price, c.stopPrice, c.leaves, c.cum, c.notional, c.peer,
        ...coidInts(c.clientOrderId),
      ]];
    case "import-end":
      return claimed(15, [c.instrument], c.claim);
    case "import-abort":
      return claimed(16, [c.instrument], c.claim);
    // import-orders: written by encodeRecord itself.
    default:
      throw new Error(`record: ${(c as { type: string }).type} commands are not sequenced`);
  }
}

export function encodeRecord(r: SeqRecord): Buffer {
  if (r.cmd.type === "import-orders") {
    // Hundreds of integers, pushed once into the record's array rather than spread into it.
    const all = r.cmd.claim === undefined ? [r.seq, r.epoch, r.tsUs, r.cmd.account, IMPORT_ORDERS, r.cmd.instrument]
      : [r.seq, r.epoch, r.tsUs, r.cmd.account, IMPORT_ORDERS_CLAIMED, r.cmd.instrument, r.cmd.claim];
    importRowInts(r.cmd.rows, all);
    return pack(all);
  }
  const [type, fields] = fieldsOf(r.cmd);
  return pack([r.seq, r.epoch, r.tsUs, r.cmd.account, type, ...fields]);
}

const reader = new IntArrayReader();
/** A record's fields, read in place into one reused array (no allocation per record). */
const fieldsRead: number[] = new Array<number>(RECORD_FIELDS_MAX).fill(0);
/** An import-orders record: the head, the instrument, the claim and at most VALUE_BYTES_MAX integers of rows (a frame's rows field holds no more bytes). */
const IMPORT_RECORD_FIELDS_MAX = HEAD_FIELDS + 2 + VALUE_BYTES_MAX;

function inRange(what: string, x: number, min: number, max: number): number {
  if (x < min || x > max) throw new RecordError(`record: ${what} ${x} is outside ${min}..${max}`);
  return x;
}

/**
 * Decodes a record; anything that is not exactly a record of ours throws RecordError. It reads
 * the integers in place (no intermediate arrays): it runs for every record on every replica,
 * and once more in the sequencer's seal.
 */
export function decodeRecord(bytes: Uint8Array): SeqRecord {
  try {
    return readRecord(bytes);
  } catch (err) {
    const bad = asNotIntegers(err);
    if (bad !== null) throw new RecordError(`record: not a sequenced command (${bad.message})`);
    throw err;
  }
}

function readRecord(bytes: Uint8Array): SeqRecord {
  const r = reader;
  const n = r.open(bytes);
  if (n < HEAD_FIELDS || n > IMPORT_RECORD_FIELDS_MAX) throw new RecordError(`record: ${n} fields, a record has ${HEAD_FIELDS} to ${RECORD_FIELDS_MAX} (an import-orders record up to ${IMPORT_RECORD_FIELDS_MAX})`);
  const seq = inRange("seq", r.int(), 1, Number.MAX_SAFE_INTEGER);
  const epoch = r.int();
  const tsUs = r.int();
  const account = r.int();
  const type = r.int();
  if (epoch < 0 || tsUs < 0 || account < 0) throw new RecordError("record: epoch, time and account are never negative");
  if (type === IMPORT_ORDERS || type === IMPORT_ORDERS_CLAIMED) return { seq, epoch, tsUs, cmd: importOrdersFrom(type, account, n - HEAD_FIELDS) };
  if (n > RECORD_FIELDS_MAX) throw new RecordError(`record: ${n} fields, a record of type ${type} has at most ${RECORD_FIELDS_MAX}`);
  const layout = LAYOUT[type];
  if (layout === undefined) throw new RecordError(`record: unknown command type ${type}`);
  if (n < HEAD_FIELDS + layout.fields) throw new RecordError(`record: type ${type} has ${layout.fields} fields, not ${n - HEAD_FIELDS}`);
  for (let k = 0; k < layout.fields; k++) fieldsRead[k] = r.int();
  const coid = readCoid(type, n - HEAD_FIELDS - layout.fields);
  if (((type >= 10 && type <= 19) || type >= 30) && account !== 0) throw new RecordError(`record: type ${type} is the operator's (account 0), not account ${account}'s`);
  r.end();
  return { seq, epoch, tsUs, cmd: commandFrom(type, account, fieldsRead, coid) };
}

/** An import-orders record's command (type 17, or 37 with its claim), from its `rest` integers after the head. */
function importOrdersFrom(type: number, account: number, rest: number): Command {
  if (account !== 0) throw new RecordError(`record: type ${type} is the operator's (account 0), not account ${account}'s`);
  const before = type === IMPORT_ORDERS ? 1 : 2;
  if (rest < before + 1) throw new RecordError(`record: type ${type} has an instrument${before === 2 ? ", a claim" : ""} and at least one row`);
  const instrument = reader.int();
  const claim = before === 2 ? inRange("claim", reader.int(), 1, Number.MAX_SAFE_INTEGER) : undefined;
  const rows = readImportRows(reader, rest - before);
  if (typeof rows === "string") throw new RecordError(`record: ${rows}`);
  reader.end();
  return claim === undefined ? { type: "import-orders", account, instrument, rows } : { type: "import-orders", account, instrument, rows, claim };
}

/** The client order id after a record's fields (`rest` integers): undefined when nothing follows them. */
function readCoid(type: number, rest: number): string | undefined {
  const layout = LAYOUT[type]!;
  if (rest === 0) {
    if (layout.coid === "required") throw new RecordError(`record: type ${type} needs a client order id`);
    return undefined;
  }
  if (layout.coid === "none") throw new RecordError(`record: type ${type} has ${layout.fields} fields, not ${layout.fields + rest}`);
  const n = inRange("client order id length", reader.int(), 1, CLIENT_ORDER_ID_LENGTH_MAX);
  if (rest !== 1 + n) throw new RecordError(`record: a client order id of ${n} characters, followed by ${rest - 1} values`);
  let coid = "";
  for (let k = 0; k < n; k++) coid += String.fromCharCode(inRange("client order id character", reader.int(), 0, 0xffff));
  if (!isClientOrderId(coid)) throw new RecordError("record: a client order id has a character outside 0x21..0x7e");
  if (layout.shard === true && !isShardName(coid)) throw new RecordError("record: a shard id is 1-32 ASCII letters, digits, '_' or '-'");
  return coid;
}

function commandFrom(type: number, account: number, f: readonly number[], coid: string | undefined): Command {
  const side = (i: number): Side => inRange("side", f[i]!, 0, 1) as Side;
  const tif = (i: number): Tif => inRange("tif", f[i]!, 0, 2) as Tif;
  const stp = (i: number): Stp => inRange("stp", f[i]!, 0, 3) as Stp;
  const flag = (what: string, i: number): boolean => inRange(what, f[i]!, 0, 1) === 1;
  if (type >= 10 + CLAIMED) {
    const claim = inRange("claim", f[LAYOUT[type - CLAIMED]!.fields]!, type === CLAIM_CLAIMED ? 0 : 1, Number.MAX_SAFE_INTEGER);
    return { ...commandFrom(type - CLAIMED, account, f, coid), claim } as Command;
  }
  // The key is absent, not undefined, without an id: the sealing comparison counts keys.
  const named = coid === undefined ? {} : { clientOrderId: coid };
  switch (type) {
    case 1:
      return { type: "limit", account, instrument: f[0]!, orderId: f[1]!, side: side(2), price: f[3]!, qty: f[4]!, tif: tif(5), postOnly: flag("postOnly", 6), stp: stp(7), ...named };
    case 2:
      return { type: "market", account, instrument: f[0]!, orderId: f[1]!, side: side(2), qty: f[3]!, stp: stp(4), ...named };
    case 3:
      return { type: "stop", account, instrument: f[0]!, orderId: f[1]!, side: side(2), stopPrice: f[3]!, price: f[4]!, qty: f[5]!, tif: tif(6), stp: stp(7), ...named };
    case 4:
      return { type: "cancel", account, orderId: f[0]! };
    case 5:
      return { type: "modify", account, orderId: f[0]!, price: f[1]!, qty: f[2]! };
    case 6:
      return { type: "cancel-all", account };
    case 7:
      return {
        type: "oco", account, instrument: f[0]!, limitId: f[1]!, side: side(2), qty: f[3]!, price: f[4]!, postOnly: flag("postOnly", 5),
        stopId: f[6]!, stopPrice: f[7]!, stopLimitPrice: f[8]!, stp: stp(9), ...named,
      };
    case 8:
      return { type: "cancel", account, clientOrderId: coid! };
    case 19:
      return { type: "claim", account, instrument: f[0]!, seq: f[1]! };
    case 10:
      return { type: "halt", account, instrument: f[0]!, seq: f[1]! };
    case 11:
      return { type: "resume", account, instrument: f[0]! };
    case 12:
      return { type: "release", account, instrument: f[0]!, toShard: coid! };
    case 13:
      return {
        type: "import-begin", account, instrument: f[0]!, orders: f[1]!, lastPrice: f[2]!,
        bookHash: hashOf(inRange("book hash high half", f[3]!, 0, TWO_32 - 1), inRange("book hash low half", f[4]!, 0, TWO_32 - 1)), fromShard: coid!,
      };
    case 14:
      return {
        type: "import-order", account, instrument: f[0]!, orderId: f[1]!, fromOrderId: f[2]!, owner: f[3]!, side: side(4), kind: inRange("kind", f[5]!, 0, 3) as OrderKind,
        tif: tif(6), stp: stp(7), postOnly: flag("postOnly", 8), price: f[9]!, stopPrice: f[10]!, leaves: f[11]!, cum: f[12]!, notional: f[13]!, peer: f[14]!, ...named,
      };
    case 15:
      return { type: "import-end", account, instrument: f[0]! };
    case 16:
      return { type: "import-abort", account, instrument: f[0]! };
    case 9:
      return { type: "modify", account, price: f[0]!, qty: f[1]!, clientOrderId: coid! };
    case 20:
      return { type: "cancel", account, instrument: f[0]!, clientOrderId: coid! };
    case 21:
      return { type: "modify", account, instrument: f[0]!, price: f[1]!, qty: f[2]!, clientOrderId: coid! };
    default:
      throw new RecordError(`record: unknown command type ${type}`);
  }
}

// ---- the hash chain ---------------------------------------------------------------------
// chain(0) is CHAIN_BYTES zero bytes; chain(n) is the first CHAIN_BYTES of
// SHA-256(chain(n − 1) ‖ record n's bytes). The journal stores it beside each record, the
// publisher sends it with each batch, the subscriber checks it. About 1.3 µs per record here.

export const CHAIN_BYTES = 16;
export const GENESIS_CHAIN: Buffer = Buffer.alloc(CHAIN_BYTES);

/** Node ≥ 20.12 has the one-shot crypto.hash, ~20 % cheaper per record than a Hash object. */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: "buffer") => Buffer }).hash;

/** Where chain ‖ record is laid out for hashing, reused: no allocation per record. Grows for a larger record. */
let scratch = Buffer.allocUnsafeSlow(1024);

export function chainNext(prev: Uint8Array, payload: Uint8Array): Buffer {
  if (oneShot !== undefined) {
    const n = prev.length + payload.length;
    if (n > scratch.length) scratch = Buffer.allocUnsafeSlow(2 * n);
    scratch.set(prev, 0);
    scratch.set(payload, prev.length);
    return oneShot("sha256", scratch.subarray(0, n), "buffer").subarray(0, CHAIN_BYTES);
  }
  return crypto.createHash("sha256").update(prev).update(payload).digest().subarray(0, CHAIN_BYTES);
}
