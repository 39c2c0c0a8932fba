/** Public surface of the engine. Everything else under src/engine is internal. */
export { Engine, validateInstrument } from "./engine.js";
export type { EngineOptions } from "./engine.js";
export type { Depth, EngineSnapshot, OrderView, SnapshotRow } from "./engine.js";
export type { Command, LimitCommand, MarketCommand, StopCommand, OcoCommand, CancelCommand, ModifyCommand, CancelAllCommand } from "./commands.js";
export { StateHasher } from "./hash.js";
export { CancelReason, NullListener, OrderKind, Reason, REASON_NAME, REASON_TEXT, Side, Stp, Tif } from "./types.js";
export type { EngineListener, InstrumentConfig } from "./types.js";
export { EventRecorder } from "./recorder.js";
export type { EngineEvent } from "./recorder.js";
