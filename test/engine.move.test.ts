/**
 * Moving an instrument between engines, as a move between shards does (docs/scaling.md): a HALT
 * freezes the source book, its export is imported on the target (stops first, then levels in
 * priority order, OCO links by import index), and the import ends only with the book hash the
 * export had. Proved here: (a) for random books (stops, OCO pairs, partial fills, client ids)
 * the hash after the import equals the hash at the HALT; (b) the moved book then behaves
 * exactly as the source book would have, command for command, once ids are mapped (priority
 * and trigger order included); (c) every move step refuses the wrong state, a bad row and a
 * mismatched end with its own reason, changing nothing; (d) a snapshot taken mid-import
 * restores to the same hash and finishes the same import.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bookHashOf, Engine, EventRecorder, IMPORTED_ID_BASE, InstrumentMode, OrderKind, Reason, type BookExport, type Command, type EngineEvent, type EngineSnapshot, type ImportOrderCommand, type ImportOrdersCommand,
} from "../src/engine/index.js";
import { importRowOf } from "../src/protocol/move.js";
import { anyCommandArb, INST } from "./helpers.js";

const seed = Number(process.env.FC_SEED ?? 20261201);
/** Target ids start here, far above the streams' own ids (1-60 before the move, 1000+ after). */
const TARGET_FIRST_ID = 1_000_000;
const AFTER_ID_OFFSET = 1000;

/**
 * An import of `exp`: per row with ids from `firstId` on (import-order, as logs before
 * import-orders have it), or with `packed` rows a command (import-orders, as a sequencer
 * journals a MOVE_ORDERS frame now; the engine numbers the rows).
 */
function importCommands(exp: BookExport, firstId: number, fromShard = "s1", packed = 0): Command[] {
  const begin: Command = { type: "import-begin", instrument: exp.instrument.id, account: 0, fromShard, orders: exp.orders.length, lastPrice: exp.lastPrice, bookHash: exp.bookHash };
  const end: Command = { type: "import-end", instrument: exp.instrument.id, account: 0 };
  if (packed > 0) {
    const cmds: Command[] = [begin];
    for (let i = 0; i < exp.orders.length; i += packed) {
      cmds.push({ type: "import-orders", instrument: exp.instrument.id, account: 0, rows: exp.orders.slice(i, i + packed).map(importRowOf) });
    }
    return [...cmds, end];
  }
  const rows = exp.orders.map((r, i): ImportOrderCommand => {
    const [fromOrderId, owner, side, kind, tif, stp, postOnly, price, stopPrice, leaves, cum, notional, peer, coid] = r;
    return {
      type: "import-order", instrument: exp.instrument.id, account: 0, orderId: firstId + i, fromOrderId, owner, side: side as 0 | 1, kind: kind as OrderKind, tif: tif as 0 | 1 | 2,
      stp: stp as 0 | 1 | 2 | 3, postOnly: postOnly === 1, price, stopPrice, leaves, cum, notional, peer, ...(coid === "" ? {} : { clientOrderId: coid }),
    };
  });
  return [begin, ...rows, end];
}

function target(): { e: Engine; rec: EventRecorder } {
  const rec = new EventRecorder();
  return { e: new Engine([INST], rec, { awayInstruments: [INST.id] }), rec };
}

/** Source after `before`, halted and exported; target with the import applied. Returns both and the old → new id map. */
function move(before: readonly Command[], packed = 0): { src: Engine; srcRec: EventRecorder; dst: Engine; dstRec: EventRecorder; exp: BookExport; ids: Map<number, number>; results: Reason[] } {
  const srcRec = new EventRecorder();
  const src = new Engine([INST], srcRec);
  for (const c of before) src.apply(c);
  expect(src.apply({ type: "halt", instrument: INST.id, account: 0, seq: 77 })).toBe(Reason.OK);
  const exp = src.exportBook(INST.id)!;
  expect(exp.mode).toBe(InstrumentMode.HALTED);
  expect(exp.haltSeq).toBe(77);
  const { e: dst, rec: dstRec } = target();
  const results = importCommands(exp, TARGET_FIRST_ID, "s1", packed).map((c) => dst.apply(c));
  const ids = new Map<number, number>();
  for (const ev of dstRec.events) if (ev.e === "imported") ids.set(ev.fromOrderId, ev.orderId);
  return { src, srcRec, dst, dstRec, exp, ids, results };
}

/** Events with order ids mapped back to the source's and trade ids left out (each engine counts its own trades). */
function normalized(events: readonly EngineEvent[], back: ReadonlyMap<number, number>): object[] {
  const m = (id: number): number => back.get(id) ?? id;
  return events.map((ev) => {
    const x: Record<string, unknown> = { ...ev };
    for (const k of ["orderId", "makerId", "takerId"]) if (typeof x[k] === "number") x[k] = m(x[k] as number);
    delete x.tradeId;
    return x;
  });
}

const beforeArb = fc.array(anyCommandArb, { minLength: 1, maxLength: 200, size: "max" });
const afterArb = fc.array(anyCommandArb, { minLength: 0, maxLength: 120, size: "max" });

describe("engine: moving an instrument", () => {
  it("(a) the book hash after the import equals the hash at the HALT, and every row comes back, a row a command or several", () => {
    const seen = { pairs: 0, stops: 0, partial: 0, coids: 0 };
    fc.assert(fc.property(beforeArb, fc.integer({ min: 0, max: 9 }), (before, packed) => {
      const { src, dst, exp, ids, results } = move(before, packed);
      for (const r of exp.orders) {
        if (r[12] !== 0) seen.pairs++;
        if (r[3] !== OrderKind.LIMIT) seen.stops++;
        if (r[10] > 0) seen.partial++;
        if (r[13] !== "") seen.coids++;
      }
      expect(results.every((r) => r === Reason.OK)).toBe(true);
      expect(dst.instrumentMode(INST.id)).toBe(InstrumentMode.ACTIVE);
      expect(dst.bookHash(INST.id)).toBe(exp.bookHash);
      expect(src.bookHash(INST.id)).toBe(exp.bookHash);
      // The engine hashes its orders as it visits them; the rows it exports hash, by the mover's function, to the same.
      expect(bookHashOf(exp.instrument, exp.lastPrice, exp.orders)).toBe(exp.bookHash);
      expect(src.exportBook(INST.id, false)).toEqual({ ...exp, orders: [] });
      expect(exp.orderCount).toBe(exp.orders.length);
      expect(ids.size).toBe(exp.orders.length);
      const back = dst.exportBook(INST.id)!;
      expect(back.orders.map((r) => r.slice(1))).toEqual(exp.orders.map((r) => r.slice(1)));
      expect(back.orders.map((r) => r[0])).toEqual(exp.orders.map((r) => ids.get(r[0])));
      // Packed rows take the imported-order ids in the export's order; a row a command keeps the id it carries.
      expect(back.orders.map((r) => r[0])).toEqual(exp.orders.map((_, i) => (packed > 0 ? IMPORTED_ID_BASE : TARGET_FIRST_ID) + i));
      expect(dst.depth(INST.id)).toEqual(src.depth(INST.id));
    }), { seed, numRuns: 300 });
    // The streams did make books with OCO pairs, pending stops, partly filled orders and client ids.
    for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(10);
  });

  it("(b) the moved book behaves as the source book would have, priority and triggers included", () => {
    fc.assert(fc.property(beforeArb, afterArb, (before, after) => {
      const { src, srcRec, dst, dstRec, ids } = move(before, 8);
      const liveCoids = new Set(src.exportBook(INST.id)!.orders.filter((r) => r[13] !== "").map((r) => `${r[1]}:${r[13]}`));
      expect(src.apply({ type: "resume", instrument: INST.id, account: 0 })).toBe(Reason.OK);
      // The target has no memory of client ids that finished on the source (docs/scaling.md): the streams after the move avoid them.
      const coid = (account: number, c: string | undefined): string | undefined => (c === undefined || liveCoids.has(`${account}:${c}`) ? c : `z${c}`);
      const shift = (id: number): number => id + AFTER_ID_OFFSET;
      const later = after.map((c): Command => {
        const named = "clientOrderId" in c ? { clientOrderId: coid(c.account, c.clientOrderId) } : {};
        if (c.type === "oco") return { ...c, ...named, limitId: shift(c.limitId), stopId: shift(c.stopId) };
        if (c.type === "cancel" || c.type === "modify") return c.orderId === undefined ? { ...c, ...named } : { ...c, ...named, orderId: c.orderId };
        if (c.type === "cancel-all") return c;
        return { ...c, ...named, orderId: shift((c as { orderId: number }).orderId) };
      });
      const toTarget = (c: Command): Command => (c.type === "cancel" || c.type === "modify") && c.orderId !== undefined ? { ...c, orderId: ids.get(c.orderId) ?? c.orderId } : c;
      srcRec.take();
      dstRec.take();
      for (const c of later) expect(dst.apply(toTarget(c))).toBe(src.apply(c));
      const back = new Map([...ids].map(([from, to]) => [to, from]));
      expect(normalized(dstRec.events, back)).toEqual(normalized(srcRec.events, new Map()));
      expect(dst.bookHash(INST.id)).toBe(src.bookHash(INST.id));
    }), { seed, numRuns: 200 });
  });

  it("(c) halted: new orders, cancels and modifies are refused INSTRUMENT_MOVING; the kill switch leaves the book; release empties it", () => {
    const rec = new EventRecorder();
    const e = new Engine([INST], rec);
    e.apply({ type: "limit", instrument: 1, orderId: 1, account: 1, side: 0, price: 100, qty: 5, clientOrderId: "a" });
    e.apply({ type: "oco", instrument: 1, account: 2, side: 1, qty: 3, limitId: 2, price: 105, stopId: 3, stopPrice: 95 });
    e.apply({ type: "halt", instrument: 1, account: 0, seq: 3 });
    const hash = e.stateHash();
    const halted = e.bookHash(1);
    rec.take();
    expect(e.apply({ type: "limit", instrument: 1, orderId: 4, account: 1, side: 0, price: 99, qty: 1 })).toBe(Reason.INSTRUMENT_MOVING);
    expect(e.apply({ type: "cancel", orderId: 1, account: 1 })).toBe(Reason.INSTRUMENT_MOVING);
    expect(e.apply({ type: "cancel", clientOrderId: "a", account: 1 })).toBe(Reason.INSTRUMENT_MOVING);
    expect(e.apply({ type: "modify", orderId: 2, account: 2, price: 106, qty: 3 })).toBe(Reason.INSTRUMENT_MOVING);
    expect(e.apply({ type: "cancel-all", account: 1 })).toBe(Reason.OK);
    expect(e.apply({ type: "halt", instrument: 1, account: 0, seq: 9 })).toBe(Reason.MOVE_STATE);
    expect(e.apply({ type: "import-begin", instrument: 1, account: 0, fromShard: "s2", orders: 0, lastPrice: 0, bookHash: "0".repeat(16) })).toBe(Reason.MOVE_STATE);
    expect(e.apply({ type: "resume", instrument: 1, account: 5 })).toBe(Reason.INVALID_FIELD);
    expect(e.apply({ type: "release", instrument: 1, account: 0, toShard: "bad shard" })).toBe(Reason.INVALID_FIELD);
    const refused = rec.take();
    expect(refused.filter((x) => x.e === "rejected").map((x) => (x as { reason: Reason }).reason)).toEqual([
      Reason.INSTRUMENT_MOVING, Reason.INSTRUMENT_MOVING, Reason.INSTRUMENT_MOVING, Reason.INSTRUMENT_MOVING, Reason.MOVE_STATE, Reason.MOVE_STATE, Reason.INVALID_FIELD, Reason.INVALID_FIELD,
    ]);
    expect(refused).toContainEqual({ e: "killed", account: 1, cancelledCount: 0 });
    expect(e.stateHash()).toBe(hash);
    expect(e.bookHash(1)).toBe(halted);
    expect(e.apply({ type: "release", instrument: 1, account: 0, toShard: "s2" })).toBe(Reason.OK);
    const out = rec.take();
    expect(out.filter((x) => x.e === "movedAway").map((x) => (x as { orderId: number }).orderId)).toEqual([3, 1, 2]);
    expect(out.filter((x) => x.e === "level")).toEqual([{ e: "level", instrument: 1, side: 0, price: 100, qty: 0 }, { e: "level", instrument: 1, side: 1, price: 105, qty: 0 }]);
    expect(e.liveOrders).toBe(0);
    expect(e.instrumentMode(1)).toBe(InstrumentMode.AWAY);
    expect(e.apply({ type: "limit", instrument: 1, orderId: 5, account: 1, side: 0, price: 99, qty: 1, clientOrderId: "a" })).toBe(Reason.INSTRUMENT_MOVED);
    expect(e.apply({ type: "cancel", orderId: 1, account: 1 })).toBe(Reason.UNKNOWN_ORDER);
  });

  it("(c) an import refuses rows out of the export's order or invalid for the book, and a mismatched end, changing nothing; abort empties it", () => {
    const src = new Engine([INST], new EventRecorder());
    src.apply({ type: "limit", instrument: 1, orderId: 1, account: 1, side: 0, price: 100, qty: 5 });
    src.apply({ type: "limit", instrument: 1, orderId: 2, account: 1, side: 0, price: 98, qty: 5 });
    src.apply({ type: "halt", instrument: 1, account: 0, seq: 3 });
    const cmds = importCommands(src.exportBook(1)!, 500);
    const { e, rec } = target();
    expect(e.apply(cmds[0]!)).toBe(Reason.OK);
    expect(e.apply(cmds[1]!)).toBe(Reason.OK);
    const h1 = e.stateHash();
    const row = cmds[2] as ImportOrderCommand;
    // A better bid after a worse one, a price off the band, a market order, a fill beyond qtyMax, an id in use, an ask crossing the bids, a stop after a limit.
    const bads: ImportOrderCommand[] = [
      { ...row, price: 101 }, { ...row, price: 200 }, { ...row, kind: OrderKind.MARKET }, { ...row, cum: 996, notional: 1 }, { ...row, orderId: 500 },
      { ...row, side: 1, price: 99 }, { ...row, kind: OrderKind.STOP_LIMIT, stopPrice: 101 },
    ];
    for (const bad of bads) expect(e.apply(bad), JSON.stringify(bad)).toBe(Reason.IMPORT_INVALID);
    expect(e.stateHash()).toBe(h1);
    expect(e.apply(row)).toBe(Reason.OK);
    expect(e.apply({ ...row, orderId: 600, side: 1, price: 105 })).toBe(Reason.OK);
    expect(e.apply(cmds[3]!)).toBe(Reason.IMPORT_MISMATCH);
    expect(e.instrumentMode(1)).toBe(InstrumentMode.IMPORTING);
    expect(e.apply({ type: "limit", instrument: 1, orderId: 9, account: 1, side: 1, price: 101, qty: 1 })).toBe(Reason.INSTRUMENT_MOVING);
    rec.take();
    expect(e.apply({ type: "import-abort", instrument: 1, account: 0 })).toBe(Reason.OK);
    expect(rec.take()).toEqual([]);
    expect(e.liveOrders).toBe(0);
    expect(e.instrumentMode(1)).toBe(InstrumentMode.AWAY);
    expect(e.apply({ type: "import-end", instrument: 1, account: 0 })).toBe(Reason.MOVE_STATE);
  });

  it("(d) a snapshot mid-import restores to the same hash and finishes the same import; format 2 reads as all books active", () => {
    fc.assert(fc.property(beforeArb, fc.nat(), fc.integer({ min: 0, max: 5 }), (before, cut, packed) => {
      const src = new Engine([INST], new EventRecorder());
      for (const c of before) src.apply(c);
      src.apply({ type: "halt", instrument: 1, account: 0, seq: 1 });
      const exp = src.exportBook(1)!;
      const cmds = importCommands(exp, TARGET_FIRST_ID, "s1", packed);
      const at = 1 + (cut % (cmds.length - 1));
      const { e: straight, rec: r1 } = target();
      for (const c of cmds) straight.apply(c);
      const { e: first } = target();
      for (const c of cmds.slice(0, at)) first.apply(c);
      const snap = JSON.parse(JSON.stringify(first.snapshot())) as EngineSnapshot;
      expect(snap.format).toBe(3);
      const r2 = new EventRecorder();
      const restored = Engine.restore(snap, r2);
      expect(restored.stateHash()).toBe(first.stateHash());
      for (const c of cmds.slice(at)) restored.apply(c);
      expect(restored.stateHash()).toBe(straight.stateHash());
      expect(r2.events).toEqual(r1.events.slice(r1.events.length - r2.events.length));
    }), { seed, numRuns: 100 });
    const plain = new Engine([INST], new EventRecorder());
    plain.apply({ type: "limit", instrument: 1, orderId: 1, account: 1, side: 0, price: 100, qty: 5 });
    const two = { ...plain.snapshot(), format: 2 } as unknown as EngineSnapshot;
    expect(Engine.restore(two, new EventRecorder()).stateHash()).toBe(plain.stateHash());
  });

  it("(e) import-orders numbers rows on from IMPORTED_ID_BASE across imports, refuses a bad row alone and a book not importing once", () => {
    const src = new Engine([INST, { ...INST, id: 2 }], new EventRecorder());
    src.apply({ type: "limit", instrument: 1, orderId: 1, account: 1, side: 0, price: 100, qty: 5 });
    src.apply({ type: "limit", instrument: 1, orderId: 2, account: 1, side: 0, price: 98, qty: 5 });
    src.apply({ type: "limit", instrument: 2, orderId: 3, account: 2, side: 1, price: 110, qty: 5 });
    src.apply({ type: "halt", instrument: 1, account: 0, seq: 4 });
    src.apply({ type: "halt", instrument: 2, account: 0, seq: 5 });
    const rec = new EventRecorder();
    const e = new Engine([INST, { ...INST, id: 2 }], rec, { awayInstruments: [1, 2] });
    const never = e.stateHash();
    const [begin1, rows1, end1] = importCommands(src.exportBook(1)!, 0, "s1", 10);
    const rows = (rows1 as ImportOrdersCommand).rows;
    expect(e.apply(rows1!)).toBe(Reason.MOVE_STATE);
    expect(rec.take().filter((x) => x.e === "rejected")).toHaveLength(1);
    expect(e.stateHash()).toBe(never);
    expect(e.apply(begin1!)).toBe(Reason.OK);
    // The second row repeated is worse than the first, out of the export's order: refused alone, its id spent.
    expect(e.apply({ ...(rows1 as ImportOrdersCommand), rows: [rows[0]!, { ...rows[0]!, price: 101 }, rows[1]!] })).toBe(Reason.IMPORT_INVALID);
    expect(rec.take().flatMap((x) => (x.e === "rejected" ? [[x.orderId, x.reason]] : []))).toEqual([[IMPORTED_ID_BASE + 1, Reason.IMPORT_INVALID]]);
    expect(e.apply(end1!)).toBe(Reason.OK);
    expect(e.exportBook(1)!.orders.map((r) => r[0])).toEqual([IMPORTED_ID_BASE, IMPORTED_ID_BASE + 2]);
    const used = e.stateHash();
    expect(used).not.toBe(never);
    const restored = Engine.restore(JSON.parse(JSON.stringify(e.snapshot())) as EngineSnapshot, new EventRecorder());
    expect(restored.stateHash()).toBe(used);
    for (const engine of [e, restored]) {
      for (const c of importCommands(src.exportBook(2)!, 0, "s1", 10)) expect(engine.apply(c)).toBe(Reason.OK);
      expect(engine.exportBook(2)!.orders.map((r) => r[0])).toEqual([IMPORTED_ID_BASE + 3]);
    }
    expect(restored.stateHash()).toBe(e.stateHash());
    expect(() => Engine.restore({ ...e.snapshot(), importedOrders: -1 }, new EventRecorder())).toThrow(/importedOrders/);
  });

  it("(f) a claim fences a move: steps naming an earlier claim are refused MOVE_STALE in any mode, changing nothing; the claim is in the hash and the snapshot", () => {
    const src = new Engine([INST], new EventRecorder());
    src.apply({ type: "limit", instrument: 1, orderId: 1, account: 1, side: 0, price: 100, qty: 5 });
    src.apply({ type: "limit", instrument: 1, orderId: 2, account: 1, side: 0, price: 98, qty: 5 });
    const unclaimed = src.stateHash();
    // Run A claims at seq 10 and halts; run B claims at seq 20: A's resume is refused, B's goes through.
    expect(src.apply({ type: "claim", instrument: 1, account: 0, seq: 10 })).toBe(Reason.OK);
    expect(src.stateHash()).not.toBe(unclaimed);
    expect(src.apply({ type: "halt", instrument: 1, account: 0, seq: 11, claim: 10 })).toBe(Reason.OK);
    expect(src.apply({ type: "claim", instrument: 1, account: 0, seq: 20 })).toBe(Reason.OK);
    const halted = src.stateHash();
    expect(src.apply({ type: "resume", instrument: 1, account: 0, claim: 10 })).toBe(Reason.MOVE_STALE);
    expect(src.apply({ type: "release", instrument: 1, account: 0, toShard: "s2", claim: 10 })).toBe(Reason.MOVE_STALE);
    expect(src.stateHash()).toBe(halted);
    expect(src.exportBook(1)).toMatchObject({ mode: InstrumentMode.HALTED, haltSeq: 11, moveClaim: 20 });
    // A claim must be a seq after the one it replaces, and only the operator claims.
    expect(src.apply({ type: "claim", instrument: 1, account: 0, seq: 20 })).toBe(Reason.INVALID_FIELD);
    expect(src.apply({ type: "claim", instrument: 1, account: 5, seq: 30 })).toBe(Reason.INVALID_FIELD);
    expect(src.apply({ type: "claim", instrument: 9, account: 0, seq: 30 })).toBe(Reason.UNKNOWN_INSTRUMENT);
    // A claim naming the claim it replaces is taken only over the latest one: a dead mover's claim made over 10,
    // delivered after B's, is refused and fences nobody; one over 20 (or none, in a log before claims were compared) is taken.
    expect(src.apply({ type: "claim", instrument: 1, account: 0, seq: 30, claim: 10 })).toBe(Reason.MOVE_STALE);
    expect(src.apply({ type: "claim", instrument: 1, account: 0, seq: 30, claim: 0 })).toBe(Reason.MOVE_STALE);
    expect(src.stateHash()).toBe(halted);
    expect(src.apply({ type: "claim", instrument: 1, account: 0, seq: 31, claim: 20 })).toBe(Reason.OK);
    expect(src.apply({ type: "claim", instrument: 1, account: 0, seq: 32 })).toBe(Reason.OK);
    expect(src.exportBook(1)).toMatchObject({ mode: InstrumentMode.HALTED, moveClaim: 32 });
    const exp = src.exportBook(1)!;

    // The target: run A begins and sends half its rows, then run B claims, aborts, begins and imports;
    // A's frames still arriving (rows, end, abort) are refused and B's import ends with the export's hash.
    const rec = new EventRecorder();
    const dst = new Engine([INST], rec, { awayInstruments: [1] });
    const [begin, rows, end] = importCommands(exp, 0, "s1", 10) as [Command, ImportOrdersCommand, Command];
    const half = { ...rows, rows: rows.rows.slice(0, 1) };
    const of = (c: Command, claim: number): Command => ({ ...c, claim }) as Command;
    expect(dst.apply({ type: "claim", instrument: 1, account: 0, seq: 5, claim: 0 })).toBe(Reason.OK);
    expect(dst.apply(of(begin, 5))).toBe(Reason.OK);
    expect(dst.apply(of(half, 5))).toBe(Reason.OK);
    expect(dst.apply({ type: "claim", instrument: 1, account: 0, seq: 8 })).toBe(Reason.OK);
    expect(dst.apply({ type: "import-abort", instrument: 1, account: 0, claim: 8 })).toBe(Reason.OK);
    expect(dst.apply(of(begin, 8))).toBe(Reason.OK);
    rec.take();
    const before = dst.stateHash();
    for (const stale of [of(rows, 5), of(half, 5), of(end, 5), { type: "import-abort", instrument: 1, account: 0, claim: 5 } as Command]) expect(dst.apply(stale)).toBe(Reason.MOVE_STALE);
    expect(rec.take().map((x) => (x.e === "rejected" ? x.reason : -1))).toEqual([Reason.MOVE_STALE, Reason.MOVE_STALE, Reason.MOVE_STALE, Reason.MOVE_STALE]);
    expect(dst.stateHash()).toBe(before);
    // Mid-import, the claim survives a snapshot: the restored engine refuses the same stale step and takes the same live ones.
    const restored = Engine.restore(JSON.parse(JSON.stringify(dst.snapshot())) as EngineSnapshot, new EventRecorder());
    expect(restored.stateHash()).toBe(before);
    for (const engine of [dst, restored]) {
      expect(engine.apply(of(rows, 5))).toBe(Reason.MOVE_STALE);
      expect(engine.apply(of(rows, 8))).toBe(Reason.OK);
      expect(engine.apply(of(end, 8))).toBe(Reason.OK);
      expect(engine.exportBook(1)).toMatchObject({ mode: InstrumentMode.ACTIVE, bookHash: exp.bookHash, moveClaim: 8 });
    }
    expect(restored.stateHash()).toBe(dst.stateHash());
    // An ACTIVE book with a claim keeps it through a snapshot too.
    const active = Engine.restore(JSON.parse(JSON.stringify(dst.snapshot())) as EngineSnapshot, new EventRecorder());
    expect(active.exportBook(1)!.moveClaim).toBe(8);
    expect(active.stateHash()).toBe(dst.stateHash());
    // Steps without a claim (logs from before claims) are not checked against one.
    expect(src.apply({ type: "resume", instrument: 1, account: 0 })).toBe(Reason.OK);
  });
});
