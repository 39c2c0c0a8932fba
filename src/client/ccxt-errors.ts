/**
 * CCXT's error classes, the few the adapter throws, with CCXT's names and hierarchy (CCXT
 * Manual, "Error Handling"): code that catches `ccxt.InvalidOrder` or `ccxt.NetworkError`
 * catches these by the same names. Each carries the Lockstep reason behind it when there is one
 * (`reason`: the engine's or the wire's reason name, `code` its number) and the original error
 * as `cause`. `fromWireError` and `fromEngineReason` are the only places that choose a class.
 */
import { Reason, REASON_NAME } from "../engine/index.js";
import { WireReason, WIRE_REASON_NAME } from "../protocol/messages.js";
import { LockstepError } from "./trading.js";

export interface ErrorDetail {
  /** The Lockstep reason code: an engine Reason (REJECTED reports) or a WireReason (REJECT, REST). */
  readonly code?: number;
  readonly reason?: string;
  readonly cause?: unknown;
}

export class BaseError extends Error {
  readonly code: number | undefined;
  readonly reason: string | undefined;
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.name = new.target.name;
    this.code = detail.code;
    this.reason = detail.reason;
  }
}
export class ExchangeError extends BaseError {}
export class AuthenticationError extends ExchangeError {}
export class BadRequest extends ExchangeError {}
export class BadSymbol extends BadRequest {}
export class NotSupported extends ExchangeError {}
export class ExchangeClosedByUser extends ExchangeError {}
export class InvalidOrder extends ExchangeError {}
export class OrderNotFound extends InvalidOrder {}
export class OrderImmediatelyFillable extends InvalidOrder {}
export class OrderNotFillable extends InvalidOrder {}
export class DuplicateOrderId extends InvalidOrder {}
export class NetworkError extends BaseError {}
export class RequestTimeout extends NetworkError {}
export class ExchangeNotAvailable extends NetworkError {}
export class RateLimitExceeded extends NetworkError {}

type ErrorClass = new (message: string, detail?: ErrorDetail) => BaseError;

/** What the engine's refusal of a command means in CCXT's words. */
const ENGINE_REASON_CLASS: Readonly<Partial<Record<Reason, ErrorClass>>> = {
  [Reason.UNKNOWN_INSTRUMENT]: BadSymbol,
  [Reason.UNKNOWN_ORDER]: OrderNotFound,
  [Reason.NOT_OWNER]: OrderNotFound,
  [Reason.POST_ONLY_WOULD_CROSS]: OrderImmediatelyFillable,
  [Reason.FOK_NOT_FILLABLE]: OrderNotFillable,
  [Reason.NO_LIQUIDITY]: OrderNotFillable,
  [Reason.DUPLICATE_CLIENT_ORDER_ID]: DuplicateOrderId,
};

/** An engine refusal (a REJECTED report's `code`); every reason not listed is InvalidOrder. */
export function fromEngineReason(code: number, message: string): BaseError {
  const reason = REASON_NAME[code as Reason] ?? `reason ${code}`;
  const Class = ENGINE_REASON_CLASS[code as Reason] ?? InvalidOrder;
  return new Class(`${reason}: ${message}`, { code, reason });
}

/** What a refusal before sequencing (REJECT on /trade, a REST error) means in CCXT's words. */
const WIRE_REASON_CLASS: Readonly<Partial<Record<WireReason, ErrorClass>>> = {
  [WireReason.UNKNOWN_INSTRUMENT]: BadSymbol,
  [WireReason.NOT_AUTHENTICATED]: AuthenticationError,
  [WireReason.NOT_LOGGED_IN]: AuthenticationError,
  [WireReason.RATE_LIMITED]: RateLimitExceeded,
  [WireReason.NOT_LEADER]: ExchangeNotAvailable,
  [WireReason.OVERLOADED]: ExchangeNotAvailable,
  [WireReason.STORAGE_UNAVAILABLE]: ExchangeNotAvailable,
  [WireReason.MISSING_FIELD]: InvalidOrder,
  [WireReason.OUT_OF_RANGE]: InvalidOrder,
  [WireReason.UNKNOWN_FIELD]: InvalidOrder,
  [WireReason.FIELD_NOT_APPLICABLE]: InvalidOrder,
  [WireReason.NOT_FOUND]: BadRequest,
};

/**
 * A LockstepError (REJECT, RestError) as a CCXT error; code 0 (the connection closed before the
 * answer) is a NetworkError, and so is any other failure to reach a node.
 */
export function fromWireError(err: unknown): BaseError {
  if (err instanceof BaseError) return err;
  if (err instanceof LockstepError) {
    const code = err.code;
    if (code === 0) return new NetworkError(err.message, { cause: err });
    const Class = WIRE_REASON_CLASS[code as WireReason] ?? ExchangeError;
    return new Class(err.message, { code, reason: WIRE_REASON_NAME[code as WireReason], cause: err });
  }
  return new NetworkError(err instanceof Error ? err.message : String(err), { cause: err });
}
