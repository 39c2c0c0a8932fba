/**
 * Order ids a gateway's clients see (docs/protocol.md#order-ids-through-a-gateway): one integer
 * per order, unique across shards, computed from the shard's own id and the shard's number
 * alone, so every gateway maps an id the same way and none keeps a table of them.
 *
 * A shard's order id is the seq of its NEW, plus 2^52 for an OCO's stop leg
 * (OCO_STOP_LEG_ID_OFFSET). Through a gateway the same order is
 *
 *     id = shard × 2^47 + leg × 2^46 + seq       shard 0 … 63, leg 0 or 1, seq 1 … 2^46 − 1
 *
 * which is at most 63 × 2^47 + 2^47 − 1 = 2^53 − 1: a safe integer, as every integer on the wire
 * is. `shard` is the shard's position in the shard map's `shards` list (SHARDS_MAX = 64 fit in
 * 6 bits). The price is the seq's range: 2^46 − 1 (about 7 × 10^13) commands per shard, 22
 * years at 100,000 commands a second; an order whose seq is beyond it cannot be named through a
 * gateway (the gateway says so, and the order stays reachable on its shard directly).
 *
 * Pure functions of integers, with no state: test/gateway-ids.test.ts checks the round trip by
 * properties.
 */
import { OCO_STOP_LEG_ID_OFFSET } from "../protocol/command.js";
import { SHARDS_MAX } from "../shard/rendezvous.js";

/** The shard's number sits above this bit: 2^47. */
export const SHARD_ID_UNIT = 2 ** 47;
/** An OCO stop leg's id through a gateway has this bit: 2^46. */
export const GATEWAY_STOP_LEG_UNIT = 2 ** 46;
/** The highest seq whose orders a gateway can name: 2^46 − 1. */
export const GATEWAY_SEQ_MAX = GATEWAY_STOP_LEG_UNIT - 1;

/** A shard's own order id (`raw`, as its sequencer and replicas name the order) and the shard's number. */
export interface ShardOrder {
  readonly shard: number;
  readonly raw: number;
}

/** The id a gateway's client sees for order `raw` of shard number `shard`, or null when `raw` is out of the range a gateway can name. */
export function gatewayOrderId(shard: number, raw: number): number | null {
  if (!Number.isInteger(shard) || shard < 0 || shard >= SHARDS_MAX) return null;
  const leg = raw > OCO_STOP_LEG_ID_OFFSET ? 1 : 0;
  const seq = raw - leg * OCO_STOP_LEG_ID_OFFSET;
  if (!Number.isSafeInteger(raw) || seq < 1 || seq > GATEWAY_SEQ_MAX) return null;
  return shard * SHARD_ID_UNIT + leg * GATEWAY_STOP_LEG_UNIT + seq;
}

/** The shard number and the shard's own id of a gateway order id, or null when `id` is not one (0, negative, not a safe integer). */
export function shardOrderOf(id: number): ShardOrder | null {
  if (!Number.isSafeInteger(id) || id < 1) return null;
  const shard = Math.floor(id / SHARD_ID_UNIT);
  const rest = id - shard * SHARD_ID_UNIT;
  const leg = rest >= GATEWAY_STOP_LEG_UNIT ? 1 : 0;
  const seq = rest - leg * GATEWAY_STOP_LEG_UNIT;
  if (seq < 1) return null;
  return { shard, raw: seq + leg * OCO_STOP_LEG_ID_OFFSET };
}
