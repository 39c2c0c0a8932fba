/**
 * A sequenced command: what the sequencer journals and replicates, and all a replica's engine
 * needs. Encoded as a MessagePack array of integers (each of the smallest fitting integer
 * width, never a float) so the journal stores, and the hash chain covers, exactly the bytes
 * every replica decodes:
 *   [seq, epoch, tsUs, account, type, ...fields]
 *   type 1 limit  [instrument, orderId, side, price, qty, tif, postOnly 0|1, stp]
 *   type 2 market [instrument, orderId, side, qty, stp]
 *   type 3 stop   [instrument, orderId, side, stopPrice, price (0 = market), qty, tif, stp]
 *   type 4 cancel [orderId]
 *   type 5 modify [orderId, price, qty]
 *   type 6 cancel-all (the account's kill switch) []
 * The decoder is strict (exact arity, integers only, flags and enums in range): the sequencer
 * runs it on every record before journaling it (see command.ts), so nothing reaches the log
 * that a replica would refuse.
 */
import * as crypto from "node:crypto";
import type { Command, Side, Stp, Tif } from "../engine/index.js";
import { IntArrayReader, NotIntegers, pack } from "./wire.js";

export interface SeqRecord {
  readonly seq: number;
  readonly epoch: number;
  /** Sequencer clock when the command was sequenced, µs. Carried for latency, never used to match. */
  readonly tsUs: number;
  readonly cmd: Command;
}

/** Head fields plus the longest command (stop: 8 fields). */
const RECORD_FIELDS_MAX = 13;
const HEAD_FIELDS = 5;
/** Fields after the head, by record type. */
const ARITY: Readonly<Record<number, number>> = { 1: 8, 2: 5, 3: 8, 4: 1, 5: 3, 6: 0 };

/** The record's bytes do not decode to a sequenced command. */
export class RecordError extends Error {}

export function encodeRecord(r: SeqRecord): Buffer {
  const c = r.cmd;
  switch (c.type) {
    case "limit":
      return pack([r.seq, r.epoch, r.tsUs, c.account, 1, c.instrument, c.orderId, c.side, c.price, c.qty, c.tif ?? 0, c.postOnly === true ? 1 : 0, c.stp ?? 0]);
    case "market":
      return pack([r.seq, r.epoch, r.tsUs, c.account, 2, c.instrument, c.orderId, c.side, c.qty, c.stp ?? 0]);
    case "stop":
      return pack([r.seq, r.epoch, r.tsUs, c.account, 3, c.instrument, c.orderId, c.side, c.stopPrice, c.price ?? 0, c.qty, c.tif ?? 0, c.stp ?? 0]);
    case "cancel":
      return pack([r.seq, r.epoch, r.tsUs, c.account, 4, c.orderId]);
    case "modify":
      return pack([r.seq, r.epoch, r.tsUs, c.account, 5, c.orderId, c.price, c.qty]);
    case "cancel-all":
      return pack([r.seq, r.epoch, r.tsUs, c.account, 6]);
    default:
      throw new Error(`record: ${c.type} commands are not sequenced`);
  }
}

const reader = new IntArrayReader();

function inRange(what: string, x: number, min: number, max: number): number {
  if (x < min || x > max) throw new RecordError(`record: ${what} ${x} is outside ${min}..${max}`);
  return x;
}

/**
 * Decodes a record; anything that is not exactly a record of ours throws RecordError. It reads
 * the integers in place (no intermediate array): it runs for every record on every replica,
 * and once more in the sequencer's seal.
 */
export function decodeRecord(bytes: Uint8Array): SeqRecord {
  try {
    return readRecord(bytes);
  } catch (err) {
    if (err instanceof NotIntegers) throw new RecordError(`record: not a sequenced command (${err.message})`);
    throw err;
  }
}

function readRecord(bytes: Uint8Array): SeqRecord {
  const r = reader;
  const n = r.open(bytes);
  if (n < HEAD_FIELDS || n > RECORD_FIELDS_MAX) throw new RecordError(`record: ${n} fields, a record has ${HEAD_FIELDS} to ${RECORD_FIELDS_MAX}`);
  const seq = inRange("seq", r.int(), 1, Number.MAX_SAFE_INTEGER);
  const epoch = r.int();
  const tsUs = r.int();
  const account = r.int();
  const type = r.int();
  if (epoch < 0 || tsUs < 0 || account < 0) throw new RecordError("record: epoch, time and account are never negative");
  const arity = ARITY[type];
  if (arity === undefined) throw new RecordError(`record: unknown command type ${type}`);
  if (n - HEAD_FIELDS !== arity) throw new RecordError(`record: type ${type} has ${arity} fields, not ${n - HEAD_FIELDS}`);
  const cmd = readCommand(type, account);
  r.end();
  return { seq, epoch, tsUs, cmd };
}

function readCommand(type: number, account: number): Command {
  const r = reader;
  const side = (): Side => inRange("side", r.int(), 0, 1) as Side;
  const tif = (): Tif => inRange("tif", r.int(), 0, 2) as Tif;
  const stp = (): Stp => inRange("stp", r.int(), 0, 3) as Stp;
  switch (type) {
    case 1: {
      const instrument = r.int(), orderId = r.int(), s = side(), price = r.int(), qty = r.int(), t = tif();
      return { type: "limit", account, instrument, orderId, side: s, price, qty, tif: t, postOnly: inRange("postOnly", r.int(), 0, 1) === 1, stp: stp() };
    }
    case 2: {
      const instrument = r.int(), orderId = r.int(), s = side(), qty = r.int();
      return { type: "market", account, instrument, orderId, side: s, qty, stp: stp() };
    }
    case 3: {
      const instrument = r.int(), orderId = r.int(), s = side(), stopPrice = r.int(), price = r.int(), qty = r.int(), t = tif();
      return { type: "stop", account, instrument, orderId, side: s, stopPrice, price, qty, tif: t, stp: stp() };
    }
    case 4:
      return { type: "cancel", account, orderId: r.int() };
    case 5: {
      const orderId = r.int(), price = r.int();
      return { type: "modify", account, orderId, price, qty: r.int() };
    }
    default:
      return { type: "cancel-all", account };
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
