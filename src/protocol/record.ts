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
 * A client order id travels as its length followed by its character codes, one integer each:
 * the record stays an array of integers, and since every character is visible ASCII (0x21 to
 * 0x7e) each code is a one-byte positive fixint, so an id costs one byte per character plus
 * one (and two of array header once a record has more than 15 elements). Absent, nothing
 * follows the fields (never a length of 0), so every command has exactly one encoding.
 * The decoder is strict (exact arity, integers only, flags, enums and characters in range): the
 * sequencer runs it on every record before journaling it (see command.ts), so nothing reaches
 * the log that a replica would refuse.
 */
import { CLIENT_ORDER_ID_LENGTH_MAX, isClientOrderId, type Command, type Side, type Stp, type Tif } from "../engine/index.js";
import { NotIntegers, pack, unpackInts } from "./wire.js";

export interface SeqRecord {
  readonly seq: number;
  readonly epoch: number;
  /** Sequencer clock when the command was sequenced, µs. Carried for latency, never used to match. */
  readonly tsUs: number;
  readonly cmd: Command;
}

const HEAD_FIELDS = 5;
/** Head fields plus the longest command (oco: 10 fields) and the longest client order id with its length. */
const RECORD_FIELDS_MAX = HEAD_FIELDS + 10 + 1 + CLIENT_ORDER_ID_LENGTH_MAX;

/** Fields after the head, by record type, and whether a client order id follows them. */
const LAYOUT: Readonly<Record<number, { readonly fields: number; readonly coid: "none" | "optional" | "required" }>> = {
  1: { fields: 8, coid: "optional" },
  2: { fields: 5, coid: "optional" },
  3: { fields: 8, coid: "optional" },
  4: { fields: 1, coid: "none" },
  5: { fields: 3, coid: "none" },
  6: { fields: 0, coid: "none" },
  7: { fields: 10, coid: "optional" },
  8: { fields: 0, coid: "required" },
  9: { fields: 2, coid: "required" },
};

/** The record's bytes do not decode to a sequenced command. */
export class RecordError extends Error {}

/** [length, code, code, …], or nothing without an id. */
function coidInts(coid: string | undefined): number[] {
  if (coid === undefined) return [];
  const out = [coid.length];
  for (let i = 0; i < coid.length; i++) out.push(coid.charCodeAt(i));
  return out;
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
      return c.clientOrderId === undefined ? [4, [c.orderId!]] : [8, coidInts(c.clientOrderId)];
    case "modify":
      return c.clientOrderId === undefined ? [5, [c.orderId!, c.price, c.qty]] : [9, [c.price, c.qty, ...coidInts(c.clientOrderId)]];
    case "cancel-all":
      return [6, []];
    case "oco":
      return [7, [
        c.instrument, c.limitId, c.side, c.qty, c.price, c.postOnly === true ? 1 : 0, c.stopId, c.stopPrice, c.stopLimitPrice ?? 0, c.stp ?? 0,
        ...coidInts(c.clientOrderId),
      ]];
    default:
      throw new Error(`record: ${(c as { type: string }).type} commands are not sequenced`);
  }
}

export function encodeRecord(r: SeqRecord): Buffer {
  const [type, fields] = fieldsOf(r.cmd);
  return pack([r.seq, r.epoch, r.tsUs, r.cmd.account, type, ...fields]);
}

function ints(bytes: Uint8Array): number[] {
  try {
    return unpackInts(bytes, RECORD_FIELDS_MAX);
  } catch (err) {
    if (err instanceof NotIntegers) throw new RecordError(`record: not a sequenced command (${err.message})`);
    throw err;
  }
}

function inRange(what: string, x: number, min: number, max: number): number {
  if (x < min || x > max) throw new RecordError(`record: ${what} ${x} is outside ${min}..${max}`);
  return x;
}

/** The client order id after a record's fields: undefined when nothing follows them. */
function coidOf(type: number, rest: readonly number[]): string | undefined {
  const mode = LAYOUT[type]!.coid;
  if (rest.length === 0) {
    if (mode === "required") throw new RecordError(`record: type ${type} needs a client order id`);
    return undefined;
  }
  if (mode === "none") throw new RecordError(`record: type ${type} has ${LAYOUT[type]!.fields} fields, not ${LAYOUT[type]!.fields + rest.length}`);
  const n = inRange("client order id length", rest[0]!, 1, CLIENT_ORDER_ID_LENGTH_MAX);
  if (rest.length !== 1 + n) throw new RecordError(`record: a client order id of ${n} characters, followed by ${rest.length - 1} values`);
  const coid = String.fromCharCode(...rest.slice(1));
  if (!isClientOrderId(coid)) throw new RecordError("record: a client order id has a character outside 0x21..0x7e");
  return coid;
}

/** Decodes a record; anything that is not exactly a record of ours throws RecordError. */
export function decodeRecord(bytes: Uint8Array): SeqRecord {
  const a = ints(bytes);
  if (a.length < HEAD_FIELDS) throw new RecordError(`record: ${a.length} fields, a record has at least ${HEAD_FIELDS}`);
  const [seq, epoch, tsUs, account, type] = a as [number, number, number, number, number];
  const layout = LAYOUT[type];
  if (layout === undefined) throw new RecordError(`record: unknown command type ${type}`);
  if (a.length < HEAD_FIELDS + layout.fields) throw new RecordError(`record: type ${type} has ${layout.fields} fields, not ${a.length - HEAD_FIELDS}`);
  const f = a.slice(HEAD_FIELDS, HEAD_FIELDS + layout.fields);
  const coid = coidOf(type, a.slice(HEAD_FIELDS + layout.fields));
  inRange("seq", seq, 1, Number.MAX_SAFE_INTEGER);
  if (epoch < 0 || tsUs < 0 || account < 0) throw new RecordError("record: epoch, time and account are never negative");
  const base = { seq, epoch, tsUs };
  const side = (i: number): Side => inRange("side", f[i]!, 0, 1) as Side;
  const tif = (i: number): Tif => inRange("tif", f[i]!, 0, 2) as Tif;
  const stp = (i: number): Stp => inRange("stp", f[i]!, 0, 3) as Stp;
  const flag = (what: string, i: number): boolean => inRange(what, f[i]!, 0, 1) === 1;
  // The key is absent, not undefined, without an id: the sealing comparison counts keys.
  const named = coid === undefined ? {} : { clientOrderId: coid };
  switch (type) {
    case 1:
      return { ...base, cmd: { type: "limit", account, instrument: f[0]!, orderId: f[1]!, side: side(2), price: f[3]!, qty: f[4]!, tif: tif(5), postOnly: flag("postOnly", 6), stp: stp(7), ...named } };
    case 2:
      return { ...base, cmd: { type: "market", account, instrument: f[0]!, orderId: f[1]!, side: side(2), qty: f[3]!, stp: stp(4), ...named } };
    case 3:
      return { ...base, cmd: { type: "stop", account, instrument: f[0]!, orderId: f[1]!, side: side(2), stopPrice: f[3]!, price: f[4]!, qty: f[5]!, tif: tif(6), stp: stp(7), ...named } };
    case 4:
      return { ...base, cmd: { type: "cancel", account, orderId: f[0]! } };
    case 5:
      return { ...base, cmd: { type: "modify", account, orderId: f[0]!, price: f[1]!, qty: f[2]! } };
    case 6:
      return { ...base, cmd: { type: "cancel-all", account } };
    case 7:
      return {
        ...base,
        cmd: {
          type: "oco", account, instrument: f[0]!, limitId: f[1]!, side: side(2), qty: f[3]!, price: f[4]!, postOnly: flag("postOnly", 5),
          stopId: f[6]!, stopPrice: f[7]!, stopLimitPrice: f[8]!, stp: stp(9), ...named,
        },
      };
    case 8:
      return { ...base, cmd: { type: "cancel", account, clientOrderId: coid! } };
    default:
      return { ...base, cmd: { type: "modify", account, price: f[0]!, qty: f[1]!, clientOrderId: coid! } };
  }
}
