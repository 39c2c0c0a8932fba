/**
 * Hostile frames for fuzzing the protocol: random bytes, valid frames with bytes flipped,
 * truncated or extended, and well-formed maps whose fields hold anything at all (huge and
 * negative numbers, floats, strings, nested maps and arrays, binary). Shared by `npm run fuzz`
 * (millions of frames) and the short version in the tests.
 */
import fc from "fast-check";
import { encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION } from "../src/protocol/messages.js";

const v = PROTOCOL_VERSION;
const validFrame = fc.oneof(
  fc.record({ v: fc.constant(v), t: fc.constant(MsgType.NEW), cid: fc.nat(), inst: fc.constant(1), side: fc.constantFrom(0, 1), ord: fc.constant(0), px: fc.integer({ min: 1, max: 1_000_000 }), qty: fc.integer({ min: 1, max: 1000 }) }),
  fc.record({ v: fc.constant(v), t: fc.constant(MsgType.CANCEL), cid: fc.nat(), oid: fc.integer({ min: 1, max: 1e9 }) }),
  fc.record({ v: fc.constant(v), t: fc.constant(MsgType.MODIFY), cid: fc.nat(), oid: fc.integer({ min: 1, max: 1e9 }), px: fc.integer({ min: 1, max: 1e6 }), qty: fc.integer({ min: 1, max: 1e6 }) }),
).map((m) => encode(m));

const mutated = fc.tuple(validFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.constantFrom("flip", "truncate", "append")).map(([frame, edits, how]) => {
  const b = Buffer.from(frame);
  if (how === "truncate") return b.subarray(0, edits[0]![0] % Math.max(1, b.length));
  if (how === "append") return Buffer.concat([b, Buffer.from(edits.map(([, x]) => x))]);
  for (const [at, x] of edits) b[at % b.length] = x;
  return b;
});

const FIELDS = ["v", "t", "cid", "inst", "side", "ord", "px", "qty", "tif", "po", "stp", "spx", "oid", "acct", "from"];
const hostileValue = fc.oneof(
  fc.integer(), fc.double(), fc.constantFrom(2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, -1, 0, Infinity, -Infinity, NaN),
  fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 8 }),
  fc.anything({ maxDepth: 3, maxKeys: 4 }),
);
const hostileMap = fc.record({
  base: fc.record({ v: fc.oneof(fc.constant(v), hostileValue), t: fc.oneof(fc.constantFrom(...Object.values(MsgType)), hostileValue) }),
  extra: fc.dictionary(fc.constantFrom(...FIELDS), hostileValue, { maxKeys: 8 }),
}).map(({ base, extra }) => {
  try {
    return encode({ ...extra, ...base });
  } catch {
    return encode({ v: "not encodable" });
  }
});

/** Any hostile frame (a few are valid by chance; the fuzzers check that against the validator). */
export const hostileFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 3, arbitrary: mutated },
  { weight: 4, arbitrary: hostileMap },
);
