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

const INSTRUMENTS = new Set([1]);
const v = PROTOCOL_VERSION;
const newOrder = { v, t: MsgType.NEW, cid: 7, inst: 1, side: 0, ord: OrdType.LIMIT, px: 100, qty: 5 };

describe("codec and validation", () => {
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
    ["market with a price", { ...newOrder, ord: OrdType.MARKET }, WireReason.OUT_OF_RANGE, /no price/],
    ["cancel without oid", { v, t: MsgType.CANCEL, cid: 1 }, WireReason.MISSING_FIELD, /"oid"/],
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
  ];
  it.each(records)("round-trips a $cmd.type record", (r) => {
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
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
      [...head, 9],                            // unknown type
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
