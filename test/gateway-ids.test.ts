/**
 * Order ids through a gateway (src/gateway/ids.ts): every (shard number, shard order id) a
 * gateway can name maps to one safe integer and back, two different pairs never give the same
 * id, an OCO's two legs stay apart, and what cannot be named (seq beyond 2^46 − 1, shard number
 * beyond the map's limit, 0) is refused rather than wrapped.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GATEWAY_SEQ_MAX, gatewayOrderId, shardOrderOf } from "../src/gateway/ids.js";
import { OCO_STOP_LEG_ID_OFFSET } from "../src/protocol/command.js";
import { SHARD_NUMBER_MAX } from "../src/protocol/validate.js";
import { SHARDS_MAX } from "../src/shard/rendezvous.js";

const shard = fc.integer({ min: 0, max: SHARDS_MAX - 1 });
const seq = fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: GATEWAY_SEQ_MAX }), fc.constantFrom(1, GATEWAY_SEQ_MAX));
/** A shard's own order id: a NEW's seq, or an OCO stop leg's seq + 2^52. */
const raw = fc.tuple(seq, fc.boolean()).map(([s, stop]) => (stop ? s + OCO_STOP_LEG_ID_OFFSET : s));

describe("gateway order ids", () => {
  it("round-trip: shardOrderOf(gatewayOrderId(n, oid)) is (n, oid), and the id is a positive safe integer", () => {
    fc.assert(fc.property(shard, raw, (n, oid) => {
      const id = gatewayOrderId(n, oid);
      expect(id).not.toBeNull();
      expect(Number.isSafeInteger(id) && id! >= 1).toBe(true);
      expect(shardOrderOf(id!)).toEqual({ shard: n, raw: oid });
    }), { seed: 19, numRuns: 20_000 });
  });

  it("distinct pairs give distinct ids", () => {
    fc.assert(fc.property(shard, raw, shard, raw, (n1, o1, n2, o2) => {
      fc.pre(n1 !== n2 || o1 !== o2);
      expect(gatewayOrderId(n1, o1)).not.toBe(gatewayOrderId(n2, o2));
    }), { seed: 20, numRuns: 20_000 });
  });

  it("every positive safe integer with a seq part ≥ 1 decodes to a pair that encodes back to it", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (id) => {
      const p = shardOrderOf(id);
      if (p === null) return;
      expect(gatewayOrderId(p.shard, p.raw)).toBe(id);
    }), { seed: 21, numRuns: 20_000 });
  });

  it("the extremes: the largest id is 2^53 − 1; out of range is refused", () => {
    expect(gatewayOrderId(SHARDS_MAX - 1, GATEWAY_SEQ_MAX + OCO_STOP_LEG_ID_OFFSET)).toBe(Number.MAX_SAFE_INTEGER);
    expect(gatewayOrderId(0, 1)).toBe(1);
    for (const [n, oid] of [[0, 0], [0, GATEWAY_SEQ_MAX + 1], [0, OCO_STOP_LEG_ID_OFFSET], [0, OCO_STOP_LEG_ID_OFFSET + GATEWAY_SEQ_MAX + 1], [SHARDS_MAX, 1], [-1, 1], [0.5, 1], [0, 1.5], [0, -3]] as const) {
      expect(gatewayOrderId(n, oid), `${n}, ${oid}`).toBeNull();
    }
    for (const id of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, 2 ** 47, 2 ** 47 + 2 ** 46]) expect(shardOrderOf(id), String(id)).toBeNull();
    // The gateway's feed takes shard numbers up to the map's limit, and no further.
    expect(SHARD_NUMBER_MAX).toBe(SHARDS_MAX - 1);
  });
});
