/** Public surface of the client SDK. */
export { LockstepError, TradingClient, type Credentials, type OrderRequest } from "./trading.js";
export { FeedClient, LocalBook, type FeedOptions } from "./feed.js";
