/**
 * The wire protocol: every message type round-trips through the codec; every malformed,
 * unknown, wrong-version, missing or out-of-range input is refused with its WireReason code
 * and a message naming the field; sequenced records round-trip for every command type.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode, encode } from "../src/protocol/codec.js";
import { MsgType, OrdType, PROTOCOL_VERSION, WireReason } from "../src/protocol/messages.js";
import { decodeRecord, encodeRecord, RecordError, type SeqRecord } from "../src/protocol/record.js";
import { validateClientFrame, validateFeedFrame, validateFollowerFrame } from "../src/protocol/validate.js";
import { bookChecksum } from "../src/protocol/checksum.js";
import { packSequenced } from "../src/protocol/wire.js";

const INSTRUMENTS = new Set([1]);
const v = PROTOCOL_VERSION;
const newOrder = { v, t: MsgType.NEW, cid: 7, inst: 1, side: 0, ord: OrdType.LIMIT, px: 100, qty: 5 };

describe("codec and validation", () => {
  it("writes a sequenced message (v, t, seq, then the body's fields) byte for byte as encode writes the spread object", () => {
    const value = fc.oneof(fc.maxSafeInteger(), fc.string({ maxLength: 40 }), fc.boolean(), fc.constant(undefined));
    // Keys other than the three of the head and other than array indices (which JavaScript lists
    // before every other key of an object); up to 20 of them, so map16 headers are covered too.
    const key = fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !["v", "t", "seq", "__proto__"].includes(k) && !/^(0|[1-9][0-9]*)$/.test(k));
    const body = fc.dictionary(key, value, { maxKeys: 20 });
    fc.assert(fc.property(fc.nat(255), fc.nat(255), fc.maxSafeInteger(), body, (ver, t, seq, b) => {
      const spread = Buffer.from(encode({ v: ver, t, seq, ...b }));
      expect(Buffer.from(packSequenced(ver, t, seq, b)).equals(spread)).toBe(true);
    }), { numRuns: 500 });
  });

  it("round-trips a valid order and accepts it", () => {
    const back = decode(encode(newOrder));
    expect(back).toEqual(newOrder);
    expect(validateClientFrame(encode(newOrder), INSTRUMENTS)).toEqual({ ok: true, msg: newOrder });
  });

  const bad: [string, unknown, WireReason, RegExp][] = [
    ["not a map", [1, 2, 3], WireReason.MALFORMED, /map/],
    ["wrong version", { ...newOrder, v: 2 }, WireReason.BAD_VERSION, /version/],
    ["unknown type", { ...newOrder, t: 99 }, WireReason.UNKNOWN_TYPE, /99/],
    ["missing qty", { ...newOrder, qty: undefined }, WireReason.MISSING_FIELD, /"qty"/],
    ["float price", { ...newOrder, px: 100.5 }, WireReason.OUT_OF_RANGE, /"px"/],
    ["negative qty", { ...newOrder, qty: -1 }, WireReason.OUT_OF_RANGE, /"qty"/],
    ["side 2", { ...newOrder, side: 2 }, WireReason.OUT_OF_RANGE, /"side"/],
    ["string qty", { ...newOrder, qty: "5" }, WireReason.OUT_OF_RANGE, /"qty"/],
    ["unknown instrument", { ...newOrder, inst: 9 }, WireReason.UNKNOWN_INSTRUMENT, /9/],
    ["limit without price", { ...newOrder, px: undefined }, WireReason.MISSING_FIELD, /"px"/],
    ["stop without stop price", { ...newOrder, ord: OrdType.STOP }, WireReason.MISSING_FIELD, /"spx"/],
    ["market with a price", { ...newOrder, ord: OrdType.MARKET }, WireReason.FIELD_NOT_APPLICABLE, /"px" does not apply to a market order/],
    ["cancel without oid", { v, t: MsgType.CANCEL, cid: 1 }, WireReason.MISSING_FIELD, /"oid" or "coid"/],
    ["cancel with both oid and coid", { v, t: MsgType.CANCEL, cid: 1, oid: 5, coid: "a" }, WireReason.FIELD_NOT_APPLICABLE, /give one/],
    ["modify with neither oid nor coid", { v, t: MsgType.MODIFY, cid: 1, px: 5, qty: 1 }, WireReason.MISSING_FIELD, /"oid" or "coid"/],
    ["cancel by oid with an instrument", { v, t: MsgType.CANCEL, cid: 1, oid: 5, inst: 1 }, WireReason.FIELD_NOT_APPLICABLE, /"inst" goes with "coid" only/],
    ["modify by oid with an instrument", { v, t: MsgType.MODIFY, cid: 1, oid: 5, inst: 1, px: 5, qty: 1 }, WireReason.FIELD_NOT_APPLICABLE, /"inst" goes with "coid" only/],
    ["cancel by coid on an unknown instrument", { v, t: MsgType.CANCEL, cid: 1, coid: "a", inst: 9 }, WireReason.UNKNOWN_INSTRUMENT, /no instrument 9/],
    ["cancel by coid on instrument 0", { v, t: MsgType.CANCEL, cid: 1, coid: "a", inst: 0 }, WireReason.OUT_OF_RANGE, /"inst"/],
    ["empty coid", { ...newOrder, coid: "" }, WireReason.OUT_OF_RANGE, /"coid"/],
    ["coid of 37 characters", { ...newOrder, coid: "x".repeat(37) }, WireReason.OUT_OF_RANGE, /"coid"/],
    ["coid with a space", { ...newOrder, coid: "a b" }, WireReason.OUT_OF_RANGE, /"coid"/],
    ["coid beyond ASCII", { ...newOrder, coid: "é" }, WireReason.OUT_OF_RANGE, /"coid"/],
    ["integer coid", { ...newOrder, coid: 5 }, WireReason.OUT_OF_RANGE, /"coid"/],
    ["ord 4", { ...newOrder, ord: 4 }, WireReason.OUT_OF_RANGE, /"ord"/],
    ["oco without stop price", { ...newOrder, ord: OrdType.OCO }, WireReason.MISSING_FIELD, /"spx" is required for an OCO order/],
    ["oco without price", { ...newOrder, ord: OrdType.OCO, px: undefined, spx: 90 }, WireReason.MISSING_FIELD, /"px"/],
    ["post-only not boolean", { ...newOrder, po: 1 }, WireReason.OUT_OF_RANGE, /"po"/],
    ["misspelt optional field", { ...newOrder, postonly: true }, WireReason.UNKNOWN_FIELD, /"postonly"/],
    ["field of another message type", { v, t: MsgType.CANCEL, cid: 1, oid: 5, px: 3 }, WireReason.UNKNOWN_FIELD, /"px"/],
  ];
  it.each(bad)("%s → its reason code", (_name, msg, code, text) => {
    const r = validateClientFrame(encode(msg as object), INSTRUMENTS);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.text).toMatch(text);
    }
  });

  /** Every row of the applicability table (docs/protocol.md): what each order type refuses. */
  const base = { v, t: MsgType.NEW, cid: 7, inst: 1, side: 0, qty: 5 };
  const refused: [string, object, string][] = [
    ["market", { ord: OrdType.MARKET, tif: 1 }, "tif"], ["market", { ord: OrdType.MARKET, po: true }, "po"],
    ["market", { ord: OrdType.MARKET, px: 100 }, "px"], ["market", { ord: OrdType.MARKET, spx: 100 }, "spx"], ["market", { ord: OrdType.MARKET, slpx: 100 }, "slpx"],
    ["limit", { ord: OrdType.LIMIT, px: 100, spx: 99 }, "spx"], ["limit", { ord: OrdType.LIMIT, px: 100, slpx: 99 }, "slpx"],
    ["stop-market", { ord: OrdType.STOP, spx: 99, tif: 1 }, "tif"], ["stop-market", { ord: OrdType.STOP, spx: 99, po: true }, "po"], ["stop-market", { ord: OrdType.STOP, spx: 99, slpx: 98 }, "slpx"],
    ["stop-limit", { ord: OrdType.STOP, spx: 99, px: 98, po: false }, "po"], ["stop-limit", { ord: OrdType.STOP, spx: 99, px: 98, slpx: 97 }, "slpx"],
    ["OCO", { ord: OrdType.OCO, px: 105, spx: 95, tif: 0 }, "tif"],
  ];
  it.each(refused)("a %s order refuses %j's field, naming it", (type, fields, name) => {
    const r = validateClientFrame(encode({ ...base, ...fields }), INSTRUMENTS);
    expect(r.ok ? null : [r.code, r.text]).toEqual([WireReason.FIELD_NOT_APPLICABLE, `field "${name}" does not apply to ${type === "OCO" ? "an" : "a"} ${type} order`]);
  });
  const accepted: [string, object][] = [
    ["limit with every optional field", { ord: OrdType.LIMIT, px: 100, tif: 2, po: true, stp: 3, coid: "order-1" }],
    ["market with stp and coid", { ord: OrdType.MARKET, stp: 1, coid: "m" }],
    ["stop-market", { ord: OrdType.STOP, spx: 99, stp: 2, coid: "s" }],
    ["stop-limit with tif", { ord: OrdType.STOP, spx: 99, px: 98, tif: 1, coid: "~!{}" }],
    ["oco with every optional field", { ord: OrdType.OCO, px: 105, spx: 95, slpx: 94, po: true, stp: 1, coid: "0e3a1c6e-3f2b-4b8e-9a54-7d1f2c3b4a5d" }],
    ["cancel by coid", { t: MsgType.CANCEL, coid: "x" }],
    ["modify by coid", { t: MsgType.MODIFY, coid: "x", px: 100, qty: 2 }],
    ["cancel by coid on its instrument", { t: MsgType.CANCEL, coid: "x", inst: 1 }],
    ["modify by coid on its instrument", { t: MsgType.MODIFY, coid: "x", inst: 1, px: 100, qty: 2 }],
  ];
  it.each(accepted)("accepts a %s", (_name, fields) => {
    const m = { ...base, ...fields };
    const frame = "t" in fields ? { v, cid: 7, ...fields } : m;
    expect(validateClientFrame(encode(frame), INSTRUMENTS)).toEqual({ ok: true, msg: frame });
  });

  it("undecodable bytes validate as MALFORMED", () => {
    for (const bytes of [Buffer.from([0xc1]), Buffer.from([0x85, 0x01]), Buffer.alloc(0), Buffer.concat([encode(newOrder), Buffer.from([0x01])])]) {
      const r = validateClientFrame(bytes, INSTRUMENTS);
      expect(r.ok ? 0 : r.code).toBe(WireReason.MALFORMED);
    }
  });

  it("never throws on arbitrary bytes or arbitrary MessagePack values", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => { validateClientFrame(b, INSTRUMENTS); validateFeedFrame(b); validateFollowerFrame(b); }), { seed: 1, numRuns: 2000 });
    fc.assert(fc.property(fc.anything(), (x) => { validateClientFrame(encode({ v, t: MsgType.NEW, x } as object), INSTRUMENTS); }), { seed: 2, numRuns: 500 });
  });

  it("feed subscriptions are validated too", () => {
    expect(validateFeedFrame(encode({ v, t: MsgType.SUB_BOOK, inst: 1 })).ok).toBe(true);
    const r = validateFeedFrame(encode({ v, t: MsgType.SUB_REPORTS, acct: 0, from: 0 }));
    expect(r.ok ? 0 : r.code).toBe(WireReason.OUT_OF_RANGE);
  });
});

describe("sequenced records", () => {
  const records: SeqRecord[] = [
    { seq: 1, epoch: 1, tsUs: 1_700_000_000_000_000, cmd: { type: "limit", account: 3, instrument: 1, orderId: 1, side: 0, price: 100, qty: 5, tif: 1, postOnly: true, stp: 2 } },
    { seq: 2, epoch: 1, tsUs: 5, cmd: { type: "market", account: 3, instrument: 1, orderId: 2, side: 1, qty: 5, stp: 0 } },
    { seq: 3, epoch: 2, tsUs: 6, cmd: { type: "stop", account: 3, instrument: 1, orderId: 3, side: 1, stopPrice: 90, price: 0, qty: 5, tif: 0, stp: 0 } },
    { seq: 4, epoch: 2, tsUs: 7, cmd: { type: "cancel", account: 3, orderId: 1 } },
    { seq: 5, epoch: 2, tsUs: 8, cmd: { type: "modify", account: 3, orderId: 1, price: 99, qty: 4 } },
    { seq: 6, epoch: 2, tsUs: 9, cmd: { type: "cancel-all", account: 3 } },
    { seq: 7, epoch: 2, tsUs: 9, cmd: { type: "limit", account: 3, instrument: 1, orderId: 7, side: 0, price: 100, qty: 5, tif: 0, postOnly: false, stp: 0, clientOrderId: "0e3a1c6e-3f2b-4b8e-9a54-7d1f2c3b4a5d" } },
    { seq: 8, epoch: 2, tsUs: 9, cmd: { type: "market", account: 3, instrument: 1, orderId: 8, side: 1, qty: 5, stp: 0, clientOrderId: "!" } },
    { seq: 9, epoch: 2, tsUs: 9, cmd: { type: "stop", account: 3, instrument: 1, orderId: 9, side: 1, stopPrice: 90, price: 89, qty: 5, tif: 2, stp: 1, clientOrderId: "~" } },
    {
      seq: 10, epoch: 2, tsUs: 9,
      cmd: { type: "oco", account: 3, instrument: 1, limitId: 10, side: 1, qty: 5, price: 110, postOnly: true, stopId: 10 + 2 ** 52, stopPrice: 90, stopLimitPrice: 89, stp: 0, clientOrderId: "pair" },
    },
    { seq: 11, epoch: 2, tsUs: 9, cmd: { type: "oco", account: 3, instrument: 1, limitId: 11, side: 0, qty: 5, price: 90, postOnly: false, stopId: 11 + 2 ** 52, stopPrice: 110, stopLimitPrice: 0, stp: 2 } },
    { seq: 12, epoch: 2, tsUs: 9, cmd: { type: "cancel", account: 3, clientOrderId: "pair" } },
    { seq: 13, epoch: 2, tsUs: 9, cmd: { type: "modify", account: 3, clientOrderId: "x".repeat(36), price: 99, qty: 4 } },
    { seq: 14, epoch: 2, tsUs: 9, cmd: { type: "cancel", account: 3, instrument: 2, clientOrderId: "pair" } },
    { seq: 15, epoch: 2, tsUs: 9, cmd: { type: "modify", account: 3, instrument: 1, clientOrderId: "y", price: 99, qty: 4 } },
  ];
  it.each(records)("round-trips a $cmd.type record", (r) => {
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
  });
  it("a client order id costs one byte per character, plus its length (and a wider array header past 15 elements)", () => {
    const plain = records[0]!;
    const named = (coid: string): number => encodeRecord({ ...plain, cmd: { ...plain.cmd, clientOrderId: coid } } as SeqRecord).length;
    expect(named("a") - encodeRecord(plain).length).toBe(2);
    expect(named("abcdef") - named("abc")).toBe(3);
  });
  it("refuses bytes that are not a record", () => {
    expect(() => decodeRecord(encode({ a: 1 }))).toThrow(/not a sequenced command/);
  });
  it("refuses nil, floats, wrong arity and out-of-range flags (a replica halts on them rather than guessing)", () => {
    const head = [1, 1, 5, 3];
    const bad: unknown[][] = [
      [...head, 1, 1, 1, 0, null, 5, 0, 0, 0], // nil price: what a NEW with px: nil once journaled
      [...head, 1, 1, 1, 0, 100, 5, 0, 0],     // one field short
      [...head, 1, 1, 1, 2, 100, 5, 0, 0, 0],  // side 2
      [...head, 1, 1, 1, 0, 100, 5, 0, 2, 0],  // postOnly 2
      [...head, 99],                           // unknown type
      [...head, 8],                            // cancel by client id without the id
      [...head, 4, 5, 1, 97],                  // cancel by order id with a client id after it
      [...head, 2, 1, 1, 0, 5, 0, 0],          // market with a client id of length 0 (absent is written as nothing)
      [...head, 2, 1, 1, 0, 5, 0, 2, 97],      // a client id of 2 characters with only one
      [...head, 2, 1, 1, 0, 5, 0, 1, 97, 98],  // a client id of 1 character with two
      [...head, 2, 1, 1, 0, 5, 0, 1, 32],      // a space
      [...head, 2, 1, 1, 0, 5, 0, 1, 0x7f],    // DEL
      [...head, 2, 1, 1, 0, 5, 0, 37, ...new Array<number>(37).fill(97)], // 37 characters
    ];
    for (const a of bad) expect(() => decodeRecord(encode(a))).toThrow(RecordError);
    // A float, even an integral one, is not an integer on the wire.
    const float = Buffer.from(encodeRecord(records[3]!));
    const withFloat = Buffer.concat([float.subarray(0, float.length - 1), Buffer.from([0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0])]);
    expect(() => decodeRecord(withFloat)).toThrow(RecordError);
  });
});

describe("book checksum", () => {
  it("depends on every top-10 level and on nothing below it", () => {
    const bids: [number, number][] = Array.from({ length: 12 }, (_, i) => [100 - i, 1 + i]);
    const asks: [number, number][] = [[101, 3]];
    const base = bookChecksum(bids, asks);
    expect(bookChecksum(bids.map(([p, q], i) => [p, i === 9 ? q + 1 : q]), asks)).not.toBe(base);
    expect(bookChecksum(bids.map(([p, q], i) => [p, i === 11 ? q + 1 : q]), asks)).toBe(base);
    expect(bookChecksum(asks, bids)).not.toBe(base);
  });
});

describe("gate → record → engine", () => {
  it("whatever the gate accepts seals as a record that decodes to the same command and applies on a fresh engine without throwing", async () => {
    const { hostileFrame, structuredFrame } = await import("../bench/fuzz-frames.js");
    const { commandOf, sealRecord } = await import("../src/protocol/command.js");
    const { Engine, NullListener } = await import("../src/engine/index.js");
    const instruments = [{ id: 1, symbol: "T", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 }];
    let accepted = 0;
    fc.assert(fc.property(fc.oneof(hostileFrame, structuredFrame), (b) => {
      const r = validateClientFrame(b, INSTRUMENTS);
      if (!r.ok || r.msg.t === MsgType.HELLO) return;
      accepted++;
      const rec = { seq: 1, epoch: 1, tsUs: 1_700_000_000_000_000, cmd: commandOf(r.msg, 1, 5) };
      const payload = sealRecord(rec);
      expect(payload).not.toBeNull();
      expect(decodeRecord(payload!)).toEqual(rec);
      new Engine(instruments, new NullListener()).apply(rec.cmd);
    }), { seed: 11, numRuns: 5000 });
    expect(accepted).toBeGreaterThan(500);
  });
});
