/**
 * Every message on the wire, as a named type with its numeric tag. Frames are binary
 * WebSocket messages holding one MessagePack map; every map has `v` (protocol version) and
 * `t` (type). docs/protocol.md specifies each field, unit and code.
 */

import type { InstrumentRef } from "./reference.js";

export const PROTOCOL_VERSION = 1;

export const MsgType = {
  // trading client ↔ sequencer (/trade)
  HELLO: 1,
  HELLO_OK: 2,
  NEW: 10,
  CANCEL: 11,
  MODIFY: 12,
  KILL: 13,
  ACK: 20,
  REJECT: 21,
  // replica ↔ sequencer (/replicate)
  SUBSCRIBE: 30,
  BATCH: 31,
  STATUS: 32,
  ERROR: 33,
  PING: 34,
  PONG: 35,
  // market-data and report clients ↔ replica (/feed)
  SUB_BOOK: 40,
  BOOK_SNAPSHOT: 41,
  BOOK_UPDATE: 42,
  SUB_REPORTS: 43,
  REPORT: 44,
  TRADE: 45,
  /** Reference data: a request with no fields, answered by one INSTRUMENTS listing every instrument. */
  INSTRUMENTS: 46,
  // operator ↔ sequencer (/trade, the configured operator account only): moving an instrument (docs/scaling.md)
  MOVE_HALT: 50,
  MOVE_RESUME: 51,
  MOVE_RELEASE: 52,
  MOVE_BEGIN: 53,
  MOVE_ORDERS: 54,
  MOVE_END: 55,
  MOVE_ABORT: 56,
  /** The first step of every move run, on each shard it touches: its ACK's seq is the claim (`mc`) the run's other steps there carry. */
  MOVE_CLAIM: 57,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

/** Order kinds on the wire (NEW.ord). A stop with `px` is a stop-limit, without it a stop-market. */
export const OrdType = { LIMIT: 0, MARKET: 1, STOP: 2, OCO: 3 } as const;
export type OrdType = (typeof OrdType)[keyof typeof OrdType];

/**
 * Reject codes for frames refused before sequencing. Engine reason codes (1–99, see
 * docs/engine.md) reach clients in REPORT messages; these start at 100 so the two never clash.
 */
export const WireReason = {
  MALFORMED: 100,
  UNKNOWN_TYPE: 101,
  BAD_VERSION: 102,
  MISSING_FIELD: 103,
  OUT_OF_RANGE: 104,
  FRAME_TOO_LARGE: 105,
  UNKNOWN_INSTRUMENT: 106,
  NOT_LOGGED_IN: 107,
  ALREADY_LOGGED_IN: 108,
  OVERLOADED: 109,
  UNKNOWN_FIELD: 110,
  NOT_AUTHENTICATED: 111,
  RATE_LIMITED: 112,
  NOT_LEADER: 113,
  /** The node could not turn the frame into a record its replicas decode to the same command (a bug); nothing was sequenced. */
  INTERNAL: 114,
  /** A follower claimed progress beyond what it was sent, or spoke before subscribing. */
  NOT_SUBSCRIBED: 115,
  /** The follower's hash chain at the seq it asked to start from differs from the sequencer's: the logs have forked. */
  FORKED: 116,
  /** A field this message type has, but not in this combination: one the order type does not take, or both `oid` and `coid`. */
  FIELD_NOT_APPLICABLE: 117,
  /** The sequencer's journal cannot be written (disk full, I/O error): nothing new is sequenced until it can. */
  STORAGE_UNAVAILABLE: 118,
  /** HTTP: no resource at this method and path (the REST paths are in docs/protocol.md). */
  NOT_FOUND: 119,
  /** A command that only the operator account may send (moving an instrument), from another account or with none configured. */
  NOT_OPERATOR: 120,
  // 130 and up: refusals of a gateway (lockstep gateway), apart from the nodes' codes.
  /** Gateway: the shard that holds the instrument or order has no leader this gateway could log in to now; nothing was sent. */
  SHARD_UNAVAILABLE: 130,
  /** Gateway: it cannot tell which shard the command is for (an order id naming no shard of the map, a client order id it does not remember); nothing was sent. */
  UNROUTABLE: 131,
} as const;
export type WireReason = (typeof WireReason)[keyof typeof WireReason];

export const WIRE_REASON_NAME: Readonly<Record<WireReason, string>> = {
  100: "MALFORMED",
  101: "UNKNOWN_TYPE",
  102: "BAD_VERSION",
  103: "MISSING_FIELD",
  104: "OUT_OF_RANGE",
  105: "FRAME_TOO_LARGE",
  106: "UNKNOWN_INSTRUMENT",
  107: "NOT_LOGGED_IN",
  108: "ALREADY_LOGGED_IN",
  109: "OVERLOADED",
  110: "UNKNOWN_FIELD",
  111: "NOT_AUTHENTICATED",
  112: "RATE_LIMITED",
  113: "NOT_LEADER",
  114: "INTERNAL",
  115: "NOT_SUBSCRIBED",
  116: "FORKED",
  117: "FIELD_NOT_APPLICABLE",
  118: "STORAGE_UNAVAILABLE",
  119: "NOT_FOUND",
  120: "NOT_OPERATOR",
  130: "SHARD_UNAVAILABLE",
  131: "UNROUTABLE",
};

/**
 * Why a replica stopped applying the log. A replica that meets a record it cannot apply halts
 * at that seq (it never skips one, and never crash-loops on it), keeps serving what it has, and
 * reports the halt in STATUS, /stats and metrics.
 */
export const HaltReason = {
  /** The record's bytes do not decode to a sequenced command. */
  RECORD_UNDECODABLE: 1,
  /** The engine threw while applying the record. */
  APPLY_FAILED: 2,
} as const;
export type HaltReason = (typeof HaltReason)[keyof typeof HaltReason];
export const HALT_REASON_NAME: Readonly<Record<HaltReason, string>> = { 1: "RECORD_UNDECODABLE", 2: "APPLY_FAILED" };

// ---- trading client ↔ sequencer ----------------------------------------------------------

/** Login. With authentication configured, `key`, `ts` (µs), `nonce` and `sig` (HMAC-SHA256, see docs/security.md) are required. */
export interface Hello { v: number; t: typeof MsgType.HELLO; acct: number; key?: string; ts?: number; nonce?: string; sig?: Uint8Array }
export interface HelloOk { v: number; t: typeof MsgType.HELLO_OK; acct: number; ep: number; seq: number }
/**
 * New order. `cid` is the client's own correlation id, echoed in ACK or REJECT; `coid` its own
 * order id, unique per account among live and recent orders, carried by every report. Which of
 * the optional fields an order type takes is in validate.ts (NEW_FIELDS) and docs/protocol.md.
 */
export interface NewOrder {
  v: number; t: typeof MsgType.NEW; cid: number; inst: number; side: number; ord: number;
  qty: number; px?: number; tif?: number; po?: boolean; stp?: number; spx?: number; slpx?: number; coid?: string;
}
/**
 * Names its order by `oid` or by `coid`: exactly one of them. With `coid`, `inst` (optional) is
 * the instrument the order is on: only an order there is meant, and a gateway routes by it.
 */
export interface CancelOrder { v: number; t: typeof MsgType.CANCEL; cid: number; oid?: number; coid?: string; inst?: number }
export interface ModifyOrder { v: number; t: typeof MsgType.MODIFY; cid: number; oid?: number; coid?: string; inst?: number; px: number; qty: number }
/** The kill switch: cancel every live order of this connection's account. */
export interface KillSwitch { v: number; t: typeof MsgType.KILL; cid: number }
/**
 * The command was sequenced as `seq`. For NEW, `oid` (= seq) is the order's id from now on (for
 * an OCO, the limit leg's; `oid2` is the stop leg's); for CANCEL and MODIFY the `oid` given, 0
 * when the order was named by `coid`; for KILL 0.
 */
export interface Ack { v: number; t: typeof MsgType.ACK; cid: number; seq: number; oid: number; oid2?: number; sh?: number; shards?: ShardAck[] }
/**
 * Through a gateway (docs/scaling.md#the-gateway): what one shard did with a command sent to
 * every shard (KILL). `sh` is the shard's number in the map, `id` its id; either `seq` (the
 * shard sequenced it) or `code` and `msg` (it was refused, or not sent).
 */
export interface ShardAck { sh: number; id: string; seq?: number; code?: number; msg?: string }
export interface Reject { v: number; t: typeof MsgType.REJECT; cid: number; code: number; msg: string }

/**
 * The operator's steps of a move (docs/scaling.md), each sequenced as a record of account 0.
 * `to`/`from` are shard ids; `h` a book hash (16 hex digits); `rows` a MOVE_ORDERS frame's
 * orders, packed as src/protocol/move.ts says. An ACK's `seq` is the step's seq (a MOVE_ORDERS
 * frame is one record, whose rows take the target's next imported-order ids), `oid` 0. `mc` is
 * the claim the step belongs to: the seq MOVE_CLAIM's ACK gave on that shard; a step naming
 * another than the instrument's latest claim there is sequenced and refused (MOVE_STALE).
 * MOVE_CLAIM's own `mc` is the claim it replaces (0: the instrument was never claimed there), as
 * the mover read it from a replica: a compare-and-swap, so a claim that was not made over the
 * latest one (a dead mover's, delivered late) is refused the same way and fences nobody.
 */
export interface MoveClaim { v: number; t: typeof MsgType.MOVE_CLAIM; cid: number; inst: number; mc: number }
export interface MoveHalt { v: number; t: typeof MsgType.MOVE_HALT; cid: number; inst: number; mc: number }
export interface MoveResume { v: number; t: typeof MsgType.MOVE_RESUME; cid: number; inst: number; mc: number }
export interface MoveRelease { v: number; t: typeof MsgType.MOVE_RELEASE; cid: number; inst: number; mc: number; to: string }
export interface MoveBegin { v: number; t: typeof MsgType.MOVE_BEGIN; cid: number; inst: number; mc: number; from: string; n: number; lpx: number; h: string }
export interface MoveOrders { v: number; t: typeof MsgType.MOVE_ORDERS; cid: number; inst: number; mc: number; rows: Uint8Array }
export interface MoveEnd { v: number; t: typeof MsgType.MOVE_END; cid: number; inst: number; mc: number }
export interface MoveAbort { v: number; t: typeof MsgType.MOVE_ABORT; cid: number; inst: number; mc: number }
export type MoveMessage = MoveClaim | MoveHalt | MoveResume | MoveRelease | MoveBegin | MoveOrders | MoveEnd | MoveAbort;

export type ClientToSequencer = Hello | NewOrder | CancelOrder | ModifyOrder | KillSwitch | MoveMessage;

// ---- replica ↔ sequencer -----------------------------------------------------------------

/** Replica asks for the log from `from` on; `chain` is its chain value after `from - 1`. */
/** `sb`: the subscriber is a standby sequencer (it journals the log; the leader may gate replicas and acks on it). */
export interface Subscribe { v: number; t: typeof MsgType.SUBSCRIBE; rid: string; from: number; chain: Uint8Array; sb?: boolean; key?: string; ts?: number; nonce?: string; sig?: Uint8Array }
/** Consecutive records `first`, `first + 1`, …; `chain` is the chain value after the last. */
export interface Batch { v: number; t: typeof MsgType.BATCH; ep: number; first: number; recs: Uint8Array[]; chain: Uint8Array; ts: number }
/**
 * Follower's progress (replicas: applied; standbys: durable in their journal), never beyond what
 * it was sent, and a replica's state hash at its last checkpoint seq. A halted replica adds
 * `halt` (a HaltReason) and `hseq`, the seq it could not apply.
 */
export interface Status { v: number; t: typeof MsgType.STATUS; rid: string; seq: number; ck: number; ckh: string; halt?: number; hseq?: number }
export interface ErrorMsg { v: number; t: typeof MsgType.ERROR; code: number; msg: string }
/** Clock probe: `t1` is the replica's clock when sent, µs. */
export interface Ping { v: number; t: typeof MsgType.PING; t1: number }
/** Probe reply: `t2` when the sequencer received the PING, `t3` when it replied, both on its clock, µs. */
export interface Pong { v: number; t: typeof MsgType.PONG; t1: number; t2: number; t3: number }

// ---- replica ↔ feed clients ----------------------------------------------------------------

export interface SubBook { v: number; t: typeof MsgType.SUB_BOOK; inst: number }
/** Top levels [price, qty] best first, as of `seq`; `cs` is the CRC32 checksum of the top 10. */
export interface BookSnapshot { v: number; t: typeof MsgType.BOOK_SNAPSHOT; inst: number; seq: number; bids: [number, number][]; asks: [number, number][]; cs: number }
/** Level changes made by command `seq`: [side, price, qty] (qty 0 removes); `cs` after applying them. */
export interface BookUpdate { v: number; t: typeof MsgType.BOOK_UPDATE; inst: number; seq: number; ch: [number, number, number][]; cs: number }
/** `sh`: through a gateway only, the one shard (by its number in the map) to (re)subscribe from `from`. */
export interface SubReports { v: number; t: typeof MsgType.SUB_REPORTS; acct: number; from: number; sh?: number }
/** Execution report kinds (REPORT.k). KILL_DONE ends a kill switch's reports, with how many it cancelled. */
/** MOVED: the order left this shard with its instrument (`to`: the shard it went to). IMPORTED: it arrived here (`from`, `foid`: its shard and id there). */
export const ReportKind = { ACCEPTED: 0, REJECTED: 1, FILL: 2, CANCELLED: 3, EXPIRED: 4, MODIFIED: 5, TRIGGERED: 6, KILL_DONE: 7, MOVED: 8, IMPORTED: 9 } as const;
export type ReportKind = (typeof ReportKind)[keyof typeof ReportKind];
/**
 * One execution report for account `acct`, produced while applying command `seq`. `n` numbers
 * that command's reports to this account from 0, and the last of them has `last: true`, so
 * (seq, acct, n) identifies a report exactly once on every replica. Order reports (every kind
 * but KILL_DONE) carry the order's status `st` (engine OrderStatus), `left` (open quantity
 * after the report), `cum` (filled so far), `ntl` (sum of price × qty over its fills: the
 * average price is ntl / cum) and its `coid` when it has one.
 */
export interface Report {
  v: number; t: typeof MsgType.REPORT; seq: number; n: number; last?: boolean; acct: number; k: number; oid: number;
  st?: number; coid?: string; px?: number; qty?: number; left?: number; cum?: number; ntl?: number;
  code?: number; tid?: number; liq?: number; cnt?: number; to?: string; from?: string; foid?: number;
  /** Through a gateway only: the number of the shard the report comes from (its `seq` is that shard's). */
  sh?: number;
}
/** One trade of command `seq`: `side` is the taker's, `ts` the command's sequencer stamp (µs), the same on every replica. */
export interface TradeMsg { v: number; t: typeof MsgType.TRADE; inst: number; seq: number; tid: number; px: number; qty: number; side: number; ts: number }
/** Asks for the reference data of every instrument; it has no fields. */
export interface InstrumentsRequest { v: number; t: typeof MsgType.INSTRUMENTS }
/** Every configured instrument's reference data, ids ascending (src/protocol/reference.ts). */
export interface InstrumentsMsg { v: number; t: typeof MsgType.INSTRUMENTS; insts: InstrumentRef[] }

export type FeedClientToReplica = SubBook | SubReports | Hello | InstrumentsRequest;
export type FollowerToSequencer = Subscribe | Status | Ping;
