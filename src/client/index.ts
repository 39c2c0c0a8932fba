/** Public surface of the client SDK. */
export { LockstepError, TRADE_SILENCE_MS_MAX, TradingClient, type Credentials, type TradeLinkOptions } from "./trading.js";
export { FeedClient, LocalBook, type FeedOptions } from "./feed.js";
export { RestClient, RestError, type RestOptions, type BookResponse, type OrdersResponse, type RestOrder, type RestTrade, type TradesResponse } from "./rest.js";
export { levelsToDecimal, orderFromDecimal, type DecimalOrderRequest } from "./decimal.js";
export {
  DecimalError, fromDecimal, instrumentRef, priceDecimal, priceUnits, qtyDecimal, qtyUnits, toDecimal, type InstrumentRef,
} from "../protocol/reference.js";
export {
  executionReportOf, OrderSide, OrderType, SelfTradePrevention, TimeInForce,
  type ExecutionKind, type ExecutionReport, type OrderRef, type OrderRequest,
} from "./codec.js";
/** The CCXT-shaped adapter (docs/ccxt.md): `ccxt.LockstepExchange` and CCXT's error classes by name (`ccxt.InvalidOrder`, …). */
export * as ccxt from "./ccxt.js";
export { LockstepExchange, type LockstepExchangeOptions } from "./ccxt.js";
export {
  instrumentFeed, orderId, parseOrderId, ShardFeeds, ShardedTradingClient, ShardRouteError, ShardRouteReason,
  type ShardedAck, type ShardedClientOptions, type ShardedOrderId, type ShardedOrderRef, type ShardFeedOptions,
} from "./sharded.js";
