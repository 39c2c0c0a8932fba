/** Public surface of the engine. Everything else under src/engine is internal. */
export { Engine, RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT, validateInstrument } from "./engine.js";
export type { EngineOptions } from "./engine.js";
export type { Depth, EngineSnapshot, FinishedRow, OrderView, SnapshotRow } from "./engine.js";
export type { Command, LimitCommand, MarketCommand, StopCommand, OcoCommand, CancelCommand, ModifyCommand, CancelAllCommand } from "./commands.js";
export { StateHasher } from "./hash.js";
export {
  CancelReason, CLIENT_ORDER_ID_LENGTH_MAX, isClientOrderId, NullListener, ORDER_STATUS_NAME, OrderKind, OrderStatus, Reason, REASON_NAME, REASON_TEXT, Side, Stp, Tif,
} from "./types.js";
export type { EngineListener, InstrumentConfig } from "./types.js";
export { EventRecorder } from "./recorder.js";
export type { EngineEvent } from "./recorder.js";
