/**
 * Wire → command: the typed engine command a validated client message asks for, and the record
 * the sequencer journals for it. `sealRecord` is the gate's paired assertion: it encodes the
 * record, decodes it with the replicas' own decoder and compares the result with what was
 * meant, so a record that a replica would refuse, or read differently, never reaches the log.
 */
import { IMPORTED_ID_BASE, Stp, Tif, type Command, type ImportRow, type InstrumentConfig } from "../engine/index.js";
import { MsgType, OrdType, type CancelOrder, type KillSwitch, type ModifyOrder, type NewOrder } from "./messages.js";
import { decodeRecord, encodeRecord, type SeqRecord } from "./record.js";

export type { Command, InstrumentConfig };

/** A trading client's messages that are sequenced; the operator's move messages are src/protocol/move.ts's. */
export type SequencedMessage = NewOrder | CancelOrder | ModifyOrder | KillSwitch;

/**
 * An OCO takes one sequence number but needs two order ids: the limit leg has the command's
 * seq, like any new order, and the stop leg that plus 2^52. Sequence numbers stay below 2^45
 * (SEQ_MAX), so the two never meet and both are safe.
 */
export const OCO_STOP_LEG_ID_OFFSET = 2 ** 52;

/** The last seq a shard sequences: a new order takes its seq as its id, and ids from the engine's IMPORTED_ID_BASE on are imported orders'. */
export const SEQ_MAX = IMPORTED_ID_BASE - 1;

/** The order ids a NEW sequenced as `seq` creates: [limit or only order, OCO stop leg or 0]. */
export function orderIdsOf(m: NewOrder, seq: number): [number, number] {
  return [seq, m.ord === OrdType.OCO ? seq + OCO_STOP_LEG_ID_OFFSET : 0];
}

/** Every optional field is filled in (and a client order id's key left out without one), so the record decodes to exactly this object. */
export function commandOf(m: SequencedMessage, orderId: number, account: number): Command {
  if (m.t === MsgType.KILL) return { type: "cancel-all", account };
  if (m.t === MsgType.CANCEL || m.t === MsgType.MODIFY) {
    const target = m.coid === undefined ? { orderId: m.oid! } : m.inst === undefined ? { clientOrderId: m.coid } : { clientOrderId: m.coid, instrument: m.inst };
    if (m.t === MsgType.CANCEL) return { type: "cancel", ...target, account };
    return { type: "modify", ...target, account, price: m.px, qty: m.qty };
  }
  const named = m.coid === undefined ? {} : { clientOrderId: m.coid };
  const stp = (m.stp ?? Stp.NONE) as Stp;
  const side = m.side as 0 | 1;
  if (m.ord === OrdType.OCO) {
    const [limitId, stopId] = orderIdsOf(m, orderId);
    return {
      type: "oco", instrument: m.inst, account, side, qty: m.qty, limitId, price: m.px!, postOnly: m.po ?? false,
      stopId, stopPrice: m.spx!, stopLimitPrice: m.slpx ?? 0, stp, ...named,
    };
  }
  const common = { instrument: m.inst, orderId, account, side, qty: m.qty, stp, ...named };
  if (m.ord === OrdType.MARKET) return { type: "market", ...common };
  if (m.ord === OrdType.STOP) return { type: "stop", ...common, stopPrice: m.spx!, price: m.px ?? 0, tif: (m.tif ?? Tif.GTC) as Tif };
  return { type: "limit", ...common, price: m.px!, tif: (m.tif ?? Tif.GTC) as Tif, postOnly: m.po ?? false };
}

/** The same keys with the same values (import-orders' rows: sameRows). */
function sameFields(a: Command, b: Command): boolean {
  if (a.type === "import-orders") return b.type === "import-orders" && a.instrument === b.instrument && a.account === b.account && a.claim === b.claim && sameRows(a.rows, b.rows);
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => x[k] === y[k]);
}

/** Every field of an import row; the type below fails to compile if ImportRow gains one not listed. */
const ROW_KEYS = ["fromOrderId", "owner", "side", "kind", "tif", "stp", "postOnly", "price", "stopPrice", "leaves", "cum", "notional", "peer", "clientOrderId"] as const;
const rowKeysComplete: Exclude<keyof ImportRow, (typeof ROW_KEYS)[number]> extends never ? true : never = true;

/** Row by row, field by field, in one loop (a frame's record holds dozens of rows; no closure or key list per row). */
function sameRows(a: readonly ImportRow[], b: readonly ImportRow[]): boolean {
  if (a.length !== b.length || !rowKeysComplete) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    for (const k of ROW_KEYS) if (x[k] !== y[k]) return false;
  }
  return true;
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
