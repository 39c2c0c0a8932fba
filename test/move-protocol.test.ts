/**
 * The wire and log side of moving an instrument (docs/protocol.md): records 10-17 round-trip and
 * are decoded strictly (operator's account only, shard ids and hash halves in range, every
 * arity); MOVE_* frames are validated field by field; the rows codec packs every row into
 * bounded fields and refuses what is not rows; and a sequencer takes the steps only from its
 * operator account, sequencing a MOVE_ORDERS frame as one import-orders record holding its rows.
 */
import { describe, expect, it } from "vitest";
import { TradingClient } from "../src/client/trading.js";
import type { ImportOrdersCommand, ImportRow, MoveRow } from "../src/engine/index.js";
import { decode, encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WireReason } from "../src/protocol/messages.js";
import { importRowOf, packRows, rowChunks, unpackImportRows, unpackRows } from "../src/protocol/move.js";
import { sealRecord } from "../src/protocol/command.js";
import { decodeRecord, encodeRecord, RecordError, type SeqRecord } from "../src/protocol/record.js";
import { validateClientFrame } from "../src/protocol/validate.js";
import { intBytes, pack, VALUE_BYTES_MAX } from "../src/protocol/wire.js";
import { httpTimeoutMs, MOVE_LIMITS } from "../src/shard/move.js";
import fc from "fast-check";
import { TestCluster } from "./cluster-helpers.js";

const v = PROTOCOL_VERSION;
const INSTRUMENTS = new Set([1]);
const row = (i: number, coid = ""): MoveRow => [i, 3, i % 2, 0, 0, 1, 0, 100 + i, 0, 5, 2, 200, 0, coid];

describe("move records", () => {
  const records: SeqRecord[] = [
    { seq: 1, epoch: 1, tsUs: 5, cmd: { type: "halt", account: 0, instrument: 1, seq: 1 } },
    { seq: 2, epoch: 1, tsUs: 5, cmd: { type: "resume", account: 0, instrument: 1 } },
    { seq: 3, epoch: 1, tsUs: 5, cmd: { type: "release", account: 0, instrument: 1, toShard: "eu-2_b" } },
    { seq: 4, epoch: 1, tsUs: 5, cmd: { type: "import-begin", account: 0, instrument: 1, orders: 10_000, lastPrice: 101, bookHash: "00ff0a0b0c0d0e0f", fromShard: "s1" } },
    { seq: 5, epoch: 1, tsUs: 5, cmd: { type: "import-begin", account: 0, instrument: 1, orders: 0, lastPrice: 0, bookHash: "ffffffffffffffff", fromShard: "x".repeat(32) } },
    {
      seq: 6, epoch: 1, tsUs: 5,
      cmd: { type: "import-order", account: 0, instrument: 1, orderId: 6, fromOrderId: 2 ** 52 + 9, owner: 3, side: 1, kind: 2, tif: 2, stp: 3, postOnly: false, price: 99, stopPrice: 98, leaves: 5, cum: 0, notional: 0, peer: 0 },
    },
    {
      seq: 7, epoch: 1, tsUs: 5,
      cmd: { type: "import-order", account: 0, instrument: 1, orderId: 7, fromOrderId: 1, owner: 0, side: 0, kind: 0, tif: 0, stp: 0, postOnly: true, price: 100, stopPrice: 0, leaves: 5, cum: 3, notional: 300, peer: 1, clientOrderId: "pair" },
    },
    { seq: 8, epoch: 1, tsUs: 5, cmd: { type: "import-end", account: 0, instrument: 1 } },
    { seq: 9, epoch: 1, tsUs: 5, cmd: { type: "import-abort", account: 0, instrument: 1 } },
    {
      seq: 10, epoch: 1, tsUs: 5,
      cmd: {
        type: "import-orders", account: 0, instrument: 1, rows: [
          { fromOrderId: 2 ** 52 + 9, owner: 3, side: 1, kind: 2, tif: 2, stp: 3, postOnly: false, price: 99, stopPrice: 98, leaves: 5, cum: 0, notional: 0, peer: 0 },
          { fromOrderId: 1, owner: 0, side: 0, kind: 0, tif: 0, stp: 0, postOnly: true, price: 100, stopPrice: 0, leaves: 5, cum: 3, notional: 300, peer: 1, clientOrderId: "pair" },
        ],
      },
    },
  ];
  // What a sequencer writes now: the claim with the one it replaces (0: none), and each step with the claim it belongs to (types 39, 30-33, 35-37).
  const claimed: SeqRecord[] = [
    { seq: 11, epoch: 1, tsUs: 5, cmd: { type: "claim", account: 0, instrument: 1, seq: 11, claim: 0 } },
    { seq: 11, epoch: 1, tsUs: 5, cmd: { type: "claim", account: 0, instrument: 1, seq: 11, claim: 7 } },
    ...records.filter((r) => r.cmd.type !== "import-order").map((r, i) => ({ ...r, seq: 12 + i, cmd: { ...r.cmd, claim: 11 } as SeqRecord["cmd"] })),
  ];
  it.each([...records, { seq: 11, epoch: 1, tsUs: 5, cmd: { type: "claim", account: 0, instrument: 1, seq: 11 } } satisfies SeqRecord])("round-trips a $cmd.type record written before claims", (r) => {
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
  });
  it.each(claimed)("round-trips a claimed $cmd.type record", (r) => {
    const bytes = encodeRecord(r);
    expect(decodeRecord(bytes)).toEqual(r);
    // The claimed types, not the old ones: a reader of the old layout cannot take the claim for another field.
    const types: Record<string, number> = { claim: 39, halt: 30, resume: 31, release: 32, "import-begin": 33, "import-end": 35, "import-abort": 36, "import-orders": 37 };
    expect((decode(bytes) as number[])[4]).toBe(types[r.cmd.type]);
  });
  it("refuses a move record of any account but the operator's, a bad shard id, a hash half out of range, a wrong arity or kind", () => {
    const head = [1, 1, 5];
    const bad: unknown[][] = [
      [...head, 3, 10, 1, 1],                      // halt by account 3
      [...head, 0, 10, 1],                         // halt without its seq
      [...head, 0, 11, 1, 5],                      // resume with an extra field
      [...head, 0, 12, 1],                         // release without a shard
      [...head, 0, 12, 1, 2, 97, 32],              // release to a shard id with a space
      [...head, 0, 12, 1, 1, 0x21],                // '!' is a client order id character, not a shard id one
      [...head, 0, 13, 1, 5, 0, 2 ** 32, 0, 1, 97], // hash high half beyond 32 bits
      [...head, 0, 13, 1, 5, 0, -1, 0, 1, 97],     // hash half negative
      [...head, 0, 14, 1, 7, 1, 3, 0, 4, 0, 0, 0, 100, 0, 5, 0, 0, 0], // kind 4
      [...head, 0, 14, 1, 7, 1, 3, 0, 0, 0, 0, 2, 100, 0, 5, 0, 0, 0], // postOnly 2
      [...head, 0, 15],                            // end without an instrument
      [...head, 0, 17, 1],                         // import-orders without a row
      [...head, 3, 17, 1, 7, 3, 0, 0, 0, 0, 0, 100, 0, 5, 0, 0, 0, 0], // import-orders by account 3
      [...head, 0, 17, 1, 7, 3, 0, 4, 0, 0, 0, 100, 0, 5, 0, 0, 0, 0], // a row of kind 4
      [...head, 0, 17, 1, 7, 3, 0, 0, 0, 0, 0, 100, 0, 5, 0, 0, 0, 2, 97], // a client order id of 2 characters with 1 given
      [...head, 0, 17, 1, 7, 3, 0, 0, 0, 0, 0, 100, 0, 5, 0, 0, 0, 0, 5], // an integer after the last row
      [...head, 0, 17, 1, ...Array.from({ length: 80 }, () => [7, 3, 0, 0, 0, 0, 0, 100, 0, 5, 0, 0, 0, 0]).flat()], // 1,120 integers of rows, over 1,024
      [...head, 3, 19, 1, 1],                      // claim by account 3
      [...head, 0, 19, 1],                         // claim without its seq
      [...head, 0, 30, 1, 1],                      // claimed halt without its claim
      [...head, 0, 31, 1, 0],                      // claim 0 (no record has seq 0)
      [...head, 0, 32, 1, 4, 2, 97],               // claimed release to a shard id with a space
      [...head, 0, 34, 1, 7, 1, 3, 0, 0, 0, 0, 0, 100, 0, 5, 0, 0, 0, 4], // there is no claimed import-order
      [...head, 0, 35, 1],                         // claimed end without its claim
      [...head, 0, 37, 1, 4],                      // claimed import-orders without a row
      [...head, 0, 37, 1, 0, 7, 3, 0, 0, 0, 0, 0, 100, 0, 5, 0, 0, 0, 0], // claimed import-orders with claim 0
      [...head, 0, 29, 1, 1, 0, 100, 5, 0, 0, 0],  // 29 is not a claimed step (9 is no move step): only move steps have claimed forms
    ];
    for (const a of bad) expect(() => decodeRecord(encode(a)), JSON.stringify(a)).toThrow(RecordError);
  });
});

describe("move frames", () => {
  const ok = (m: object): void => {
    const r = validateClientFrame(encode({ v, cid: 1, ...m }), INSTRUMENTS);
    expect(r.ok, JSON.stringify(r)).toBe(true);
  };
  const refused = (m: object, code: WireReason, text: RegExp): void => {
    const r = validateClientFrame(encode({ v, cid: 1, ...m }), INSTRUMENTS);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.text).toMatch(text);
    }
  };
  it("validates every step's fields, shard ids and hash", () => {
    ok({ t: MsgType.MOVE_CLAIM, inst: 1, mc: 0 });
    ok({ t: MsgType.MOVE_CLAIM, inst: 1, mc: 4 });
    ok({ t: MsgType.MOVE_HALT, inst: 1, mc: 4 });
    ok({ t: MsgType.MOVE_RELEASE, inst: 1, mc: 4, to: "s2" });
    ok({ t: MsgType.MOVE_BEGIN, inst: 1, mc: 4, from: "s1", n: 3, lpx: 0, h: "0123456789abcdef" });
    ok({ t: MsgType.MOVE_ORDERS, inst: 1, mc: 4, rows: packRows([row(1)]) });
    ok({ t: MsgType.MOVE_ABORT, inst: 1, mc: 2 ** 45 });
    refused({ t: MsgType.MOVE_HALT, inst: 2, mc: 4 }, WireReason.UNKNOWN_INSTRUMENT, /no instrument 2/);
    refused({ t: MsgType.MOVE_HALT, inst: 1, mc: 4, to: "s2" }, WireReason.UNKNOWN_FIELD, /"to"/);
    refused({ t: MsgType.MOVE_RELEASE, inst: 1, mc: 4, to: "s 2" }, WireReason.OUT_OF_RANGE, /shard id/);
    refused({ t: MsgType.MOVE_RELEASE, inst: 1, mc: 4 }, WireReason.MISSING_FIELD, /"to"/);
    refused({ t: MsgType.MOVE_BEGIN, inst: 1, mc: 4, from: "s1", n: 3, lpx: 0, h: "0123456789ABCDEF" }, WireReason.OUT_OF_RANGE, /book hash/);
    refused({ t: MsgType.MOVE_BEGIN, inst: 1, mc: 4, from: "s1", n: 1_000_001, lpx: 0, h: "0123456789abcdef" }, WireReason.OUT_OF_RANGE, /"n"/);
    refused({ t: MsgType.MOVE_ORDERS, inst: 1, mc: 4, rows: "abc" }, WireReason.OUT_OF_RANGE, /binary/);
    // Every step names its claim; the claim names the one it replaces, 0 when there is none.
    for (const t of [MsgType.MOVE_CLAIM, MsgType.MOVE_HALT, MsgType.MOVE_RESUME, MsgType.MOVE_END, MsgType.MOVE_ABORT]) refused({ t, inst: 1 }, WireReason.MISSING_FIELD, /"mc"/);
    refused({ t: MsgType.MOVE_END, inst: 1, mc: 0 }, WireReason.OUT_OF_RANGE, /"mc"/);
    refused({ t: MsgType.MOVE_CLAIM, inst: 1, mc: -1 }, WireReason.OUT_OF_RANGE, /"mc"/);
  });
  it("packs any rows into fields of at most VALUE_BYTES_MAX bytes, in order, and refuses what is not rows", () => {
    const rows = Array.from({ length: 2000 }, (_, i) => row(i + 1, i % 3 === 0 ? "c".repeat(1 + (i % 36)) : ""));
    const big: MoveRow = [2 ** 53 - 1, 2 ** 53 - 1, 1, 3, 2, 3, 1, 2 ** 53 - 1, 2 ** 53 - 1, 2 ** 53 - 1, 2 ** 53 - 1, 2 ** 53 - 1, 2 ** 53 - 1, "x".repeat(36)];
    const chunks = rowChunks([...rows, ...new Array<MoveRow>(20).fill(big)]);
    expect(chunks.every((c) => c.length <= VALUE_BYTES_MAX)).toBe(true);
    expect(chunks.flatMap((c) => unpackRows(c) as MoveRow[])).toEqual([...rows, ...new Array<MoveRow>(20).fill(big)]);
    expect(unpackRows(encode([1, 2, 3]))).toMatch(/a row has at least 14/);
    expect(unpackRows(encode([]))).toBe("rows: no rows");
    expect(unpackRows(encode({ a: 1 }))).toMatch(/not an array of integers/);
    expect(unpackRows(packRows([[1, 3, 2, 0, 0, 0, 0, 100, 0, 5, 0, 0, 0, ""]]))).toMatch(/out of range/);
    expect(unpackRows(packRows([[1, 3, 0, 0, 0, 0, 0, 100, 0, 5, 0, 0, 0, "a b"]]))).toMatch(/character outside/);
  });
  it("reads a frame's rows as the engine takes them, in one shape, and seals their record only when it decodes to them field by field", () => {
    const rows = Array.from({ length: 40 }, (_, i) => row(i + 1, i % 4 === 0 ? `c${i}` : ""));
    const taken = unpackImportRows(packRows(rows)) as ImportRow[];
    expect(taken).toEqual(rows.map(importRowOf));
    // Every row has the same keys in the same order, a missing client order id included (undefined).
    expect(new Set(taken.map((r) => Object.keys(r).join(",")))).toEqual(new Set([Object.keys(taken[0]!).join(",")]));
    expect(unpackImportRows(encode([1, 2, 3]))).toMatch(/a row has at least 14/);
    const rec = (rs: readonly ImportRow[]): SeqRecord => ({ seq: 9, epoch: 1, tsUs: 5, cmd: { type: "import-orders", account: 0, instrument: 1, rows: rs } });
    const sealed = sealRecord(rec(taken));
    expect(sealed).not.toBeNull();
    expect(decodeRecord(sealed!)).toEqual(rec(taken));
    // A row the record would carry differently, whichever field it is in, is not sealed.
    const unfaithful: Partial<Record<keyof ImportRow, unknown>> = {
      fromOrderId: 0.5, owner: -0.5, side: 1.5, kind: 2 ** 60, tif: "0", stp: null, postOnly: 1, price: 100.25, stopPrice: Number.NaN,
      leaves: 2 ** 53, cum: "2", notional: {}, peer: [1], clientOrderId: "",
    };
    for (const [k, bad] of Object.entries(unfaithful)) {
      const rs = taken.map((r, i) => (i === 7 ? { ...r, [k]: bad } as ImportRow : r));
      expect(sealRecord(rec(rs)), k).toBeNull();
    }
  });
});

describe("sizes and timeouts", () => {
  it("intBytes is the size pack gives every safe integer (rowChunks sizes rows by it)", () => {
    const edges = [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER];
    for (const v of edges) expect(intBytes(v), String(v)).toBe(pack([v]).length - 1);
    fc.assert(fc.property(fc.maxSafeInteger(), (v) => intBytes(v) === pack([v]).length - 1), { seed: 20261201, numRuns: 2000 });
  });
  it("an HTTP read's timeout is a whole number of ms from 1 to httpMsMax, whatever is left of the deadline", () => {
    expect(httpTimeoutMs(10_000.4, 0)).toBe(MOVE_LIMITS.httpMsMax);
    expect(httpTimeoutMs(1_000.25, 0)).toBe(1001);
    expect(httpTimeoutMs(5, 10)).toBe(1);
    fc.assert(fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 0, max: 1e6, noNaN: true }), (d, n) => {
      const t = httpTimeoutMs(d, n);
      return Number.isInteger(t) && t >= 1 && t <= MOVE_LIMITS.httpMsMax;
    }), { seed: 20261201 });
  });
});

describe("the sequencer's operator gate", () => {
  it("takes move steps only from sequencer.operatorAccount, as account 0; a MOVE_ORDERS frame is one record of its rows", async () => {
    const c = new TestCluster();
    await c.start(0, { operatorAccount: 77 });
    try {
      const trader = await TradingClient.connect(c.tradeUrl, 5);
      await expect(trader.moveStep({ t: MsgType.MOVE_CLAIM, inst: 1, mc: 0 })).rejects.toThrow(/NOT_OPERATOR: only the operator account/);
      await expect(trader.moveStep({ t: MsgType.MOVE_HALT, inst: 1, mc: 1 })).rejects.toThrow(/NOT_OPERATOR: only the operator account/);
      await trader.close();
      const op = await TradingClient.connect(c.tradeUrl, 77);
      await expect(op.moveStep({ t: MsgType.MOVE_ORDERS, inst: 1, mc: 1, rows: encode([1, 2]) })).rejects.toThrow(/OUT_OF_RANGE: rows/);
      const claim = await op.moveStep({ t: MsgType.MOVE_CLAIM, inst: 1, mc: 0 });
      const halt = await op.moveStep({ t: MsgType.MOVE_HALT, inst: 1, mc: claim.seq });
      const orders = await op.moveStep({ t: MsgType.MOVE_ORDERS, inst: 1, mc: claim.seq, rows: packRows([row(1), row(2), row(3)]) });
      expect([claim.seq, halt.seq, orders.oid, orders.seq]).toEqual([1, 2, 0, 3]);
      expect(c.sequencer.ring.payload(4)).toBeUndefined();
      const logged = [1, 2, 3].map((seq) => decodeRecord(c.sequencer.ring.payload(seq)!).cmd);
      expect(logged.map((x) => x.account)).toEqual([0, 0, 0]);
      expect(logged).toMatchObject([{ type: "claim", seq: 1, claim: 0 }, { type: "halt", seq: 2, claim: 1 }, { type: "import-orders", claim: 1 }]);
      expect((logged[2] as ImportOrdersCommand).rows.map((r) => [r.fromOrderId, r.price])).toEqual([[1, 101], [2, 102], [3, 103]]);
      await op.close();
    } finally {
      c.stop();
    }
    const none = new TestCluster();
    await none.start(0);
    try {
      const op = await TradingClient.connect(none.tradeUrl, 77);
      await expect(op.moveStep({ t: MsgType.MOVE_CLAIM, inst: 1, mc: 0 })).rejects.toThrow(/NOT_OPERATOR: this sequencer has no operator account/);
      await op.close();
    } finally {
      none.stop();
    }
  });
});
