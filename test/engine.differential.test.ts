/**
 * Differential tests. (1) Against the naive reference engine (test/reference): on random
 * streams of limit (all TIFs, post-only), market, cancel and modify (by order id and by client
 * order id) and kill-switch commands, with self-trade prevention, client order ids that collide
 * and are forgotten, and hostile values, both emit the same events (level changes aside; each
 * order's cum, notional and client id and every reject's status included) and end with the
 * same book, level by level and order by order. (2) Against nodejs-order-book, the
 * peer we benchmark, on the commands both support the same way (GTC limit, market, cancel):
 * the same trades (maker, price, qty, in order) and the same final book.
 */
import fc from "fast-check";
import { OrderBook, Side as PeerSide } from "nodejs-order-book";
import { describe, expect, it } from "vitest";
import { Engine, EventRecorder, Side, Stp, Tif, type Command } from "../src/engine/index.js";
import { INST, basicCommandArb } from "./helpers.js";
import { NaiveEngine } from "./reference/naive-engine.js";

const seed = Number(process.env.FC_SEED ?? 20261125);

function applyNaive(n: NaiveEngine, c: Command): void {
  switch (c.type) {
    case "limit":
      n.limit(c.instrument, c.orderId, c.account, c.side, c.price, c.qty, c.tif ?? Tif.GTC, c.postOnly ?? false, c.stp ?? Stp.NONE, c.clientOrderId ?? "");
      break;
    case "market":
      n.market(c.instrument, c.orderId, c.account, c.side, c.qty, c.stp ?? Stp.NONE, c.clientOrderId ?? "");
      break;
    case "cancel":
      n.cancel(c);
      break;
    case "modify":
      n.modify(c);
      break;
    case "cancel-all":
      n.cancelAll(c.account);
      break;
    default:
      throw new Error(`reference engine does not support ${c.type}`);
  }
}

describe("differential: Lockstep engine vs naive reference", () => {
  // A small memory of finished client ids so that forgetting (and then reusing) them happens often.
  const options = { recentClientOrderIdsMaxPerAccount: 3 };
  it("same events (cum, notional, client ids and statuses included) and same book on random streams", () => {
    fc.assert(
      fc.property(fc.array(basicCommandArb, { minLength: 1, maxLength: 200, size: "max" }), (cmds) => {
        const rec = new EventRecorder();
        const e = new Engine([INST], rec, options);
        const n = new NaiveEngine(INST, options);
        for (const c of cmds) {
          e.apply(c);
          applyNaive(n, c);
          expect(rec.take().filter((x) => x.e !== "level")).toEqual(n.events.splice(0));
        }
        const d = e.depth(1);
        expect(d).toEqual(n.depth());
        for (const [side, levels] of [[Side.BUY, d.bids], [Side.SELL, d.asks]] as const) {
          for (const [price] of levels) expect(e.levelOrders(1, side, price)).toEqual(n.levelOrders(side, price));
        }
      }),
      { seed, numRuns: 300 },
    );
  });
});

/** Rebuilds nodejs-order-book's trades from its `done`/`partial` report, given each resting order's size and price. */
function peerTrades(r: ReturnType<OrderBook["limit"]>, takerId: string | null, known: Map<string, { size: number; price: number }>): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (const o of r.done) {
    if (o.id === takerId) continue;
    const k = known.get(o.id)!;
    out.push([o.id, k.price, k.size]);
    known.delete(o.id);
  }
  if (r.partial !== null && r.partial.id !== takerId) {
    const k = known.get(r.partial.id)!;
    out.push([r.partial.id, k.price, r.partialQuantityProcessed]);
    k.size -= r.partialQuantityProcessed;
  }
  return out;
}

const peerArb = fc.array(
  fc.oneof(
    { weight: 10, arbitrary: fc.record({ type: fc.constant("limit" as const), side: fc.constantFrom(0 as const, 1 as const), price: fc.integer({ min: 95, max: 105 }), qty: fc.integer({ min: 1, max: 20 }) }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant("market" as const), side: fc.constantFrom(0 as const, 1 as const), qty: fc.integer({ min: 1, max: 40 }) }) },
    { weight: 4, arbitrary: fc.record({ type: fc.constant("cancel" as const), pick: fc.nat() }) },
  ),
  { minLength: 1, maxLength: 300, size: "max" },
);

describe("differential: Lockstep engine vs nodejs-order-book", () => {
  it("same trades and same final book for limit, market and cancel", () => {
    fc.assert(
      fc.property(peerArb, (cmds) => {
        const rec = new EventRecorder();
        const e = new Engine([INST], rec);
        const peer = new OrderBook();
        const known = new Map<string, { size: number; price: number }>();
        let nextId = 1;
        for (const c of cmds) {
          const id = nextId++;
          const text = `o${id}`;
          const side = c.type !== "cancel" && c.side === Side.BUY ? PeerSide.BUY : PeerSide.SELL;
          let theirs: [string, number, number][] = [];
          if (c.type === "limit") {
            e.placeLimit(1, id, 1, c.side, c.price, c.qty, Tif.GTC, false, Stp.NONE);
            const r = peer.limit({ id: text, side, price: c.price, size: c.qty });
            theirs = peerTrades(r, text, known);
            if (e.order(id) !== undefined) known.set(text, { size: e.order(id)!.leaves, price: c.price });
          } else if (c.type === "market") {
            if (e.placeMarket(1, id, 1, c.side, c.qty, Stp.NONE) !== 0) continue;
            theirs = peerTrades(peer.market({ side, size: c.qty }), null, known);
          } else {
            const live = [...known.keys()];
            if (live.length === 0) continue;
            const victim = live[c.pick % live.length]!;
            e.cancel(Number(victim.slice(1)), 0);
            peer.cancel(victim);
            known.delete(victim);
          }
          const ours = rec.take().flatMap((x) => (x.e === "trade" ? [[`o${x.makerId}`, x.price, x.qty] as [string, number, number]] : []));
          expect(theirs).toEqual(ours);
        }
        const [asks, bids] = peer.depth();
        const d = e.depth(1);
        expect([...bids].sort((a, b) => b[0] - a[0])).toEqual(d.bids);
        expect([...asks].sort((a, b) => a[0] - b[0])).toEqual(d.asks);
      }),
      { seed, numRuns: 200 },
    );
  });
});
