/**
 * Generates the steady-state command stream both engines replay. Generation runs Lockstep's
 * engine alongside to know which orders are live, so cancels and modifies name real resting
 * orders as they would in a live market; none of this is timed.
 *
 * The mix per steady command: ~50 % new limits (~10 % of them crossing the spread), ~35 %
 * cancels of a random live order, ~10 % modifies (half a qty reduction, half a price move),
 * ~5 % market orders. Aggressive sizes are about one resting order's size, which keeps the
 * depth near its starting level.
 */
import { Engine, NullListener, Side, Stp, Tif, type InstrumentConfig } from "../src/engine/index.js";
import { Rng } from "../src/util/rng.js";

export const Op = { LIMIT: 0, CANCEL: 1, MODIFY: 2, MARKET: 3 } as const;

export const BENCH_INSTRUMENT: InstrumentConfig = {
  id: 1, symbol: "BENCH", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 10_000_000,
};

const MID = 1_000_000;

/** Struct-of-arrays so replaying touches no per-command objects. */
export interface Stream {
  readonly length: number;
  /** Commands [0, prefill) build the starting book and are not timed. */
  readonly prefill: number;
  readonly op: Uint8Array;
  readonly id: Int32Array;
  readonly side: Uint8Array;
  readonly price: Int32Array;
  readonly qty: Int32Array;
  /** For modifies: 1 when the price moves, 0 when only the qty drops. */
  readonly movesPrice: Uint8Array;
  /** Order ids as strings, for the peer's API (index = numeric id). */
  readonly idText: string[];
}

/** Live order ids with O(1) add, remove and random pick. */
class LiveSet {
  private readonly ids: number[] = [];
  private readonly pos = new Map<number, number>();
  get size(): number {
    return this.ids.length;
  }
  add(id: number): void {
    this.pos.set(id, this.ids.length);
    this.ids.push(id);
  }
  delete(id: number): void {
    const i = this.pos.get(id);
    if (i === undefined) return;
    const last = this.ids.pop()!;
    if (last !== id) {
      this.ids[i] = last;
      this.pos.set(last, i);
    }
    this.pos.delete(id);
  }
  pick(rng: Rng): number {
    return this.ids[rng.u32() % this.ids.length]!;
  }
}

class Tracker extends NullListener {
  constructor(private readonly live: LiveSet) {
    super();
  }
  override trade(_i: number, _t: number, makerId: number, _ma: number, _ti: number, _ta: number, _s: Side, _p: number, _q: number, makerLeft: number): void {
    if (makerLeft === 0) this.live.delete(makerId);
  }
  override cancelled(_i: number, orderId: number): void {
    this.live.delete(orderId);
  }
}

export function generateStream(depth: number, steady: number, seed: number): Stream {
  const length = depth + steady;
  const s = {
    length, prefill: depth,
    op: new Uint8Array(length), id: new Int32Array(length), side: new Uint8Array(length),
    price: new Int32Array(length), qty: new Int32Array(length), movesPrice: new Uint8Array(length),
    idText: [""] as string[],
  };
  const rng = new Rng(seed);
  const live = new LiveSet();
  const engine = new Engine([BENCH_INSTRUMENT], new Tracker(live));
  let nextId = 1;
  const spread = Math.max(50, Math.round(depth / 40));
  for (let i = 0; i < length; i++) {
    const r = i < depth ? 0 : rng.next();
    // Aggressive orders grow while the book is deeper than asked, so depth stays near `depth`.
    const aggressiveQty = rng.int(1, 100) + (live.size > depth ? rng.int(50, 150) : 0);
    if (r < 0.5 || live.size === 0) addLimit(s, i, nextId++, rng, engine, spread, r < 0.05 && i >= depth, aggressiveQty);
    else if (r < 0.85) {
      s.op[i] = Op.CANCEL;
      s.id[i] = live.pick(rng);
    } else if (r < 0.95) addModify(s, i, rng, engine, live);
    else {
      s.op[i] = Op.MARKET;
      s.id[i] = nextId++;
      s.side[i] = rng.int(0, 1);
      s.qty[i] = aggressiveQty;
    }
    applyOne(engine, s, i);
    const isLive = engine.order(s.id[i]!) !== undefined;
    if (s.op[i] === Op.LIMIT && isLive) live.add(s.id[i]!);
    else if (s.op[i] === Op.MODIFY && !isLive) live.delete(s.id[i]!);
  }
  for (let id = 1; id < nextId; id++) s.idText.push(`o${id}`);
  return s;
}

function addLimit(s: Stream, i: number, id: number, rng: Rng, engine: Engine, spread: number, crossing: boolean, aggressiveQty: number): void {
  const side = rng.int(0, 1) as Side;
  const d = engine.depth(BENCH_INSTRUMENT.id, 1);
  const bid = d.bids[0]?.[0] ?? MID - 1;
  const ask = d.asks[0]?.[0] ?? MID + 1;
  const mid = Math.floor((bid + ask) / 2);
  // Passive orders cluster near the touch (squared uniform), as real books do.
  const u = rng.next();
  const offset = 1 + Math.floor(u * u * spread);
  let price = side === Side.BUY ? mid - offset : mid + offset;
  if (crossing) price = side === Side.BUY ? ask + rng.int(0, 2) : bid - rng.int(0, 2);
  else if (side === Side.BUY && price >= ask) price = ask - 1;
  else if (side === Side.SELL && price <= bid) price = bid + 1;
  s.op[i] = Op.LIMIT;
  s.id[i] = id;
  s.side[i] = side;
  s.price[i] = Math.max(1, price);
  s.qty[i] = crossing ? aggressiveQty : rng.int(1, 100);
}

function addModify(s: Stream, i: number, rng: Rng, engine: Engine, live: LiveSet): void {
  const id = live.pick(rng);
  const o = engine.order(id)!;
  s.op[i] = Op.MODIFY;
  s.id[i] = id;
  s.side[i] = o.side;
  if (rng.next() < 0.5 || o.leaves === 1) {
    s.movesPrice[i] = 1;
    const away = o.side === Side.BUY ? -1 : 1;
    s.price[i] = Math.max(1, o.price + away * rng.int(-2, 5));
    s.qty[i] = o.leaves;
  } else {
    s.price[i] = o.price;
    s.qty[i] = rng.int(1, o.leaves - 1);
  }
}

/** Applies command i of a stream to Lockstep's engine. */
export function applyOne(engine: Engine, s: Stream, i: number): void {
  switch (s.op[i]) {
    case Op.LIMIT:
      engine.placeLimit(1, s.id[i]!, 1 + (s.id[i]! & 63), s.side[i] as Side, s.price[i]!, s.qty[i]!, Tif.GTC, false, Stp.NONE);
      break;
    case Op.CANCEL:
      engine.cancel(s.id[i]!, 0);
      break;
    case Op.MODIFY:
      engine.modify(s.id[i]!, 0, s.price[i]!, s.qty[i]!);
      break;
    default:
      engine.placeMarket(1, s.id[i]!, 1 + (s.id[i]! & 63), s.side[i] as Side, s.qty[i]!, Stp.NONE);
  }
}
