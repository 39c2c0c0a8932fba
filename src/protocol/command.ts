/**
 * Wire → command: the typed engine command a validated client message asks for, and the record
 * the sequencer journals for it. `sealRecord` is the gate's paired assertion: it encodes the
 * record, decodes it with the replicas' own decoder and compares the result with what was
 * meant, so a record that a replica would refuse, or read differently, never reaches the log.
 */
import { Stp, Tif, type Command, type InstrumentConfig } from "../engine/index.js";
import { MsgType, OrdType, type CancelOrder, type KillSwitch, type ModifyOrder, type NewOrder } from "./messages.js";
import { decodeRecord, encodeRecord, type SeqRecord } from "./record.js";

export type { Command, InstrumentConfig };

export type SequencedMessage = NewOrder | CancelOrder | ModifyOrder | KillSwitch;

/** Every optional field is filled in, so the record decodes to exactly this object. */
export function commandOf(m: SequencedMessage, orderId: number, account: number): Command {
  if (m.t === MsgType.CANCEL) return { type: "cancel", orderId: m.oid, account };
  if (m.t === MsgType.MODIFY) return { type: "modify", orderId: m.oid, account, price: m.px, qty: m.qty };
  if (m.t === MsgType.KILL) return { type: "cancel-all", account };
  const common = { instrument: m.inst, orderId, account, side: m.side as 0 | 1, qty: m.qty, stp: (m.stp ?? Stp.NONE) as Stp };
  if (m.ord === OrdType.MARKET) return { type: "market", ...common };
  if (m.ord === OrdType.STOP) return { type: "stop", ...common, stopPrice: m.spx!, price: m.px ?? 0, tif: (m.tif ?? Tif.GTC) as Tif };
  return { type: "limit", ...common, price: m.px!, tif: (m.tif ?? Tif.GTC) as Tif, postOnly: m.po ?? false };
}

function sameFields(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => x[k] === y[k]);
}

/**
 * The record's bytes, or null when they would not decode back to `r` (a bug in the encoder or
 * in what the gate let through: the caller refuses the frame, nothing is journaled).
 */
export function sealRecord(r: SeqRecord): Buffer | null {
  let bytes: Buffer;
  let back: SeqRecord;
  try {
    bytes = encodeRecord(r);
    back = decodeRecord(bytes);
  } catch {
    return null;
  }
  const same = back.seq === r.seq && back.epoch === r.epoch && back.tsUs === r.tsUs && sameFields(back.cmd, r.cmd);
  return same ? bytes : null;
}
