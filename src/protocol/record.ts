/**
 * A sequenced command: what the sequencer journals and replicates, and all a replica's engine
 * needs. Encoded as a compact MessagePack array so the journal stores, and the hash chain
 * covers, exactly the bytes every replica decodes:
 *   [seq, epoch, tsUs, account, type, ...fields]
 *   type 1 limit  [instrument, orderId, side, price, qty, tif, postOnly 0|1, stp]
 *   type 2 market [instrument, orderId, side, qty, stp]
 *   type 3 stop   [instrument, orderId, side, stopPrice, price (0 = market), qty, tif, stp]
 *   type 4 cancel [orderId]
 *   type 5 modify [orderId, price, qty]
 *   type 6 cancel-all (the account's kill switch) []
 */
import { Packr } from "msgpackr";
import type { Command, Side, Stp, Tif } from "../engine/index.js";

export interface SeqRecord {
  readonly seq: number;
  readonly epoch: number;
  /** Sequencer clock when the command was sequenced, µs. Carried for latency, never used to match. */
  readonly tsUs: number;
  readonly cmd: Command;
}

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: "number" });

export function encodeRecord(r: SeqRecord): Buffer {
  const c = r.cmd;
  const head = [r.seq, r.epoch, r.tsUs];
  switch (c.type) {
    case "limit":
      return packr.pack([...head, c.account, 1, c.instrument, c.orderId, c.side, c.price, c.qty, c.tif ?? 0, c.postOnly === true ? 1 : 0, c.stp ?? 0]);
    case "market":
      return packr.pack([...head, c.account, 2, c.instrument, c.orderId, c.side, c.qty, c.stp ?? 0]);
    case "stop":
      return packr.pack([...head, c.account, 3, c.instrument, c.orderId, c.side, c.stopPrice, c.price ?? 0, c.qty, c.tif ?? 0, c.stp ?? 0]);
    case "cancel":
      return packr.pack([...head, c.account, 4, c.orderId]);
    case "modify":
      return packr.pack([...head, c.account, 5, c.orderId, c.price, c.qty]);
    case "cancel-all":
      return packr.pack([...head, c.account, 6]);
    default:
      throw new Error(`record: ${c.type} commands are not sequenced`);
  }
}

/** Decodes a record this project wrote; anything else is corruption and throws. */
export function decodeRecord(bytes: Uint8Array): SeqRecord {
  const a = packr.unpack(bytes) as number[];
  if (!Array.isArray(a) || a.length < 5 || !a.every((x) => Number.isSafeInteger(x))) throw new Error("record: not a sequenced command");
  const [seq, epoch, tsUs, account, type] = a as [number, number, number, number, number];
  const f = a.slice(5);
  const base = { seq, epoch, tsUs };
  switch (type) {
    case 1:
      return { ...base, cmd: { type: "limit", account, instrument: f[0]!, orderId: f[1]!, side: f[2] as Side, price: f[3]!, qty: f[4]!, tif: f[5] as Tif, postOnly: f[6] === 1, stp: f[7] as Stp } };
    case 2:
      return { ...base, cmd: { type: "market", account, instrument: f[0]!, orderId: f[1]!, side: f[2] as Side, qty: f[3]!, stp: f[4] as Stp } };
    case 3:
      return { ...base, cmd: { type: "stop", account, instrument: f[0]!, orderId: f[1]!, side: f[2] as Side, stopPrice: f[3]!, price: f[4]!, qty: f[5]!, tif: f[6] as Tif, stp: f[7] as Stp } };
    case 4:
      return { ...base, cmd: { type: "cancel", account, orderId: f[0]! } };
    case 5:
      return { ...base, cmd: { type: "modify", account, orderId: f[0]!, price: f[1]!, qty: f[2]! } };
    case 6:
      return { ...base, cmd: { type: "cancel-all", account } };
    default:
      throw new Error(`record: unknown command type ${type}`);
  }
}
