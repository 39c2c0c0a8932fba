/**
 * Property tests over random command streams (every command type, hostile values included):
 * (a) the book is never crossed after a command; (b) quantity is conserved for every order
 * and in total (placed = filled + cancelled/expired + resting), and the L2 book rebuilt from
 * level events equals depth(); (c) the same stream twice gives the same events and hash;
 * (d) snapshot at a random point + replay of the rest gives the same events and hash as
 * straight through. Seeds are fixed so CI is repeatable; set FC_SEED to explore others.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Engine, EventRecorder, type Command, type EngineEvent, type EngineSnapshot } from "../src/engine/index.js";
import { INST, anyCommandArb } from "./helpers.js";

const seed = Number(process.env.FC_SEED ?? 20261125);
const runs = { seed, numRuns: 300 };
const streamArb = fc.array(anyCommandArb, { minLength: 1, maxLength: 250, size: "max" });

function run(cmds: readonly Command[]): { events: EngineEvent[]; hash: string } {
  const rec = new EventRecorder();
  const e = new Engine([INST], rec);
  for (const c of cmds) e.apply(c);
  return { events: rec.events, hash: e.stateHash() };
}

/** Checks one command's events against the open quantity we track per order id. */
function audit(events: readonly EngineEvent[], open: Map<number, number>, totals: { placed: number; filled: number; closed: number }): void {
  const take = (id: number, q: number): void => {
    const left = (open.get(id) ?? 0) - q;
    expect(left).toBeGreaterThanOrEqual(0);
    open.set(id, left);
  };
  for (const ev of events) {
    if (ev.e === "accepted") {
      expect(open.get(ev.orderId) ?? 0).toBe(0);
      open.set(ev.orderId, ev.qty);
      totals.placed += ev.qty;
    } else if (ev.e === "modified") {
      totals.placed += ev.qty - open.get(ev.orderId)!;
      open.set(ev.orderId, ev.qty);
    } else if (ev.e === "trade") {
      take(ev.makerId, ev.qty);
      take(ev.takerId, ev.qty);
      expect([open.get(ev.makerId), open.get(ev.takerId)]).toEqual([ev.makerLeft, ev.takerLeft]);
      totals.filled += 2 * ev.qty;
    } else if (ev.e === "cancelled" || ev.e === "expired") {
      expect(ev.leftQty).toBe(open.get(ev.orderId));
      open.set(ev.orderId, 0);
      totals.closed += ev.leftQty;
    }
  }
}

describe("engine properties", () => {
  it("(a) never crossed, (b) conserves quantity, and level events rebuild depth()", () => {
    fc.assert(
      fc.property(streamArb, (cmds) => {
        const rec = new EventRecorder();
        const e = new Engine([INST], rec);
        const open = new Map<number, number>();
        const totals = { placed: 0, filled: 0, closed: 0 };
        const l2 = [new Map<number, number>(), new Map<number, number>()];
        for (const c of cmds) {
          e.apply(c);
          const events = rec.take();
          audit(events, open, totals);
          for (const ev of events) if (ev.e === "level") ev.qty === 0 ? l2[ev.side]!.delete(ev.price) : l2[ev.side]!.set(ev.price, ev.qty);
          const d = e.depth(1);
          if (d.bids.length > 0 && d.asks.length > 0) expect(d.bids[0]![0]).toBeLessThan(d.asks[0]![0]);
          expect([...l2[0]!.entries()].sort((a, b) => b[0] - a[0])).toEqual(d.bids);
          expect([...l2[1]!.entries()].sort((a, b) => a[0] - b[0])).toEqual(d.asks);
        }
        let resting = 0;
        for (const [id, q] of open) {
          expect(e.order(id)?.leaves ?? 0).toBe(q);
          resting += q;
        }
        // Each trade fills two orders, so filled counts both sides: placed = filled + closed + resting.
        expect(totals.placed).toBe(totals.filled + totals.closed + resting);
        expect(e.liveOrders).toBe([...open.values()].filter((q) => q > 0).length);
      }),
      runs,
    );
  });

  it("(c) the same stream twice gives the same events and the same hash", () => {
    fc.assert(
      fc.property(streamArb, (cmds) => {
        const a = run(cmds);
        const b = run(cmds);
        expect(b.events).toEqual(a.events);
        expect(b.hash).toBe(a.hash);
      }),
      runs,
    );
  });

  it("(d) snapshot at a random point + replay of the rest equals straight through", () => {
    fc.assert(
      fc.property(streamArb, fc.nat(), (cmds, at) => {
        const cut = at % (cmds.length + 1);
        const straightRec = new EventRecorder();
        const straight = new Engine([INST], straightRec);
        cmds.slice(0, cut).forEach((c) => straight.apply(c));
        const snap = JSON.parse(JSON.stringify(straight.snapshot())) as EngineSnapshot;
        const hashAtCut = straight.stateHash();
        straightRec.take();
        cmds.slice(cut).forEach((c) => straight.apply(c));

        const restoredRec = new EventRecorder();
        const restored = Engine.restore(snap, restoredRec);
        expect(restored.stateHash()).toBe(hashAtCut);
        cmds.slice(cut).forEach((c) => restored.apply(c));
        expect(restoredRec.events).toEqual(straightRec.events);
        expect(restored.stateHash()).toBe(straight.stateHash());
      }),
      runs,
    );
  });

  it("(d) also holds with an open-order cap: snapshot + replay equals straight through", () => {
    const opts = { openOrdersMaxPerAccount: 4 };
    fc.assert(
      fc.property(streamArb, fc.nat(), (cmds, at) => {
        const cut = at % (cmds.length + 1);
        const rec = new EventRecorder();
        const straight = new Engine([INST], rec, opts);
        cmds.slice(0, cut).forEach((c) => straight.apply(c));
        const restored = Engine.restore(JSON.parse(JSON.stringify(straight.snapshot())) as EngineSnapshot, new EventRecorder(), opts);
        cmds.slice(cut).forEach((c) => { straight.apply(c); restored.apply(c); });
        expect(restored.stateHash()).toBe(straight.stateHash());
        expect(restored.liveOrders).toBe(straight.liveOrders);
      }),
      { ...runs, numRuns: 200 },
    );
  });

  it("different states hash differently (a moved order, a changed qty, another priority)", () => {
    const base: Command[] = [
      { type: "limit", instrument: 1, orderId: 1, account: 1, side: 0, price: 99, qty: 5 },
      { type: "limit", instrument: 1, orderId: 2, account: 1, side: 0, price: 99, qty: 5 },
    ];
    const hashes = new Set([
      run(base).hash,
      run([...base, { type: "modify", orderId: 1, account: 1, price: 99, qty: 4 }]).hash,
      run([...base, { type: "modify", orderId: 1, account: 1, price: 99, qty: 6 }, { type: "modify", orderId: 1, account: 1, price: 99, qty: 5 }]).hash,
      run([...base, { type: "modify", orderId: 1, account: 1, price: 98, qty: 5 }]).hash,
    ]);
    expect(hashes.size).toBe(4);
  });
});
