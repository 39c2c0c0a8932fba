/**
 * A CCXT-shaped adapter over the SDK (docs/ccxt.md): code written against CCXT's unified API
 * (`loadMarkets`, `fetchOrderBook`, `createOrder`, `watchOrders`, …) runs against Lockstep with
 * few changes. It returns CCXT's structures (ccxt-types.ts) and throws CCXT's error classes by
 * name (ccxt-errors.ts), and keeps Lockstep exact underneath (ccxt-numbers.ts): a number is read
 * through its shortest decimal text and refused if it is not a whole number of ticks or lots.
 *
 * Underneath: TradingClient for commands, FeedClient for execution reports (one connection for
 * the account) and for each watched symbol's checksummed book and trades, RestClient for
 * reference data, books, trades and open orders. A command's method resolves once the command's
 * execution reports have arrived (its ACK alone says nothing of what the engine decided), so
 * `createOrder` throws InvalidOrder for an order the engine refused, as CCXT's does.
 *
 * watch* follow CCXT Pro: each call resolves with the next update. watchOrderBook resolves with
 * the whole book as it stands after the update; watchOrders, watchMyTrades and watchTrades with
 * every item that arrived since the previous call (at least one), at most WATCH_ITEMS_MAX of
 * them (the oldest are dropped first and counted in `stats.watchItemsDropped`).
 */
import { randomBytes } from "node:crypto";
import { isClientOrderId, OrderStatus as EngineStatus } from "../engine/index.js";
import { DecimalError, type InstrumentRef } from "../protocol/reference.js";
import type { Report, TradeMsg } from "../protocol/messages.js";
import { AuthenticationError, BadRequest, BadSymbol, BaseError, DuplicateOrderId, ExchangeClosedByUser, ExchangeError, fromEngineReason, fromWireError, InvalidOrder, NotSupported, OrderNotFound, RequestTimeout } from "./ccxt-errors.js";
import { RoundingMode, stepUnits, toStep } from "./ccxt-numbers.js";
import { fillOf, orderOf, OrderBookkeeper, publicTradeOf, type OrderIntent, type OrderState } from "./ccxt-orders.js";
import type { CancelOrderParams, CreateOrderParams, Market, Order, OrderBook, Side, TimeInForceName, Trade } from "./ccxt-types.js";
import type { OrderRequest } from "./codec.js";
import { FeedClient, type LocalBook } from "./feed.js";
import { RestClient } from "./rest.js";
import { TradingClient, type Credentials } from "./trading.js";
import { levelsToDecimal } from "./decimal.js";

export * from "./ccxt-errors.js";
export type * from "./ccxt-types.js";

export interface LockstepExchangeOptions {
  /** The sequencer's /trade URL; several with standby sequencers (tried in turn). Needed to trade. */
  readonly trade?: string | readonly string[];
  /** Replicas' /feed URLs (failover in order). Needed for watch* and to trade. */
  readonly feeds?: readonly string[];
  /** Replicas' base URLs for REST (`http://host:port`, the /feed port). Needed for everything. */
  readonly rest: readonly string[];
  /** The account to trade as and whose orders to follow. Needed to trade. */
  readonly account?: number;
  /** API key and secret, when the cluster requires authentication. */
  readonly credentials?: Credentials;
  /** How long a command may take from sending to its last execution report, ms (default COMMAND_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/** Default wait for a command's ACK and execution reports, ms. */
export const COMMAND_TIMEOUT_MS = 10_000;
/** Items a watch* call can be handed at once (and holds between calls): the oldest beyond it are dropped. */
export const WATCH_ITEMS_MAX = 1_000;
/** Calls of one watch* stream waiting at once; one more is a programming error (calls that are never awaited). */
export const WATCH_WAITERS_MAX = 64;

const TIME_IN_FORCE: Readonly<Record<TimeInForceName, OrderRequest["timeInForce"]>> = { GTC: "GTC", IOC: "IOC", FOK: "FOK", PO: "GTC" };
const CREATE_PARAMS: ReadonlySet<string> = new Set(["clientOrderId", "timeInForce", "postOnly", "selfTradePrevention"]);
const ORDER_ID = /^[1-9][0-9]{0,15}$/;

/** A watch* stream: items pushed as they arrive, handed to the next call all at once. */
class UpdateQueue<T> {
  private items: T[] = [];
  private readonly waiters: { resolve: (items: T[]) => void; reject: (e: Error) => void }[] = [];
  dropped = 0;

  push(item: T): void {
    this.items.push(item);
    if (this.items.length > WATCH_ITEMS_MAX) {
      this.items.shift();
      this.dropped++;
    }
    if (this.waiters.length === 0) return;
    const batch = this.items;
    this.items = [];
    for (const w of this.waiters.splice(0)) w.resolve(batch);
  }
  next(): Promise<T[]> {
    if (this.items.length > 0) {
      const batch = this.items;
      this.items = [];
      return Promise.resolve(batch);
    }
    if (this.waiters.length >= WATCH_WAITERS_MAX) return Promise.reject(new ExchangeError(`more than ${WATCH_WAITERS_MAX} calls wait on one watch stream`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
  fail(e: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(e);
  }
}

/** One watched symbol: its feed connection (book and trades), and the calls waiting on its book. */
interface MarketStream {
  readonly feed: FeedClient;
  readonly bookWaiters: { limit: number | undefined; resolve: (b: OrderBook) => void; reject: (e: Error) => void }[];
  readonly trades: UpdateQueue<Trade>;
  readonly ready: Promise<void>;
}

export class LockstepExchange {
  readonly id = "lockstep";
  /** Unified symbol → market, once loadMarkets has run. */
  markets: Record<string, Market> = {};
  readonly stats = { checksumMismatches: 0, watchItemsDropped: 0 };
  private readonly marketsById = new Map<string, Market>();
  private readonly marketsByInstrument = new Map<number, Market>();
  private marketsLoading: Promise<Record<string, Market>> | null = null;
  private readonly rest: RestClient;
  private trading: Promise<TradingClient> | null = null;
  private reports: Promise<FeedClient> | null = null;
  private readonly streams = new Map<string, MarketStream>();
  private readonly orderQueues = new Map<string, UpdateQueue<Order>>();
  private readonly fillQueues = new Map<string, UpdateQueue<Trade>>();
  private readonly book = new OrderBookkeeper((s) => this.onOrder(s), (s, r) => this.onFill(s, r));
  /** Generated client order ids: this session's random prefix and a counter. */
  private readonly coidPrefix = `ccxt-${randomBytes(6).toString("base64url")}-`;
  private coidNext = 1;
  private closed = false;

  constructor(private readonly o: LockstepExchangeOptions) {
    if (o.rest.length === 0) throw new BadRequest("LockstepExchange: options.rest needs at least one replica URL");
    if (o.account !== undefined && (!Number.isSafeInteger(o.account) || o.account < 1)) throw new BadRequest(`LockstepExchange: account must be an integer ≥ 1, not ${String(o.account)}`);
    this.rest = new RestClient({ urls: o.rest, account: o.account, credentials: o.credentials, timeoutMs: o.timeoutMs });
  }

  private get timeoutMs(): number {
    return this.o.timeoutMs ?? COMMAND_TIMEOUT_MS;
  }

  // ---- markets --------------------------------------------------------------------------

  /** Every instrument as a CCXT market, by unified symbol; loaded once (`reload` to read again). */
  loadMarkets(reload = false): Promise<Record<string, Market>> {
    if (this.marketsLoading === null || reload) {
      this.marketsLoading = this.rest.instruments().then((refs) => {
        this.markets = {};
        for (const ref of refs) {
          const m = marketOf(ref);
          this.markets[m.symbol] = m;
          this.marketsById.set(m.id, m);
          this.marketsByInstrument.set(m.numericId, m);
        }
        return this.markets;
      }, (err: unknown) => {
        this.marketsLoading = null;
        throw fromWireError(err);
      });
    }
    return this.marketsLoading;
  }

  /** The market of a unified symbol (or of a Lockstep symbol); BadSymbol for any other. */
  market(symbol: string): Market {
    const m = Object.hasOwn(this.markets, symbol) ? this.markets[symbol] : this.marketsById.get(symbol);
    if (m === undefined) throw new BadSymbol(`no market ${JSON.stringify(symbol)} (loadMarkets() lists ${Object.keys(this.markets).join(", ") || "none"})`);
    return m;
  }

  private async marketOf(symbol: string): Promise<Market> {
    if (typeof symbol !== "string") throw new BadSymbol(`a symbol is a string, not ${typeof symbol}`);
    await this.loadMarkets();
    return this.market(symbol);
  }

  /** CCXT's priceToPrecision: the price rounded (half up) to the market's tick, as a decimal string, exactly. */
  priceToPrecision(symbol: string, price: number | string): string {
    const ref = this.market(symbol).info;
    return this.decimal(() => toStep(price, ref.priceScale, ref.tickUnits, RoundingMode.ROUND, "price"));
  }
  /** CCXT's amountToPrecision: the amount truncated to the market's lot, as a decimal string, exactly. */
  amountToPrecision(symbol: string, amount: number | string): string {
    const ref = this.market(symbol).info;
    return this.decimal(() => toStep(amount, ref.qtyScale, ref.lotUnits, RoundingMode.TRUNCATE, "amount"));
  }

  private decimal<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof DecimalError) throw new InvalidOrder(err.message, { cause: err });
      throw err;
    }
  }

  // ---- public reads ----------------------------------------------------------------------

  /** The book from REST, `limit` levels per side (REST's default 100 when absent), as of its `nonce` (seq). */
  async fetchOrderBook(symbol: string, limit?: number): Promise<OrderBook> {
    const m = await this.marketOf(symbol);
    const b = await this.call(() => this.rest.book(m.id, limit));
    return bookOf(m, b.seq, b.checksum, b.bids, b.asks);
  }

  /** Recent trades from REST, oldest first; `since` (ms) keeps those stamped at or after it. */
  async fetchTrades(symbol: string, since?: number, limit?: number): Promise<Trade[]> {
    const m = await this.marketOf(symbol);
    const r = await this.call(() => this.rest.trades(m.id, limit));
    const trades = r.trades.map((t) => publicTradeOf(m, t));
    return since === undefined ? trades : trades.filter((t) => t.timestamp! >= since);
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw fromWireError(err);
    }
  }

  // ---- trading ---------------------------------------------------------------------------

  /**
   * A limit or market order. `amount` and `price` are numbers or decimal strings and must be
   * whole multiples of the market's lot and tick (InvalidOrder otherwise: nothing is rounded).
   * Resolves once the engine has decided: the order as its reports left it ('open', 'closed',
   * 'expired'), or throws what the engine refused (InvalidOrder and its subclasses).
   */
  async createOrder(symbol: string, type: "limit" | "market", side: Side, amount: number | string, price?: number | string, params: CreateOrderParams = {}): Promise<Order> {
    const m = await this.marketOf(symbol);
    const { request, intent } = this.orderRequest(m, type, side, amount, price, params);
    const coid = request.clientOrderId!;
    const [trading, feed] = await Promise.all([this.tradingClient(), this.reportFeed()]);
    this.book.intend(coid, intent);
    let seq: number;
    let oid: number;
    try {
      ({ seq, oid } = await trading.submit(request));
    } catch (err) {
      this.book.forget(coid);
      throw fromWireError(err);
    }
    await this.reportsOf(feed, seq, `order ${oid}`);
    const refused = this.book.rejectionOf(seq);
    if (refused !== undefined) {
      if (refused.oid !== oid) throw new DuplicateOrderId(`DUPLICATE_CLIENT_ORDER_ID: clientOrderId ${coid} is order ${refused.oid}'s`, { code: refused.code, reason: "DUPLICATE_CLIENT_ORDER_ID" });
      throw fromEngineReason(refused.code, `the engine refused the ${type} order (clientOrderId ${coid})`);
    }
    return orderOf(this.book.orders.get(oid)!);
  }

  /** The OrderRequest (wire units) and intent of a CCXT createOrder call; throws InvalidOrder/BadRequest. */
  private orderRequest(m: Market, type: string, side: string, amount: unknown, price: unknown, params: CreateOrderParams): { request: OrderRequest; intent: OrderIntent } {
    for (const k of Object.keys(params)) if (!CREATE_PARAMS.has(k)) throw new NotSupported(`createOrder: param ${JSON.stringify(k)} is not supported (supported: ${[...CREATE_PARAMS].join(", ")}); refused rather than ignored`);
    if (type !== "limit" && type !== "market") throw new InvalidOrder(`type ${JSON.stringify(type)}: Lockstep's CCXT adapter places "limit" and "market" orders`);
    if (side !== "buy" && side !== "sell") throw new InvalidOrder(`side ${JSON.stringify(side)} is not "buy" or "sell"`);
    const ref = m.info;
    const qty = this.decimal(() => stepUnits(amount, ref.qtyScale, ref.lotUnits, ref.lotSize, "amount"));
    const tif = params.timeInForce;
    if (tif !== undefined && !Object.hasOwn(TIME_IN_FORCE, tif)) throw new InvalidOrder(`timeInForce ${JSON.stringify(tif)} is not GTC, IOC, FOK or PO`);
    if (params.postOnly !== undefined && typeof params.postOnly !== "boolean") throw new InvalidOrder("postOnly must be true or false");
    const postOnly = params.postOnly === true || tif === "PO";
    if (postOnly && (tif === "IOC" || tif === "FOK")) throw new InvalidOrder(`a post-only order rests on the book: it cannot be ${tif}`);
    let px: number | undefined;
    if (type === "market") {
      if (price !== undefined) throw new InvalidOrder("a market order takes no price");
      if (tif !== undefined || params.postOnly !== undefined) throw new InvalidOrder("a market order is always immediate: it takes no timeInForce or postOnly");
    } else {
      if (price === undefined) throw new InvalidOrder("a limit order needs a price");
      px = this.decimal(() => stepUnits(price, ref.priceScale, ref.tickUnits, ref.tickSize, "price"));
    }
    const coid = params.clientOrderId ?? `${this.coidPrefix}${this.coidNext++}`;
    if (!isClientOrderId(coid)) throw new InvalidOrder(`clientOrderId ${JSON.stringify(coid)} is not 1–36 visible ASCII characters`);
    const request: OrderRequest = {
      instrument: ref.id, side, type, quantity: qty, price: px, clientOrderId: coid,
      timeInForce: type === "limit" && tif !== undefined ? TIME_IN_FORCE[tif] : undefined, postOnly: type === "limit" && postOnly ? true : undefined,
      selfTradePrevention: params.selfTradePrevention,
    };
    const intent: OrderIntent = { market: m, side, type, timeInForce: type === "limit" ? (postOnly ? "PO" : tif ?? "GTC") : undefined, postOnly: type === "limit" ? postOnly : false, priceUnits: px, triggerUnits: undefined, amountUnits: qty };
    return { request, intent };
  }

  /**
   * Cancels an open order by id (or `params.clientOrderId`); resolves with it as cancelled.
   * OrderNotFound for an order that is not open (the message says how it ended, when known).
   */
  async cancelOrder(id: string, symbol?: string, params: CancelOrderParams = {}): Promise<Order> {
    if (symbol !== undefined) await this.marketOf(symbol);
    for (const k of Object.keys(params)) if (k !== "clientOrderId") throw new NotSupported(`cancelOrder: param ${JSON.stringify(k)} is not supported`);
    const ref = params.clientOrderId !== undefined ? { clientOrderId: params.clientOrderId } : orderIdOf(id);
    const name = typeof ref === "number" ? `order ${ref}` : `the order with clientOrderId ${ref.clientOrderId}`;
    const [trading, feed] = await Promise.all([this.tradingClient(), this.reportFeed()]);
    const { seq } = await this.call(() => trading.cancel(ref));
    await this.reportsOf(feed, seq, `the cancel of ${name}`);
    const refused = this.book.rejectionOf(seq);
    if (refused !== undefined) throw notCancellable(refused.code, refused.st, name);
    const s = typeof ref === "number" ? this.book.orders.get(ref) : [...this.book.orders.values()].find((o) => o.coid === ref.clientOrderId);
    if (s === undefined) throw new OrderNotFound(`${name} was cancelled but is not one this adapter has seen`);
    return orderOf(s);
  }

  /**
   * Sets an open limit order's price and amount (CCXT's total amount: the new open quantity is
   * amount − filled as this adapter knows it; omit either to keep it). The order keeps its id,
   * type and side; time priority follows docs/engine.md.
   */
  async editOrder(id: string, symbol: string, type: "limit" | "market", side: Side, amount?: number | string, price?: number | string, params: Record<string, never> = {}): Promise<Order> {
    const m = await this.marketOf(symbol);
    if (Object.keys(params).length > 0) throw new NotSupported(`editOrder takes no params (${Object.keys(params).join(", ")} given)`);
    const oid = orderIdOf(id);
    const [trading, feed] = await Promise.all([this.tradingClient(), this.reportFeed()]);
    const s = this.book.orders.get(oid);
    if (s === undefined || s.intent === undefined || orderOf(s).status !== "open") throw new OrderNotFound(`order ${id} is not an open order this adapter knows (place it here or list it with fetchOpenOrders first)`);
    if (s.intent.market !== m || s.intent.type !== type || s.intent.side !== side) throw new InvalidOrder(`order ${id} is a ${s.intent.type} ${s.intent.side} on ${s.intent.market.symbol}: editOrder cannot change that`);
    if (type !== "limit") throw new InvalidOrder("only resting limit orders can be edited");
    const ref = m.info;
    const px = price === undefined ? s.priceUnits! : this.decimal(() => stepUnits(price, ref.priceScale, ref.tickUnits, ref.tickSize, "price"));
    const total = amount === undefined ? s.amountUnits! : this.decimal(() => stepUnits(amount, ref.qtyScale, ref.lotUnits, ref.lotSize, "amount"));
    if (total <= s.cum) throw new InvalidOrder(`amount ${String(amount)} is not more than the ${orderOf(s).filled} already filled`);
    const { seq } = await this.call(() => trading.modify(oid, px, total - s.cum));
    await this.reportsOf(feed, seq, `the edit of order ${id}`);
    const refused = this.book.rejectionOf(seq);
    if (refused !== undefined) throw fromEngineReason(refused.code, `the engine refused the edit of order ${id}`);
    return orderOf(s);
  }

  /** The account's open orders from REST (every replica answers the same at a seq); `symbol` filters. */
  async fetchOpenOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    const m = symbol === undefined ? undefined : await this.marketOf(symbol);
    if (since !== undefined) throw new NotSupported("fetchOpenOrders: since: Lockstep's orders carry no time");
    await this.loadMarkets();
    this.requireAccount("fetchOpenOrders");
    const r = await this.call(() => this.rest.openOrders());
    const seeded = new OrderBookkeeper(() => undefined, () => undefined);
    for (const o of r.orders) {
      const om = this.marketsByInstrument.get(o.instrument);
      if (om !== undefined && (m === undefined || om === m)) seeded.seed(o, om);
    }
    const orders = [...seeded.orders.values()].map(orderOf);
    return limit === undefined ? orders : orders.slice(0, limit);
  }

  // ---- watch -----------------------------------------------------------------------------

  /** CCXT Pro: the book after its next update (the first call: once the snapshot has arrived), checksum-verified. */
  async watchOrderBook(symbol: string, limit?: number): Promise<OrderBook> {
    const m = await this.marketOf(symbol);
    const s = this.streamOf(m);
    await s.ready;
    if (s.bookWaiters.length >= WATCH_WAITERS_MAX) throw new ExchangeError(`more than ${WATCH_WAITERS_MAX} calls wait on ${m.symbol}'s book`);
    return new Promise((resolve, reject) => s.bookWaiters.push({ limit, resolve, reject }));
  }

  /** CCXT Pro: public trades of `symbol` since the previous call (at least one), oldest first. */
  async watchTrades(symbol: string): Promise<Trade[]> {
    const m = await this.marketOf(symbol);
    const s = this.streamOf(m);
    await s.ready;
    return s.trades.next();
  }

  /** CCXT Pro: orders of the account updated since the previous call (each as it stood after the update); `symbol` filters. */
  async watchOrders(symbol?: string): Promise<Order[]> {
    const key = symbol === undefined ? "" : (await this.marketOf(symbol)).symbol;
    const q = queueOf(this.orderQueues, key);
    await this.reportFeed();
    return q.next();
  }

  /** CCXT Pro: fills of the account's orders since the previous call; `symbol` filters. */
  async watchMyTrades(symbol?: string): Promise<Trade[]> {
    const key = symbol === undefined ? "" : (await this.marketOf(symbol)).symbol;
    const q = queueOf(this.fillQueues, key);
    await this.reportFeed();
    return q.next();
  }

  /** Closes every connection; calls still waiting reject with ExchangeClosedByUser. */
  async close(): Promise<void> {
    this.closed = true;
    const e = new ExchangeClosedByUser("the exchange was closed");
    for (const s of this.streams.values()) {
      s.feed.close();
      for (const w of s.bookWaiters.splice(0)) w.reject(e);
      s.trades.fail(e);
    }
    this.streams.clear();
    for (const q of [...this.orderQueues.values(), ...this.fillQueues.values()]) q.fail(e);
    const reports = this.reports;
    const trading = this.trading;
    this.reports = this.trading = null;
    await Promise.allSettled([reports?.then((f) => f.close()), trading?.then((t) => t.close())]);
  }

  // ---- connections -----------------------------------------------------------------------

  private requireAccount(what: string): number {
    if (this.o.account === undefined) throw new AuthenticationError(`${what} needs options.account`);
    return this.o.account;
  }

  private tradingClient(): Promise<TradingClient> {
    const account = this.requireAccount("trading");
    const urls = typeof this.o.trade === "string" ? [this.o.trade] : this.o.trade ?? [];
    if (urls.length === 0) return Promise.reject(new BadRequest("trading needs options.trade (the sequencer's /trade URL)"));
    this.trading ??= TradingClient.connectAny(urls, account, this.timeoutMs, this.o.credentials).catch((err: unknown) => {
      this.trading = null;
      throw fromWireError(err);
    });
    return this.trading;
  }

  /**
   * The account's report feed: first REST's open orders (the orders as of its seq S), then
   * reports from S + 1 on, so every order is known once and nothing is applied twice.
   */
  private reportFeed(): Promise<FeedClient> {
    const account = this.requireAccount("following orders");
    if (this.closed) return Promise.reject(new ExchangeClosedByUser("the exchange was closed"));
    this.reports ??= (async () => {
      await this.loadMarkets();
      const open = await this.call(() => this.rest.openOrders());
      for (const o of open.orders) {
        const m = this.marketsByInstrument.get(o.instrument);
        if (m !== undefined) this.book.seed(o, m);
      }
      const feed = new FeedClient({ urls: this.feedUrls(), account, credentials: this.o.credentials, reportsAfterSeq: open.seq, onReport: (r) => this.book.apply(r) });
      await this.call(() => feed.connect());
      return feed;
    })().catch((err: unknown) => {
      this.reports = null;
      throw fromWireError(err);
    });
    return this.reports;
  }

  private feedUrls(): readonly string[] {
    const urls = this.o.feeds ?? [];
    if (urls.length === 0) throw new BadRequest("watching and trading need options.feeds (replicas' /feed URLs)");
    return urls;
  }

  /** Waits for every report of command `seq`; RequestTimeout when they do not come in time (the command is in the log). */
  private async reportsOf(feed: FeedClient, seq: number, what: string): Promise<void> {
    await feed.caughtUp(seq, this.timeoutMs);
    const last = feed.lastReport;
    if (last.seq > seq || (last.seq === seq && last.done)) return;
    throw new RequestTimeout(`${what} was sequenced (seq ${seq}) but its execution reports did not arrive within ${this.timeoutMs} ms; watchOrders will show how it ends`);
  }

  private streamOf(m: Market): MarketStream {
    const had = this.streams.get(m.symbol);
    if (had !== undefined) return had;
    if (this.closed) throw new ExchangeClosedByUser("the exchange was closed");
    const trades = new UpdateQueue<Trade>();
    const bookWaiters: MarketStream["bookWaiters"] = [];
    const feed = new FeedClient({
      urls: this.feedUrls(), instrument: m.numericId, credentials: this.o.credentials,
      onBook: (b) => this.onBook(m, b, bookWaiters), onTrade: (t) => this.onTrade(m, t, trades),
      onChecksumMismatch: () => { this.stats.checksumMismatches++; },
    });
    const ready = feed.connect().catch((err: unknown) => {
      this.streams.delete(m.symbol);
      throw fromWireError(err);
    });
    const s: MarketStream = { feed, bookWaiters, trades, ready };
    this.streams.set(m.symbol, s);
    return s;
  }

  // ---- events ----------------------------------------------------------------------------

  private onBook(m: Market, b: LocalBook, waiters: MarketStream["bookWaiters"]): void {
    if (waiters.length === 0) return;
    const all = b.top();
    const cs = b.checksum();
    for (const w of waiters.splice(0)) {
      const n = w.limit ?? Number.MAX_SAFE_INTEGER;
      w.resolve(bookOf(m, b.seq, cs, all.bids.slice(0, n), all.asks.slice(0, n)));
    }
  }

  private onTrade(m: Market, t: TradeMsg, q: UpdateQueue<Trade>): void {
    this.pushCounted(q, publicTradeOf(m, t));
  }

  private onOrder(s: OrderState): void {
    if (this.orderQueues.size === 0) return;
    const order = orderOf(s);
    this.pushKeyed(this.orderQueues, order.symbol, order);
  }

  private onFill(s: OrderState, r: Report): void {
    if (this.fillQueues.size === 0) return;
    const trade = fillOf(s, r);
    if (trade !== undefined) this.pushKeyed(this.fillQueues, trade.symbol, trade);
  }

  private pushKeyed<T>(queues: Map<string, UpdateQueue<T>>, symbol: string | undefined, item: T): void {
    const all = queues.get("");
    if (all !== undefined) this.pushCounted(all, item);
    const one = symbol === undefined ? undefined : queues.get(symbol);
    if (one !== undefined) this.pushCounted(one, item);
  }

  private pushCounted<T>(q: UpdateQueue<T>, item: T): void {
    const before = q.dropped;
    q.push(item);
    this.stats.watchItemsDropped += q.dropped - before;
  }
}

function queueOf<T>(queues: Map<string, UpdateQueue<T>>, key: string): UpdateQueue<T> {
  let q = queues.get(key);
  if (q === undefined) queues.set(key, (q = new UpdateQueue<T>()));
  return q;
}

const SEPARATED = /^([A-Za-z0-9.]+)[-_/]([A-Za-z0-9.]+)$/;

/** An instrument's reference data as a CCXT market (TICK_SIZE precision; no fees). */
export function marketOf(ref: InstrumentRef): Market {
  const parts = SEPARATED.exec(ref.symbol);
  const base = parts === null ? ref.symbol : parts[1]!;
  const quote = parts === null ? undefined : parts[2]!;
  return {
    id: ref.symbol, symbol: quote === undefined ? ref.symbol : `${base}/${quote}`, base, quote, baseId: base, quoteId: quote, numericId: ref.id,
    active: ref.status === "open", type: "spot", spot: true, margin: false, swap: false, future: false, option: false, contract: false,
    precision: { amount: Number(ref.lotSize), price: Number(ref.tickSize) },
    limits: {
      amount: { min: Number(ref.qtyMin), max: Number(ref.qtyMax) }, price: { min: Number(ref.priceMin), max: Number(ref.priceMax) },
      cost: { min: undefined, max: undefined },
    },
    maker: undefined, taker: undefined, info: ref,
  };
}

function bookOf(m: Market, seq: number, checksum: number, bids: readonly (readonly [number, number])[], asks: readonly (readonly [number, number])[]): OrderBook {
  const exactBids = levelsToDecimal(m.info, bids);
  const exactAsks = levelsToDecimal(m.info, asks);
  const levels = (l: [string, string][]): [number, number][] => l.map(([p, q]) => [Number(p), Number(q)]);
  return { symbol: m.symbol, bids: levels(exactBids), asks: levels(exactAsks), timestamp: undefined, datetime: undefined, nonce: seq, info: { seq, checksum, bids: exactBids, asks: exactAsks } };
}

/** An order id as CCXT passes it (a string of digits); OrderNotFound for anything else. */
function orderIdOf(id: unknown): number {
  if (typeof id !== "string" || !ORDER_ID.test(id) || !Number.isSafeInteger(Number(id))) throw new OrderNotFound(`${JSON.stringify(id)} is not a Lockstep order id (a decimal integer ≥ 1, as a string)`);
  return Number(id);
}

/** Why a cancel was refused: OrderNotFound, saying how the order ended when the engine says. */
function notCancellable(code: number, st: number, name: string): BaseError {
  const e = fromEngineReason(code, `${name} is not open`);
  if (!(e instanceof OrderNotFound)) return e;
  const ended = st === EngineStatus.FILLED ? "filled" : st === EngineStatus.CANCELLED ? "cancelled" : st === EngineStatus.EXPIRED ? "expired" : undefined;
  return ended === undefined ? e : new OrderNotFound(`UNKNOWN_ORDER: ${name} is ${ended}: too late to cancel`, { code, reason: e.reason });
}
