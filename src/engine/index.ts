/** Public surface of the engine. Everything else under src/engine is internal. */
export { Engine, IMPORTED_ID_BASE, IMPORTED_ID_END, RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT, validateInstrument } from "./engine.js";
export type { EngineOptions } from "./engine.js";
export type { Depth, EngineSnapshot, FinishedRow, OrderView, SnapshotMove, SnapshotRow } from "./engine.js";
export { bookHashOf, isBookHash, isShardName, MOVE_ORDERS_MAX, SHARD_NAME_LENGTH_MAX } from "./move.js";
export type { BookExport, MoveRow } from "./move.js";
export type {
  Command, LimitCommand, MarketCommand, StopCommand, OcoCommand, CancelCommand, ModifyCommand, CancelAllCommand,
  MoveCommand, ClaimCommand, HaltCommand, ResumeCommand, ReleaseCommand, ImportBeginCommand, ImportOrderCommand, ImportOrdersCommand, ImportRow, ImportEndCommand, ImportAbortCommand,
} from "./commands.js";
export { StateHasher } from "./hash.js";
export {
  CancelReason, CLIENT_ORDER_ID_LENGTH_MAX, INSTRUMENT_MODE_NAME, InstrumentMode, isClientOrderId, NullListener, ORDER_STATUS_NAME, OrderKind, OrderStatus, Reason, REASON_NAME, REASON_TEXT, Side, Stp, Tif,
} from "./types.js";
export type { EngineListener, InstrumentConfig } from "./types.js";
export { EventRecorder } from "./recorder.js";
export type { EngineEvent } from "./recorder.js";
