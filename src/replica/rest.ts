/**
 * A replica's REST reads, on the same uWebSockets.js app and port as its /feed: reference data,
 * the book, recent trades, and an account's open orders (signed). Each answer is read from the
 * replica's state in the handler itself, synchronously, between two batches of the log, so it
 * is consistent as of the `seq` it carries; nothing is awaited, so `req` is read before the
 * answer and `onAborted` can only mean the client went away. Shapes, limits and headers are
 * src/protocol/rest.ts; docs/protocol.md ("REST") documents them.
 *
 *   GET /v1/instruments             public
 *   GET /v1/book/{symbol}?depth=N   public
 *   GET /v1/trades/{symbol}?limit=N public
 *   GET /v1/orders                  the account of `x-lockstep-account`, signed when auth is on
 *   GET /v1/move/{instrument id}    the book as a move exports it; the operator's, signed, when auth is on
 *   anything else                   404 NOT_FOUND
 */
import type uWS from "uWebSockets.js";
import { INSTRUMENT_MODE_NAME, ORDER_STATUS_NAME, OrderKind, Side, type BookExport, type Depth, type OrderView } from "../engine/index.js";
import type { Authenticator } from "../protocol/auth.js";
import { bookChecksum, CHECKSUM_LEVELS } from "../protocol/checksum.js";
import { WireReason } from "../protocol/messages.js";
import type { InstrumentRef } from "../protocol/reference.js";
import {
  decodeComponent, positiveIntParam, readQuery, REST_STATUS_LINE, restFailure, RestHeader, RestLimits, RestPath, RestStatus,
  type BookResponse, type MoveExportResponse, type OrdersResponse, type RestFailure, type RestOrder, type RestOrderStatus, type RestOrderType, type TradesResponse,
} from "../protocol/rest.js";
import type { Ring } from "../util/ring.js";
import type { TradeOut } from "./outputs.js";

/** What the REST reads see of a replica. */
export interface RestSource {
  /** Ids ascending. */
  readonly instruments: readonly InstrumentRef[];
  readonly auth: Authenticator | undefined;
  seq(): number;
  depth(instrument: number, levelsMax: number): Depth;
  trades(instrument: number): Ring<TradeOut> | undefined;
  openOrders(account: number): OrderView[];
  /** `rows` false: the mode, count and hash without the rows (cheaper: the mover polls with ?orders=0). */
  exportBook(instrument: number, rows: boolean): BookExport | undefined;
  /** Who may read an export when authentication is on (absent: nobody then). */
  readonly operatorAccount?: number;
  nowUs(): number;
  /** Counts each refusal by reason, for /stats. */
  refused(code: WireReason): void;
  /** A handler threw: a bug, logged by the replica, answered 500 INTERNAL. */
  failed(err: unknown): void;
}

type Answer = { status: typeof RestStatus.OK; body: object } | RestFailure;
const ok = (body: object): Answer => ({ status: RestStatus.OK, body });

const ACCOUNT = /^[1-9][0-9]{0,15}$/;
const TS_US = /^[0-9]{1,16}$/;
const SIGNATURE_HEX = /^[0-9a-fA-F]{64}$/;

const sideName = (s: number): "buy" | "sell" => (s === Side.BUY ? "buy" : "sell");
const TYPE_NAME: Readonly<Record<number, RestOrderType>> = { [OrderKind.LIMIT]: "limit", [OrderKind.STOP_LIMIT]: "stop-limit", [OrderKind.STOP_MARKET]: "stop-market" };
const TIF_NAME = ["GTC", "IOC", "FOK"] as const;

export function serveRest(app: uWS.TemplatedApp, src: RestSource): void {
  const bySymbol = new Map(src.instruments.map((i) => [i.symbol, i]));
  const symbolOf = new Map(src.instruments.map((i) => [i.id, i.symbol]));
  // The instruments never change while a replica runs: one body, written once.
  const instrumentsBody = { instruments: src.instruments };
  route(app, RestPath.instruments, src, (req) => {
    const q = readQuery(req.getQuery(), []);
    return q.ok ? ok(instrumentsBody) : q.failure;
  });
  /** GET {path}{symbol}?{param}=N: the symbol's instrument and N (default `dflt`, at most `max`), or the failure. */
  const perSymbol = (path: string, param: string, dflt: number, max: number, read: (inst: InstrumentRef, n: number) => object): void => {
    route(app, `${path}:symbol`, src, (req) => {
      const inst = instrumentOf(req, bySymbol);
      if ("body" in inst) return inst;
      const q = readQuery(req.getQuery(), [param]);
      if (!q.ok) return q.failure;
      const n = positiveIntParam(q.params.get(param), param, dflt, max);
      return n.ok ? ok(read(inst, n.value)) : n.failure;
    });
  };
  perSymbol(RestPath.book, "depth", RestLimits.bookDepthLevelsDefault, RestLimits.bookDepthLevelsMax, (inst, depth) => book(src, inst, depth));
  perSymbol(RestPath.trades, "limit", RestLimits.tradesLimitDefault, RestLimits.tradesLimitMax, (inst, limit) => trades(src, inst, limit));
  route(app, RestPath.orders, src, (req) => {
    const q = readQuery(req.getQuery(), []);
    if (!q.ok) return q.failure;
    const account = accountOf(req, src);
    if (typeof account !== "number") return account;
    const body: OrdersResponse = { account, seq: src.seq(), orders: src.openOrders(account).map((o) => restOrder(o, symbolOf.get(o.instrument) ?? "")) };
    return ok(body);
  });
  route(app, `${RestPath.move}:instrument`, src, (req) => {
    const q = readQuery(req.getQuery(), ["orders"]);
    if (!q.ok) return q.failure;
    const rows = q.params.get("orders");
    if (rows !== undefined && rows !== "0" && rows !== "1") return restFailure(RestStatus.BAD_REQUEST, WireReason.OUT_OF_RANGE, "query parameter orders is 0 (the book's mode and hash only) or 1 (with every order; the default)");
    const raw = req.getParameter(0) ?? "";
    const id = /^[1-9][0-9]{0,15}$/.test(raw) ? Number(raw) : 0;
    const exp = Number.isSafeInteger(id) && id > 0 ? src.exportBook(id, rows !== "0") : undefined;
    if (exp === undefined) return restFailure(RestStatus.NOT_FOUND, WireReason.UNKNOWN_INSTRUMENT, `no instrument has the id ${JSON.stringify(raw.slice(0, 20))}`);
    if (src.auth !== undefined) {
      const account = accountOf(req, src, RestPath.move + raw);
      if (typeof account !== "number") return account;
      if (account !== src.operatorAccount) return restFailure(RestStatus.UNAUTHORIZED, WireReason.NOT_OPERATOR, "only the operator account (sequencer.operatorAccount) may read a book's export");
    }
    const c = exp.instrument;
    const body: MoveExportResponse = {
      seq: src.seq(), instrument: id, symbol: symbolOf.get(id) ?? "", mode: INSTRUMENT_MODE_NAME[exp.mode], halt_seq: exp.haltSeq, move_claim: exp.moveClaim, last_price: exp.lastPrice,
      config: { id, tickSize: c.tickSize, lotSize: c.lotSize, qtyMin: c.qtyMin, qtyMax: c.qtyMax, priceMin: c.priceMin, priceMax: c.priceMax }, book_hash: exp.bookHash, order_count: exp.orderCount, orders: exp.orders,
    };
    return ok(body);
  });
  app.any("/*", (res, req) => {
    const method = req.getCaseSensitiveMethod();
    const url = req.getUrl();
    send(res, src, restFailure(RestStatus.NOT_FOUND, WireReason.NOT_FOUND, `no ${method.slice(0, 16)} ${url.slice(0, 64)} here: the REST reads are GET ${RestPath.instruments}, ${RestPath.book}{symbol}, ${RestPath.trades}{symbol}, ${RestPath.orders} and ${RestPath.move}{instrument}`));
  });
}

/** A GET route whose handler answers at once; a handler that throws is a bug, answered 500 without its details. */
function route(app: uWS.TemplatedApp, pattern: string, src: RestSource, handle: (req: uWS.HttpRequest) => Answer): void {
  app.get(pattern, (res, req) => {
    let answer: Answer;
    try {
      answer = handle(req);
    } catch (err) {
      src.failed(err);
      answer = restFailure(RestStatus.INTERNAL, WireReason.INTERNAL, "the replica could not answer this request (a bug, logged)");
    }
    send(res, src, answer);
  });
}

/**
 * Answers inside the handler, where uWS has the response corked. The abort handler is attached
 * all the same: a response answered after its client left must not be written to, and uWS
 * terminates the process if a handler returns without answering or attaching one.
 */
function send(res: uWS.HttpResponse, src: RestSource, a: Answer): void {
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  if (a.status !== RestStatus.OK) src.refused((a as RestFailure).body.code as WireReason);
  const text = JSON.stringify(a.body);
  if (aborted) return;
  res.writeStatus(REST_STATUS_LINE[a.status]).writeHeader("content-type", "application/json").writeHeader("cache-control", "no-store").end(text);
}

function instrumentOf(req: uWS.HttpRequest, bySymbol: ReadonlyMap<string, InstrumentRef>): InstrumentRef | RestFailure {
  const raw = req.getParameter(0) ?? "";
  const symbol = decodeComponent(raw, false);
  if (symbol === null) return restFailure(RestStatus.BAD_REQUEST, WireReason.MALFORMED, "the symbol in the path is not valid percent-encoding");
  return bySymbol.get(symbol) ?? restFailure(RestStatus.NOT_FOUND, WireReason.UNKNOWN_INSTRUMENT, `no instrument has the symbol ${JSON.stringify(symbol.slice(0, 32))}`);
}

function book(src: RestSource, inst: InstrumentRef, depth: number): BookResponse {
  const d = src.depth(inst.id, Math.max(depth, CHECKSUM_LEVELS));
  // The checksum covers the top CHECKSUM_LEVELS whatever depth was asked for, exactly as the feed's `cs`.
  const checksum = bookChecksum(d.bids, d.asks);
  return { symbol: inst.symbol, instrument: inst.id, seq: src.seq(), checksum, bids: d.bids.slice(0, depth), asks: d.asks.slice(0, depth) };
}

function trades(src: RestSource, inst: InstrumentRef, limit: number): TradesResponse {
  const ring = src.trades(inst.id);
  const out: TradesResponse["trades"] = [];
  const n = ring?.length ?? 0;
  for (let i = Math.max(0, n - limit); i < n; i++) {
    const t = ring!.at(i)!;
    out.push({ seq: t.seq, tid: t.tid, px: t.px, qty: t.qty, side: sideName(t.side), ts: t.ts });
  }
  return { symbol: inst.symbol, instrument: inst.id, seq: src.seq(), trades: out };
}

/**
 * The account a GET /v1/orders reads: `x-lockstep-account`, proven by the signature headers
 * when authentication is on (as SUB_REPORTS needs a HELLO as that account); without it, any
 * account may be read, as any account's reports may be on /feed.
 */
function accountOf(req: uWS.HttpRequest, src: RestSource, path: string = RestPath.orders): number | RestFailure {
  const text = req.getHeader(RestHeader.account);
  if (text === "") return restFailure(RestStatus.BAD_REQUEST, WireReason.MISSING_FIELD, `header ${RestHeader.account} is required: the account whose open orders to read`);
  if (!ACCOUNT.test(text) || !Number.isSafeInteger(Number(text))) return restFailure(RestStatus.BAD_REQUEST, WireReason.OUT_OF_RANGE, `header ${RestHeader.account} must be an account id, an integer in [1, ${Number.MAX_SAFE_INTEGER}]`);
  const account = Number(text);
  if (src.auth === undefined) return account;
  const unauthorized = (why: string): RestFailure => restFailure(RestStatus.UNAUTHORIZED, WireReason.NOT_AUTHENTICATED, `request refused: ${why}`);
  const key = req.getHeader(RestHeader.key), ts = req.getHeader(RestHeader.ts), nonce = req.getHeader(RestHeader.nonce), sig = req.getHeader(RestHeader.signature);
  if (key === "" || ts === "" || nonce === "" || sig === "") {
    return unauthorized(`headers ${RestHeader.key}, ${RestHeader.ts}, ${RestHeader.nonce} and ${RestHeader.signature} are required (docs/protocol.md, "REST")`);
  }
  if (!TS_US.test(ts)) return unauthorized(`${RestHeader.ts} must be the time in µs since the epoch, in decimal`);
  if (!SIGNATURE_HEX.test(sig)) return unauthorized(`${RestHeader.signature} must be 64 hex digits (HMAC-SHA256)`);
  const a = src.auth.verifyRequest({ key, ts: Number(ts), nonce, sig: Buffer.from(sig, "hex") }, account, src.nowUs(), "GET", path);
  return a.ok ? account : unauthorized(a.why);
}

function restOrder(o: OrderView, symbol: string): RestOrder {
  const stop = o.kind === OrderKind.STOP_LIMIT || o.kind === OrderKind.STOP_MARKET;
  return {
    oid: o.id, coid: o.clientOrderId === "" ? null : o.clientOrderId, instrument: o.instrument, symbol, side: sideName(o.side),
    type: TYPE_NAME[o.kind] ?? "limit", px: o.price, stopPx: stop ? o.stopPrice : null, qty: o.cum + o.leaves, left: o.leaves, cum: o.cum, ntl: o.notional,
    status: ORDER_STATUS_NAME[o.status] as RestOrderStatus, tif: TIF_NAME[o.tif], postOnly: o.postOnly, peer: o.peerId === 0 ? null : o.peerId,
  };
}
