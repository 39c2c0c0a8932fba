/**
 * The replicas' HTTP reads ("REST"): paths, limits, the JSON shapes of the answers, the
 * authentication headers, and the strict reading of paths and query strings. REST is not the
 * hot path (market data and reports stream on /feed), so its answers are JSON; every integer in
 * them is a safe integer in wire units, as on the feed. The server (src/replica/rest.ts) and the
 * SDK (src/client/rest.ts) share this module. docs/protocol.md ("REST") is the same in prose.
 */
import { WireReason, WIRE_REASON_NAME } from "./messages.js";
import type { InstrumentRef } from "./reference.js";

/** Limits of the REST reads, each with its unit. */
export const RestLimits = {
  /** Levels per side of GET /v1/book when `depth` is absent. */
  bookDepthLevelsDefault: 100,
  /** Largest `depth` of GET /v1/book, levels per side (SUB_BOOK on /feed gives every level). */
  bookDepthLevelsMax: 1000,
  /** Trades of GET /v1/trades when `limit` is absent. */
  tradesLimitDefault: 100,
  /** Largest `limit` of GET /v1/trades, trades (a replica keeps `tradesRecentMax` per instrument). */
  tradesLimitMax: 1000,
  /** Longest query string read, bytes; a longer one is refused (OUT_OF_RANGE) rather than parsed. */
  queryBytesMax: 256,
} as const;

/** Default of the replica's `tradesRecentMax`: trades kept per instrument for GET /v1/trades. */
export const TRADES_RECENT_MAX_DEFAULT = 1000;

/** The request headers of a signed read (lower case: HTTP header names are case-insensitive). */
export const RestHeader = {
  account: "x-lockstep-account",
  key: "x-lockstep-key",
  /** The client's clock, µs since the epoch, decimal. */
  ts: "x-lockstep-ts",
  nonce: "x-lockstep-nonce",
  /** HMAC-SHA256 (src/protocol/auth.ts, signRequest), 64 hex digits. */
  signature: "x-lockstep-signature",
} as const;

export const RestPath = {
  instruments: "/v1/instruments",
  book: "/v1/book/",
  trades: "/v1/trades/",
  orders: "/v1/orders",
  /** GET /v1/move/{instrument id}: the instrument's book as a move exports it (docs/scaling.md). */
  move: "/v1/move/",
} as const;

/** The body of GET /v1/move/{instrument}: the book in the export order (src/engine/move.ts), as of `seq`. */
export interface MoveExportResponse {
  readonly seq: number;
  readonly instrument: number;
  readonly symbol: string;
  /** ACTIVE, HALTED, IMPORTING or AWAY (src/engine/types.ts InstrumentMode). */
  readonly mode: string;
  /** The seq of the HALT that froze the book (0 unless HALTED): while HALTED, the export is the book as of that seq. */
  readonly halt_seq: number;
  /** The seq of the instrument's latest move claim on this shard (0: never claimed): only a mover's steps naming it apply. */
  readonly move_claim: number;
  readonly last_price: number;
  /** The instrument's trading rules, which the book hash covers (integers, in the wire's units). */
  readonly config: { readonly id: number; readonly tickSize: number; readonly lotSize: number; readonly qtyMin: number; readonly qtyMax: number; readonly priceMin: number; readonly priceMax: number };
  readonly book_hash: string;
  /** How many orders the book has (with ?orders=0 too). */
  readonly order_count: number;
  /** [fromId, owner, side, kind, tif, stp, postOnly, price, stopPrice, leaves, cum, notional, peer, coid] per order; none with ?orders=0. */
  readonly orders: readonly (readonly (number | string)[])[];
}

/** The body of every refusal, with the HTTP status beside it. */
export interface RestErrorBody { readonly code: number; readonly reason: string; readonly message: string }
export interface RestFailure { readonly status: RestStatus; readonly body: RestErrorBody }

export const RestStatus = { OK: 200, BAD_REQUEST: 400, UNAUTHORIZED: 401, NOT_FOUND: 404, INTERNAL: 500 } as const;
export type RestStatus = (typeof RestStatus)[keyof typeof RestStatus];
/** uWebSockets.js wants the whole status line. */
export const REST_STATUS_LINE: Readonly<Record<RestStatus, string>> = {
  200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 404: "404 Not Found", 500: "500 Internal Server Error",
};

export function restFailure(status: RestStatus, code: WireReason, message: string): RestFailure {
  return { status, body: { code, reason: WIRE_REASON_NAME[code], message } };
}

// ---- answers ------------------------------------------------------------------------------

export interface InstrumentsResponse { readonly instruments: InstrumentRef[] }

/** `bids`/`asks`: [price, qty] in wire units, best first; `checksum` is the feed's `cs` as of `seq` (top 10 levels, whatever `depth`). */
export interface BookResponse {
  readonly symbol: string;
  readonly instrument: number;
  readonly seq: number;
  readonly checksum: number;
  readonly bids: [number, number][];
  readonly asks: [number, number][];
}

export type RestSide = "buy" | "sell";

/** One trade as the feed's TRADE carries it: `side` is the aggressor's, `ts` the sequencer's stamp of command `seq`, µs. */
export interface RestTrade {
  readonly seq: number;
  readonly tid: number;
  readonly px: number;
  readonly qty: number;
  readonly side: RestSide;
  readonly ts: number;
}
/** Newest last; `seq` is the last seq the replica applied. */
export interface TradesResponse { readonly symbol: string; readonly instrument: number; readonly seq: number; readonly trades: RestTrade[] }

export type RestOrderType = "limit" | "stop-limit" | "stop-market";
export type RestOrderStatus = "NEW" | "PARTIALLY_FILLED" | "PENDING_TRIGGER";

/**
 * One live order. JSON has null where the wire leaves a field out: every order has every key,
 * `coid` null when it has no client order id, `stopPx` null unless it is a stop, `peer` null
 * unless it is an OCO leg (then its other leg's oid). `qty` is the order's quantity as it now
 * stands (`cum` + `left`); `ntl` the sum of price × qty over its fills.
 */
export interface RestOrder {
  readonly oid: number;
  readonly coid: string | null;
  readonly instrument: number;
  readonly symbol: string;
  readonly side: RestSide;
  readonly type: RestOrderType;
  /** Limit price; 0 for a stop-market. */
  readonly px: number;
  readonly stopPx: number | null;
  readonly qty: number;
  readonly left: number;
  readonly cum: number;
  readonly ntl: number;
  readonly status: RestOrderStatus;
  readonly tif: "GTC" | "IOC" | "FOK";
  readonly postOnly: boolean;
  readonly peer: number | null;
}
/** The account's live orders, oid ascending, as of `seq`. */
export interface OrdersResponse { readonly account: number; readonly seq: number; readonly orders: RestOrder[] }

// ---- reading requests -------------------------------------------------------------------

const POSITIVE_INTEGER = /^[1-9][0-9]{0,15}$/;

/**
 * A query string (`a=1&b=2`, without the "?") as a map of the names in `allowed`. Refused: one
 * longer than queryBytesMax, a name not allowed (UNKNOWN_FIELD, like an unknown field of a
 * frame), a name given twice (MALFORMED, never "last wins"), bad %-escapes (MALFORMED).
 */
export function readQuery(raw: string | undefined, allowed: readonly string[]): { ok: true; params: Map<string, string> } | { ok: false; failure: RestFailure } {
  const params = new Map<string, string>();
  if (raw === undefined || raw === "") return { ok: true, params };
  const bad = (code: WireReason, message: string): { ok: false; failure: RestFailure } => ({ ok: false, failure: restFailure(RestStatus.BAD_REQUEST, code, message) });
  if (raw.length > RestLimits.queryBytesMax) return bad(WireReason.OUT_OF_RANGE, `the query string is longer than ${RestLimits.queryBytesMax} bytes`);
  for (const part of raw.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = decodeComponent(eq < 0 ? part : part.slice(0, eq), true);
    const value = decodeComponent(eq < 0 ? "" : part.slice(eq + 1), true);
    if (name === null || value === null) return bad(WireReason.MALFORMED, "the query string is not valid percent-encoding");
    if (!allowed.includes(name)) {
      return bad(WireReason.UNKNOWN_FIELD, `query parameter ${JSON.stringify(name.slice(0, 32))} is not part of this request${allowed.length === 0 ? " (it takes none)" : ` (it takes ${allowed.join(", ")})`}`);
    }
    if (params.has(name)) return bad(WireReason.MALFORMED, `query parameter "${name}" is given twice`);
    params.set(name, value);
  }
  return { ok: true, params };
}

/** A path segment or query part with its %-escapes decoded (and "+" as a space in a query); null when they are invalid. */
export function decodeComponent(s: string, plusIsSpace: boolean): string | null {
  try {
    return decodeURIComponent(plusIsSpace ? s.replace(/\+/g, " ") : s);
  } catch {
    return null;
  }
}

/** `text` as an integer in [1, max], `fallback` when absent; a failure names the parameter and the range. */
export function positiveIntParam(text: string | undefined, name: string, fallback: number, max: number): { ok: true; value: number } | { ok: false; failure: RestFailure } {
  if (text === undefined) return { ok: true, value: fallback };
  const value = POSITIVE_INTEGER.test(text) ? Number(text) : Number.NaN;
  if (!(value <= max)) return { ok: false, failure: restFailure(RestStatus.BAD_REQUEST, WireReason.OUT_OF_RANGE, `${name} must be an integer in [1, ${max}]`) };
  return { ok: true, value };
}
