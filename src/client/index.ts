/** Public surface of the client SDK. */
export { LockstepError, TradingClient, type Credentials } from "./trading.js";
export { FeedClient, LocalBook, type FeedOptions } from "./feed.js";
export {
  executionReportOf, OrderSide, OrderType, SelfTradePrevention, TimeInForce,
  type ExecutionKind, type ExecutionReport, type OrderRef, type OrderRequest,
} from "./codec.js";
