import fc from "fast-check";
import { Engine, EventRecorder, type Command, type InstrumentConfig } from "../src/engine/index.js";

/** A small instrument so random streams collide often: prices 90..110, qty 1..1000. */
export const INST: InstrumentConfig = { id: 1, symbol: "TEST", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1000, priceMin: 90, priceMax: 110 };

export function newEngine(): { engine: Engine; rec: EventRecorder } {
  const rec = new EventRecorder();
  return { engine: new Engine([INST], rec), rec };
}

/** Mostly valid values with a sprinkle of hostile ones (zero, floats, out of range). */
const price = fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 95, max: 105 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 89, 111, 100.5, -1) });
const qty = fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 1, max: 20 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 1001, 2.5) });
const id = fc.integer({ min: 1, max: 60 });
const account = fc.integer({ min: 1, max: 3 });
const side = fc.constantFrom(0 as const, 1 as const);
const stp = fc.constantFrom(0 as const, 0 as const, 1 as const, 2 as const, 3 as const);
const instrument = fc.oneof({ weight: 40, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(9) });
/**
 * Client order ids: often none, else one of a few (so resends and reuse collide), now and then
 * a malformed one (empty, a space, too long, not a string).
 */
export const coidArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(undefined) },
  { weight: 12, arbitrary: fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h") },
  { weight: 1, arbitrary: fc.constantFrom("", "has space", "x".repeat(37), 7 as unknown as string) },
);
/** A cancel or modify names its order by id, by client id, now and then by both (refused). */
const target = fc.oneof(
  { weight: 6, arbitrary: fc.record({ orderId: id }) },
  { weight: 4, arbitrary: fc.record({ clientOrderId: coidArb.filter((c) => c !== undefined) }) },
  { weight: 1, arbitrary: fc.record({ orderId: id, clientOrderId: fc.constantFrom("a", "b") }) },
);

export const limitArb = fc.record({
  type: fc.constant("limit" as const), instrument, orderId: id, account, side, price, qty,
  tif: fc.constantFrom(0 as const, 0 as const, 0 as const, 1 as const, 2 as const), postOnly: fc.boolean(), stp, clientOrderId: coidArb,
});
export const marketArb = fc.record({ type: fc.constant("market" as const), instrument, orderId: id, account, side, qty, stp, clientOrderId: coidArb });
export const cancelArb = fc.tuple(target, fc.integer({ min: 0, max: 3 })).map(([t, acct]) => ({ type: "cancel" as const, ...t, account: acct }));
export const modifyArb = fc.tuple(target, fc.integer({ min: 0, max: 3 }), price, qty).map(([t, acct, p, q]) => ({ type: "modify" as const, ...t, account: acct, price: p, qty: q }));
export const stopArb = fc.record({
  type: fc.constant("stop" as const), instrument, orderId: id, account, side, stopPrice: price,
  price: fc.oneof(fc.constant(0), price), qty, tif: fc.constantFrom(0 as const, 1 as const, 2 as const), stp, clientOrderId: coidArb,
});
export const ocoArb = fc.record({
  type: fc.constant("oco" as const), instrument, account, side, qty, limitId: id, price, postOnly: fc.boolean(),
  stopId: id, stopPrice: price, stopLimitPrice: fc.oneof(fc.constant(0), price), stp, clientOrderId: coidArb,
});

export const cancelAllArb = fc.record({ type: fc.constant("cancel-all" as const), account: fc.integer({ min: 0, max: 3 }) });

/** Commands both engines support: limit, market, cancel, modify (by id or client id), the kill switch. */
export const basicCommandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 10, arbitrary: limitArb }, { weight: 2, arbitrary: marketArb }, { weight: 4, arbitrary: cancelArb }, { weight: 3, arbitrary: modifyArb },
  { weight: 1, arbitrary: cancelAllArb },
);

/** Every command type, stops, OCO and the kill switch included. */
export const anyCommandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 10, arbitrary: limitArb }, { weight: 2, arbitrary: marketArb }, { weight: 4, arbitrary: cancelArb },
  { weight: 3, arbitrary: modifyArb }, { weight: 2, arbitrary: stopArb }, { weight: 1, arbitrary: ocoArb }, { weight: 1, arbitrary: cancelAllArb },
);
