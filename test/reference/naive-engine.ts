/**
 * A deliberately naive reference engine for differential tests: resting orders live in one
 * flat array and every matching step re-sorts the candidates by price, then arrival. It is
 * slow and obviously correct, and it implements the same documented rules as src/engine for
 * limit (GTC/IOC/FOK, post-only), market, cancel, modify and self-trade prevention. It emits
 * the same events except level changes, which tests check separately against depth().
 */
import { CancelReason, Reason, Side, Stp, Tif, type EngineEvent, type InstrumentConfig } from "../../src/engine/index.js";

interface RefOrder {
  id: number;
  account: number;
  side: Side;
  price: number;
  leaves: number;
  postOnly: boolean;
  stp: Stp;
  arrival: number;
}

const isId = (x: number): boolean => Number.isSafeInteger(x) && x > 0;

export class NaiveEngine {
  events: EngineEvent[] = [];
  private resting: RefOrder[] = [];
  private arrival = 0;
  private tradeSeq = 0;

  constructor(private readonly cfg: InstrumentConfig) {}

  private reject(id: number, account: number, reason: Reason): Reason {
    this.events.push({ e: "rejected", orderId: isId(id) ? id : 0, account: Number.isSafeInteger(account) && account >= 0 ? account : 0, reason });
    return reason;
  }

  private qtyReason(qty: number): Reason {
    if (!Number.isSafeInteger(qty)) return Reason.INVALID_FIELD;
    if (qty < this.cfg.qtyMin) return Reason.QTY_TOO_SMALL;
    if (qty > this.cfg.qtyMax) return Reason.QTY_TOO_LARGE;
    return qty % this.cfg.lotSize === 0 ? Reason.OK : Reason.QTY_NOT_ON_LOT;
  }

  private priceReason(price: number): Reason {
    if (!Number.isSafeInteger(price)) return Reason.INVALID_FIELD;
    if (price < this.cfg.priceMin || price > this.cfg.priceMax) return Reason.PRICE_OUT_OF_BAND;
    return price % this.cfg.tickSize === 0 ? Reason.OK : Reason.PRICE_NOT_ON_TICK;
  }

  private newReason(instrument: number, id: number, account: number, side: number, qty: number, stp: number): Reason {
    if (instrument !== this.cfg.id) return Reason.UNKNOWN_INSTRUMENT;
    if (!isId(id) || !(Number.isSafeInteger(account) && account >= 0) || !(side === 0 || side === 1) || !(Number.isSafeInteger(stp) && stp >= 0 && stp <= 3)) return Reason.INVALID_FIELD;
    const r = this.qtyReason(qty);
    if (r !== Reason.OK) return r;
    return this.resting.some((o) => o.id === id) ? Reason.DUPLICATE_ORDER_ID : Reason.OK;
  }

  /** Opposite orders this side may trade with at `price` (Infinity-free: null = market), best first. */
  private candidates(side: Side, price: number | null): RefOrder[] {
    return this.resting
      .filter((o) => o.side !== side && (price === null || (side === Side.BUY ? o.price <= price : o.price >= price)))
      .sort((a, b) => (a.price !== b.price ? (side === Side.BUY ? a.price - b.price : b.price - a.price) : a.arrival - b.arrival));
  }

  private fokFillable(side: Side, account: number, stp: Stp, price: number, qty: number): boolean {
    let sum = 0;
    for (const m of this.candidates(side, price)) {
      if (stp !== Stp.NONE && m.account === account) {
        if (stp !== Stp.CANCEL_OLDEST) return false;
        continue;
      }
      sum += m.leaves;
      if (sum >= qty) return true;
    }
    return false;
  }

  limit(instrument: number, id: number, account: number, side: Side, price: number, qty: number, tif: Tif, postOnly: boolean, stp: Stp): Reason {
    let r = this.newReason(instrument, id, account, side, qty, stp);
    if (r === Reason.OK && !(tif === 0 || tif === 1 || tif === 2)) r = Reason.INVALID_FIELD;
    if (r === Reason.OK) r = this.priceReason(price);
    if (r === Reason.OK && postOnly && this.candidates(side, price).length > 0) r = Reason.POST_ONLY_WOULD_CROSS;
    if (r === Reason.OK && tif === Tif.FOK && !this.fokFillable(side, account, stp, price, qty)) r = Reason.FOK_NOT_FILLABLE;
    if (r !== Reason.OK) return this.reject(id, account, r);
    this.events.push({ e: "accepted", instrument, orderId: id, account, side, kind: 0, price, qty });
    this.run({ id, account, side, price, leaves: qty, postOnly, stp, arrival: ++this.arrival }, price, tif);
    return Reason.OK;
  }

  market(instrument: number, id: number, account: number, side: Side, qty: number, stp: Stp): Reason {
    let r = this.newReason(instrument, id, account, side, qty, stp);
    if (r === Reason.OK && this.candidates(side, null).length === 0) r = Reason.NO_LIQUIDITY;
    if (r !== Reason.OK) return this.reject(id, account, r);
    this.events.push({ e: "accepted", instrument, orderId: id, account, side, kind: 1, price: 0, qty });
    this.run({ id, account, side, price: 0, leaves: qty, postOnly: false, stp, arrival: ++this.arrival }, null, Tif.IOC);
    return Reason.OK;
  }

  private run(t: RefOrder, limit: number | null, tif: Tif): void {
    const inst = this.cfg.id;
    while (t.leaves > 0) {
      const m = this.candidates(t.side, limit)[0];
      if (m === undefined) break;
      if (t.stp !== Stp.NONE && m.account === t.account) {
        if (t.stp !== Stp.CANCEL_NEWEST) {
          this.resting = this.resting.filter((o) => o !== m);
          this.events.push({ e: "cancelled", instrument: inst, orderId: m.id, account: m.account, leftQty: m.leaves, reason: CancelReason.STP });
        }
        if (t.stp === Stp.CANCEL_OLDEST) continue;
        this.events.push({ e: "cancelled", instrument: inst, orderId: t.id, account: t.account, leftQty: t.leaves, reason: CancelReason.STP });
        return;
      }
      const q = Math.min(m.leaves, t.leaves);
      m.leaves -= q;
      t.leaves -= q;
      this.events.push({ e: "trade", instrument: inst, tradeId: ++this.tradeSeq, makerId: m.id, makerAccount: m.account, takerId: t.id, takerAccount: t.account, takerSide: t.side, price: m.price, qty: q, makerLeft: m.leaves, takerLeft: t.leaves });
      if (m.leaves === 0) this.resting = this.resting.filter((o) => o !== m);
    }
    if (t.leaves === 0) return;
    if (limit !== null && tif === Tif.GTC) this.resting.push(t);
    else this.events.push({ e: "expired", instrument: inst, orderId: t.id, account: t.account, leftQty: t.leaves });
  }

  private owned(id: number, account: number): { o?: RefOrder; r: Reason } {
    if (!isId(id) || !(Number.isSafeInteger(account) && account >= 0)) return { r: Reason.INVALID_FIELD };
    const o = this.resting.find((x) => x.id === id);
    if (o === undefined) return { r: Reason.UNKNOWN_ORDER };
    return { o, r: account === 0 || o.account === account ? Reason.OK : Reason.NOT_OWNER };
  }

  cancel(id: number, account: number): Reason {
    const { o, r } = this.owned(id, account);
    if (r !== Reason.OK) return this.reject(id, account, r);
    this.resting = this.resting.filter((x) => x !== o);
    this.events.push({ e: "cancelled", instrument: this.cfg.id, orderId: id, account: o!.account, leftQty: o!.leaves, reason: CancelReason.USER });
    return Reason.OK;
  }

  modify(id: number, account: number, price: number, qty: number): Reason {
    const found = this.owned(id, account);
    let r = found.r;
    if (r === Reason.OK) r = this.priceReason(price);
    if (r === Reason.OK) r = this.qtyReason(qty);
    const o = found.o;
    if (r === Reason.OK && o!.postOnly && price !== o!.price && this.candidates(o!.side, price).length > 0) r = Reason.POST_ONLY_WOULD_CROSS;
    if (r !== Reason.OK) return this.reject(id, account, r);
    this.events.push({ e: "modified", instrument: this.cfg.id, orderId: id, account: o!.account, price, qty });
    if (price === o!.price && qty <= o!.leaves) {
      o!.leaves = qty;
      return Reason.OK;
    }
    this.resting = this.resting.filter((x) => x !== o);
    this.run({ ...o!, price, leaves: qty, arrival: ++this.arrival }, price, Tif.GTC);
    return Reason.OK;
  }

  /** [price, qty] best first, like Engine.depth. */
  depth(): { bids: [number, number][]; asks: [number, number][] } {
    const side = (s: Side): [number, number][] => {
      const byPrice = new Map<number, number>();
      for (const o of this.resting) if (o.side === s) byPrice.set(o.price, (byPrice.get(o.price) ?? 0) + o.leaves);
      return [...byPrice.entries()].sort((a, b) => (s === Side.BUY ? b[0] - a[0] : a[0] - b[0]));
    };
    return { bids: side(Side.BUY), asks: side(Side.SELL) };
  }

  /** Resting ids at one price in time priority, like Engine.levelOrders. */
  levelOrders(side: Side, price: number): number[] {
    return this.resting.filter((o) => o.side === side && o.price === price).sort((a, b) => a.arrival - b.arrival).map((o) => o.id);
  }
}
