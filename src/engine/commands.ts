/**
 * The engine's input, as plain objects. A sequenced command on the wire decodes to one of
 * these; `Engine.apply` dispatches it. The engine needs nothing else: no clock, no environment.
 * Account 0 is the operator: it may cancel or modify any order (used by replay tools and
 * kill switches); trading clients are always given a positive account by the gateway.
 *
 * `clientOrderId` is the sender's own name for a new order (1–36 visible ASCII characters),
 * unique per account among its live and recently finished orders; absent (or "") means none.
 * Cancel and modify name their order by `orderId` or by `clientOrderId`, exactly one of them.
 */
import type { OrderKind, Side, Stp, Tif } from "./types.js";

export interface LimitCommand {
  readonly type: "limit";
  readonly instrument: number;
  readonly orderId: number;
  readonly account: number;
  readonly side: Side;
  readonly price: number;
  readonly qty: number;
  readonly tif?: Tif;
  readonly postOnly?: boolean;
  readonly stp?: Stp;
  readonly clientOrderId?: string;
}

export interface MarketCommand {
  readonly type: "market";
  readonly instrument: number;
  readonly orderId: number;
  readonly account: number;
  readonly side: Side;
  readonly qty: number;
  readonly stp?: Stp;
  readonly clientOrderId?: string;
}

/** Stop-limit when `price` > 0, stop-market when `price` is 0 or absent. */
export interface StopCommand {
  readonly type: "stop";
  readonly instrument: number;
  readonly orderId: number;
  readonly account: number;
  readonly side: Side;
  readonly stopPrice: number;
  readonly price?: number;
  readonly qty: number;
  readonly tif?: Tif;
  readonly stp?: Stp;
  readonly clientOrderId?: string;
}

/** One-cancels-other: a GTC limit leg and a stop leg, same side and quantity. */
export interface OcoCommand {
  readonly type: "oco";
  readonly instrument: number;
  readonly account: number;
  readonly side: Side;
  readonly qty: number;
  readonly limitId: number;
  readonly price: number;
  readonly postOnly?: boolean;
  readonly stopId: number;
  readonly stopPrice: number;
  /** Limit price of the stop leg once triggered; 0 or absent makes it a stop-market. */
  readonly stopLimitPrice?: number;
  readonly stp?: Stp;
  /** One client order id names the pair: both legs carry it. */
  readonly clientOrderId?: string;
}

/** Names the order by `orderId` or by `clientOrderId` (exactly one); with a client order id, `instrument` (optional) is the one the order must be on. */
export interface CancelCommand {
  readonly type: "cancel";
  readonly orderId?: number;
  readonly clientOrderId?: string;
  readonly instrument?: number;
  readonly account: number;
}

/** Sets a resting limit order's price and open quantity. See Engine.modify for priority rules. */
export interface ModifyCommand {
  readonly type: "modify";
  readonly orderId?: number;
  readonly clientOrderId?: string;
  /** With a client order id: the instrument the order must be on (optional; see CancelCommand). */
  readonly instrument?: number;
  readonly account: number;
  readonly price: number;
  readonly qty: number;
}

/** The kill switch: cancels every live order (resting and pending stops) of `account`. */
export interface CancelAllCommand {
  readonly type: "cancel-all";
  readonly account: number;
}

// ---- moving an instrument between shards (docs/scaling.md): operator commands, account 0 ----
//
// Each step of a move names the claim it belongs to: `claim` is the seq of the latest claim
// command for the instrument on this shard, and a step with another is refused (MOVE_STALE), so
// the frames of a mover that stopped (still in flight, or held by a proxy) cannot act on a later
// mover's move. Without `claim` (logs written before claims existed) a step is not checked.

/**
 * Claims the instrument's moves on this shard for the mover that sent it: from now on only steps
 * naming this claim (its own seq, `seq`) apply. Any mode. `claim` is the claim it replaces (0:
 * none yet), refused like any step's when it is not the latest (MOVE_STALE), so only a mover that
 * saw the latest claim takes over; absent in logs written before claims were compared.
 */
export interface ClaimCommand {
  readonly type: "claim";
  readonly instrument: number;
  readonly account: number;
  readonly seq: number;
  readonly claim?: number;
}

/** Freezes an ACTIVE book: it is refused every command (INSTRUMENT_MOVING) until RESUME or RELEASE. `seq` is this command's own seq. */
export interface HaltCommand {
  readonly type: "halt";
  readonly instrument: number;
  readonly account: number;
  readonly seq: number;
  /** The seq of the claim this step belongs to (see above); absent in logs written before claims. */
  readonly claim?: number;
}

/** Lets a HALTED book trade again: the move was abandoned before the instrument went live elsewhere. */
export interface ResumeCommand {
  readonly type: "resume";
  readonly instrument: number;
  readonly account: number;
  /** The seq of the claim this step belongs to (see above); absent in logs written before claims. */
  readonly claim?: number;
}

/** Empties a HALTED book, its orders having gone live on shard `toShard`: the instrument is AWAY here from now on. */
export interface ReleaseCommand {
  readonly type: "release";
  readonly instrument: number;
  readonly account: number;
  readonly toShard: string;
  /** The seq of the claim this step belongs to (see above); absent in logs written before claims. */
  readonly claim?: number;
}

/** Starts filling an AWAY book with the `orders` orders of shard `fromShard`'s book, whose book hash is `bookHash`. */
export interface ImportBeginCommand {
  readonly type: "import-begin";
  readonly instrument: number;
  readonly account: number;
  readonly fromShard: string;
  readonly orders: number;
  readonly lastPrice: number;
  /** 16 lower-case hex digits: Engine.bookHash of the exported book. */
  readonly bookHash: string;
  /** The seq of the claim this step belongs to (see above); absent in logs written before claims. */
  readonly claim?: number;
}

/**
 * One order of an import, in the export's order (docs/scaling.md): it takes `orderId` on this
 * shard (the seq of its record; logs written before import-orders have these). `peer`, for the limit leg of an OCO pair, is 1 + the import
 * index of its stop leg (stops come first); 0 otherwise.
 */
export interface ImportOrderCommand {
  readonly type: "import-order";
  readonly instrument: number;
  readonly account: number;
  readonly orderId: number;
  readonly fromOrderId: number;
  readonly owner: number;
  readonly side: Side;
  readonly kind: OrderKind;
  readonly tif: Tif;
  readonly stp: Stp;
  readonly postOnly: boolean;
  readonly price: number;
  readonly stopPrice: number;
  readonly leaves: number;
  readonly cum: number;
  readonly notional: number;
  readonly peer: number;
  readonly clientOrderId?: string;
}

/** One row of an import-orders command: an import-order without its instrument, account and id. */
export type ImportRow = Omit<ImportOrderCommand, "type" | "instrument" | "account" | "orderId">;

/**
 * Several orders of an import in one command (one record), in the export's order: each row
 * takes the engine's next imported-order id (Engine: IMPORTED_ID_BASE + the orders imported
 * before it on this shard), as ids from the seq space would need one record per row.
 */
export interface ImportOrdersCommand {
  readonly type: "import-orders";
  readonly instrument: number;
  readonly account: number;
  readonly rows: readonly ImportRow[];
  /** The seq of the claim this step belongs to (see above); absent in logs written before claims. */
  readonly claim?: number;
}

/** Ends an import: the book goes ACTIVE if it has the count and hash the import began with, else IMPORT_MISMATCH and it stays IMPORTING. */
export interface ImportEndCommand {
  readonly type: "import-end";
  readonly instrument: number;
  readonly account: number;
  /** The seq of the claim this step belongs to (see above); absent in logs written before claims. */
  readonly claim?: number;
}

/** Abandons an import: the partly filled book is emptied without reports (its owners were never told of it) and is AWAY again. */
export interface ImportAbortCommand {
  readonly type: "import-abort";
  readonly instrument: number;
  readonly account: number;
  /** The seq of the claim this step belongs to (see above); absent in logs written before claims. */
  readonly claim?: number;
}

export type MoveCommand = ClaimCommand | HaltCommand | ResumeCommand | ReleaseCommand | ImportBeginCommand | ImportOrderCommand | ImportOrdersCommand | ImportEndCommand | ImportAbortCommand;

export type Command = LimitCommand | MarketCommand | StopCommand | OcoCommand | CancelCommand | ModifyCommand | CancelAllCommand | MoveCommand;
