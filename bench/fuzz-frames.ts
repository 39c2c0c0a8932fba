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

const FIELDS = ["v", "t", "cid", "inst", "side", "ord", "px", "qty", "tif", "po", "stp", "spx", "slpx", "coid", "oid", "acct", "from"];
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

// ---- structure-aware frames ---------------------------------------------------------------
// Maps assembled byte by byte, so that they can hold what no encoder writes: a key twice, nil,
// floats holding integral values, integers in wider encodings than needed, extension types,
// invalid UTF-8, wrong entry counts. Each starts from a valid message and changes one thing
// (or nothing), so most frames reach deep into the gate instead of failing at the first byte.

type Entry = readonly [string, Uint8Array];

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const be = (n: bigint, width: number): number[] => Array.from({ length: width }, (_, i) => Number((BigInt.asUintN(width * 8, n) >> BigInt(8 * (width - 1 - i))) & 0xffn));
const f64 = (x: number): Uint8Array => { const b = Buffer.alloc(9); b[0] = 0xcb; b.writeDoubleBE(x, 1); return b; };
const f32 = (x: number): Uint8Array => { const b = Buffer.alloc(5); b[0] = 0xca; b.writeFloatBE(x, 1); return b; };
const str = (s: string): Uint8Array => encode([s]).subarray(1);

/** Integers at every width boundary, in their canonical encodings and in wider ones. */
const BOUNDARY = [0, 1, -1, 2, 127, 128, 255, 256, -32, -33, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 1_000_000, 1_000_001];
const intValue: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(...BOUNDARY).map((n) => encode([n]).subarray(1)),
  fc.integer({ min: 0, max: 1_000_000 }).map((n) => encode([n]).subarray(1)),
  fc.tuple(fc.constantFrom(...BOUNDARY), fc.constantFrom<[number, number]>([0xcf, 8], [0xd3, 8], [0xce, 4], [0xd2, 4])).map(([n, [op, w]]) => bytes(op, ...be(BigInt(n), w))),
  fc.constantFrom(2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, -(2n ** 53n), -(2n ** 63n)).map((n) => bytes(n < 0n ? 0xd3 : 0xcf, ...be(n, 8))),
);
const otherValue: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(bytes(0xc0)), // nil
  fc.constantFrom(1, 100, 0, -0, 1.5, 2 ** 53, NaN, Infinity).map(f64),
  fc.constantFrom(1, 100, 0, -0, 0.5).map(f32),
  fc.boolean().map((b) => bytes(b ? 0xc3 : 0xc2)),
  fc.string({ maxLength: 12 }).map(str),
  fc.constant(bytes(0xa2, 0xc3, 0x28)), // invalid UTF-8
  fc.uint8Array({ maxLength: 40 }).map((b) => Uint8Array.from([0xc4, b.length, ...b])),
  fc.tuple(fc.integer({ min: -128, max: 127 }), fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8)).map(([type, op]) => bytes(op, type & 0xff, ...new Array<number>(2 ** (op - 0xd4)).fill(7))),
  fc.constant(bytes(0xc7, 0x03, 0xff, 1, 2, 3)), // ext8, type -1 (a timestamp)
  fc.constant(bytes(0x92, 0x01, 0x02)), // array
  fc.constant(bytes(0x81, 0xa1, 0x61, 0x01)), // map
  fc.constant(bytes(0xc1)), // never used
);
const anyValue = fc.oneof({ weight: 3, arbitrary: intValue }, { weight: 4, arbitrary: otherValue });

const int = (n: number): Uint8Array => encode([n]).subarray(1);
const e = (k: string, n: number | boolean | Uint8Array): Entry => [k, typeof n === "number" ? int(n) : typeof n === "boolean" ? bytes(n ? 0xc3 : 0xc2) : n];

/** Valid client messages of every kind (orders of each type with their optional fields). */
const validEntries: fc.Arbitrary<Entry[]> = fc.tuple(fc.nat({ max: 2 ** 40 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 50 }), fc.constantFrom(0, 1)).map(([cid, kind, px, qty, side]) => {
  const head = [e("v", v), e("cid", cid)];
  const coid = str(`c-${px}`);
  switch (kind) {
    case 7: return [...head, e("t", MsgType.NEW), e("inst", 1), e("side", side), e("ord", 3), e("px", px), e("spx", px + 1), e("slpx", px + 2), e("po", true), e("qty", qty), ["coid", coid]];
    case 8: return [...head, e("t", MsgType.NEW), e("inst", 1), e("side", side), e("ord", 1), e("qty", qty), ["coid", coid]];
    case 9: return [...head, e("t", MsgType.CANCEL), ["coid", coid]];
    case 10: return [...head, e("t", MsgType.MODIFY), ["coid", coid], e("px", px), e("qty", qty)];
    case 0: return [...head, e("t", MsgType.NEW), e("inst", 1), e("side", side), e("ord", 0), e("px", px), e("qty", qty)];
    case 1: return [...head, e("t", MsgType.NEW), e("inst", 1), e("side", side), e("ord", 0), e("px", px), e("qty", qty), e("tif", qty % 3), e("po", qty % 2 === 0), e("stp", qty % 4)];
    case 2: return [...head, e("t", MsgType.NEW), e("inst", 1), e("side", side), e("ord", 1), e("qty", qty)];
    case 3: return [...head, e("t", MsgType.NEW), e("inst", 1), e("side", side), e("ord", 2), e("spx", px), e("px", px), e("qty", qty), e("tif", 0)];
    case 4: return [...head, e("t", MsgType.CANCEL), e("oid", px)];
    case 5: return [...head, e("t", MsgType.MODIFY), e("oid", px), e("px", px), e("qty", qty)];
    default: return [...head, e("t", MsgType.KILL)];
  }
});

function assemble(entries: readonly Entry[], count = entries.length): Uint8Array {
  const head = count < 16 ? [0x80 | count] : [0xde, count >> 8, count & 0xff];
  return Buffer.concat([Uint8Array.from(head), ...entries.flatMap(([k, val]) => [str(k), val])]);
}

const KEYS = ["v", "t", "cid", "inst", "side", "ord", "px", "qty", "tif", "po", "stp", "spx", "slpx", "coid", "oid", "acct", "from", "rid", "seq", "__proto__", "constructor"];

/** A valid message with one structural change: a field's value, a field twice, a field added or removed, the entry count, or trailing bytes. */
export const structuredFrame: fc.Arbitrary<Uint8Array> = fc.tuple(validEntries, fc.nat(), anyValue, fc.constantFrom(...KEYS), fc.integer({ min: 0, max: 7 })).map(([entries, at, value, key, how]) => {
  const i = at % entries.length;
  const es = [...entries];
  switch (how) {
    case 0: return assemble(es); // unchanged
    case 1: es[i] = [es[i]![0], value]; return assemble(es);
    case 2: es.push([es[i]![0], value]); return assemble(es); // the same key twice
    case 3: es.splice(at % (es.length + 1), 0, [key, value]); return assemble(es);
    case 4: es.splice(i, 1); return assemble(es);
    case 5: return assemble(es, (es.length + 1 + (at % 3)) & 0x0f); // wrong entry count
    case 6: return Buffer.concat([assemble(es), value]); // bytes after the map
    default: es.reverse(); return assemble(es); // other field order: still valid
  }
});

/** Frames a follower might send on /replicate: SUBSCRIBE and STATUS with hostile values, and client frames. */
export const followerFrame: fc.Arbitrary<Uint8Array> = fc.tuple(fc.constantFrom(MsgType.SUBSCRIBE, MsgType.STATUS, MsgType.PING, MsgType.NEW, 99), fc.nat(), anyValue, fc.constantFrom("rid", "from", "chain", "seq", "ck", "ckh", "t1", "sb", "halt"), fc.boolean()).map(([t, n, value, key, mutate]) => {
  const chain = Uint8Array.from([0xc4, 16, ...new Array<number>(16).fill(0)]);
  const base: Entry[] = t === MsgType.SUBSCRIBE ? [e("v", v), e("t", t), ["rid", str(`f${n % 7}`)], e("from", 1 + (n % 3)), ["chain", chain]]
    : t === MsgType.STATUS ? [e("v", v), e("t", t), ["rid", str("f")], e("seq", [0, 1, 2 ** 53 - 1][n % 3]!), e("ck", 0), ["ckh", str("")]]
    : t === MsgType.PING ? [e("v", v), e("t", t), e("t1", n)]
    : [e("v", v), e("t", t), e("cid", 1)];
  if (mutate) {
    const j = base.findIndex(([k]) => k === key);
    if (j >= 0) base[j] = [key, value];
    else base.push([key, value]);
  }
  return assemble(base);
});
