/**
 * A deliberately naive reference engine for differential tests: resting orders live in one
 * flat array and every matching step re-sorts the candidates by price, then arrival; client
 * order ids are found by scanning that array and a flat list of finished ones. It is slow and
 * obviously correct, and it implements the same documented rules as src/engine for limit
 * (GTC/IOC/FOK, post-only), market, cancel and modify (by order id or client order id), the
 * kill switch, self-trade prevention, cumulative quantity and notional, and client order id
 * reuse. It emits the same events except level changes, which tests check separately against
 * depth(). Like the engine it reads no clock and iterates only arrays.
 */
import {
  CancelReason, isClientOrderId, OrderStatus, Reason, RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT, Side, Stp, Tif, type EngineEvent, type InstrumentConfig,
} from "../../src/engine/index.js";

interface RefOrder {
  id: number;
  account: number;
  side: Side;
  price: number;
  leaves: number;
  cum: number;
  notional: number;
  coid: string;
  postOnly: boolean;
  stp: Stp;
  arrival: number;
}

/** A finished order's client id, in the order orders finished. */
interface RefFinished { account: number; coid: string; orderId: number; status: OrderStatus; cum: number; notional: number }

const isId = (x: number): boolean => Number.isSafeInteger(x) && x > 0;
const isAccount = (x: number): boolean => Number.isSafeInteger(x) && x >= 0;

export class NaiveEngine {
  events: EngineEvent[] = [];
  private resting: RefOrder[] = [];
  private finished: RefFinished[] = [];
  private arrival = 0;
  private tradeSeq = 0;
  private readonly recentMax: number;

  constructor(private readonly cfg: InstrumentConfig, options: { recentClientOrderIdsMaxPerAccount?: number } = {}) {
    this.recentMax = options.recentClientOrderIdsMaxPerAccount ?? RECENT_CLIENT_ORDER_IDS_MAX_DEFAULT;
  }

  // ---- client order ids ---------------------------------------------------------------

  private remember(f: RefFinished): void {
    this.finished.push(f);
    const mine = this.finished.filter((x) => x.account === f.account);
    if (mine.length > this.recentMax) this.finished.splice(this.finished.indexOf(mine[0]!), 1);
  }

  private done(o: RefOrder, status: OrderStatus): void {
    if (o.coid !== "") this.remember({ account: o.account, coid: o.coid, orderId: o.id, status, cum: o.cum, notional: o.notional });
  }

  private coidReason(account: number, coid: string): Reason {
    if (coid === "") return Reason.OK;
    if (!isAccount(account) || !isClientOrderId(coid)) return Reason.INVALID_FIELD;
    const used = this.resting.some((o) => o.account === account && o.coid === coid) || this.finished.some((f) => f.account === account && f.coid === coid);
    return used ? Reason.DUPLICATE_CLIENT_ORDER_ID : Reason.OK;
  }

  // ---- rejects ----------------------------------------------------------------------------

  private reject(id: number, account: number, reason: Reason, coid = ""): Reason {
    this.events.push({ e: "rejected", orderId: isId(id) ? id : 0, account: isAccount(account) ? account : 0, reason, coid: isClientOrderId(coid) ? coid : "", status: OrderStatus.REJECTED, leaves: 0, cum: 0, notional: 0 });
    return reason;
  }

  private rejectOn(o: RefOrder, account: number, reason: Reason): Reason {
    this.events.push({ e: "rejected", orderId: o.id, account, reason, coid: o.coid, status: o.cum > 0 ? OrderStatus.PARTIALLY_FILLED : OrderStatus.NEW, leaves: o.leaves, cum: o.cum, notional: o.notional });
    return reason;
  }

  private rejectFinished(f: RefFinished, account: number, reason: Reason): Reason {
    this.events.push({ e: "rejected", orderId: f.orderId, account, reason, coid: f.coid, status: f.status, leaves: 0, cum: f.cum, notional: f.notional });
    return reason;
  }

  private rejectNew(id: number, account: number, reason: Reason, coid: string): Reason {
    if (reason === Reason.DUPLICATE_CLIENT_ORDER_ID) {
      const live = this.resting.find((o) => o.account === account && o.coid === coid);
      return live !== undefined ? this.rejectOn(live, account, reason) : this.rejectFinished(this.finished.find((f) => f.account === account && f.coid === coid)!, account, reason);
    }
    this.reject(id, account, reason, coid);
    if (coid !== "" && isAccount(account) && isClientOrderId(coid)) this.remember({ account, coid, orderId: isId(id) ? id : 0, status: OrderStatus.REJECTED, cum: 0, notional: 0 });
    return reason;
  }

  // ---- validation -------------------------------------------------------------------------

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

  private newReason(instrument: number, id: number, account: number, side: number, qty: number, stp: number, coid: string): Reason {
    const c = this.coidReason(account, coid);
    if (c !== Reason.OK) return c;
    if (instrument !== this.cfg.id) return Reason.UNKNOWN_INSTRUMENT;
    if (!isId(id) || !isAccount(account) || !(side === 0 || side === 1) || !(Number.isSafeInteger(stp) && stp >= 0 && stp <= 3)) return Reason.INVALID_FIELD;
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

  // ---- commands ---------------------------------------------------------------------------

  limit(instrument: number, id: number, account: number, side: Side, price: number, qty: number, tif: Tif, postOnly: boolean, stp: Stp, coid = ""): Reason {
    let r = this.newReason(instrument, id, account, side, qty, stp, coid);
    if (r === Reason.OK && !(tif === 0 || tif === 1 || tif === 2)) r = Reason.INVALID_FIELD;
    if (r === Reason.OK) r = this.priceReason(price);
    if (r === Reason.OK && postOnly && this.candidates(side, price).length > 0) r = Reason.POST_ONLY_WOULD_CROSS;
    if (r === Reason.OK && tif === Tif.FOK && !this.fokFillable(side, account, stp, price, qty)) r = Reason.FOK_NOT_FILLABLE;
    if (r !== Reason.OK) return this.rejectNew(id, account, r, coid);
    this.events.push({ e: "accepted", instrument, orderId: id, account, side, kind: 0, price, qty, coid });
    this.run({ id, account, side, price, leaves: qty, cum: 0, notional: 0, coid, postOnly, stp, arrival: ++this.arrival }, price, tif);
    return Reason.OK;
  }

  market(instrument: number, id: number, account: number, side: Side, qty: number, stp: Stp, coid = ""): Reason {
    let r = this.newReason(instrument, id, account, side, qty, stp, coid);
    if (r === Reason.OK && this.candidates(side, null).length === 0) r = Reason.NO_LIQUIDITY;
    if (r !== Reason.OK) return this.rejectNew(id, account, r, coid);
    this.events.push({ e: "accepted", instrument, orderId: id, account, side, kind: 1, price: 0, qty, coid });
    this.run({ id, account, side, price: 0, leaves: qty, cum: 0, notional: 0, coid, postOnly: false, stp, arrival: ++this.arrival }, null, Tif.IOC);
    return Reason.OK;
  }

  private cancelEvent(o: RefOrder, reason: CancelReason): void {
    this.events.push({ e: "cancelled", instrument: this.cfg.id, orderId: o.id, account: o.account, leftQty: o.leaves, reason, cum: o.cum, notional: o.notional, coid: o.coid });
    this.done(o, OrderStatus.CANCELLED);
  }

  private run(t: RefOrder, limit: number | null, tif: Tif): void {
    const inst = this.cfg.id;
    while (t.leaves > 0) {
      const m = this.candidates(t.side, limit)[0];
      if (m === undefined) break;
      if (t.stp !== Stp.NONE && m.account === t.account) {
        if (t.stp !== Stp.CANCEL_NEWEST) {
          this.resting = this.resting.filter((o) => o !== m);
          this.cancelEvent(m, CancelReason.STP);
        }
        if (t.stp === Stp.CANCEL_OLDEST) continue;
        this.cancelEvent(t, CancelReason.STP);
        return;
      }
      const q = Math.min(m.leaves, t.leaves);
      for (const o of [m, t]) {
        o.leaves -= q;
        o.cum += q;
        o.notional += q * m.price;
      }
      this.events.push({
        e: "trade", instrument: inst, tradeId: ++this.tradeSeq, makerId: m.id, makerAccount: m.account, takerId: t.id, takerAccount: t.account, takerSide: t.side, price: m.price, qty: q,
        makerLeft: m.leaves, takerLeft: t.leaves, makerCum: m.cum, makerNotional: m.notional, takerCum: t.cum, takerNotional: t.notional, makerCoid: m.coid, takerCoid: t.coid,
      });
      if (m.leaves === 0) {
        this.resting = this.resting.filter((o) => o !== m);
        this.done(m, OrderStatus.FILLED);
      }
    }
    if (t.leaves === 0) return this.done(t, OrderStatus.FILLED);
    if (limit !== null && tif === Tif.GTC) this.resting.push(t);
    else {
      this.events.push({ e: "expired", instrument: inst, orderId: t.id, account: t.account, leftQty: t.leaves, cum: t.cum, notional: t.notional, coid: t.coid });
      this.done(t, OrderStatus.EXPIRED);
    }
  }

  private owned(id: number, account: number): { o?: RefOrder; r: Reason } {
    if (!isId(id) || !isAccount(account)) return { r: Reason.INVALID_FIELD };
    const o = this.resting.find((x) => x.id === id);
    if (o === undefined) return { r: Reason.UNKNOWN_ORDER };
    return { o, r: account === 0 || o.account === account ? Reason.OK : Reason.NOT_OWNER };
  }

  /** The order a cancel or modify names, or the reject it gets. */
  private target(c: { orderId?: number; clientOrderId?: string; account: number }): { o: RefOrder } | { rejected: Reason } {
    if (c.clientOrderId === undefined) {
      const { o, r } = this.owned(c.orderId ?? 0, c.account);
      return r === Reason.OK ? { o: o! } : { rejected: this.reject(c.orderId ?? 0, c.account, r) };
    }
    if (c.orderId !== undefined) return { rejected: this.reject(c.orderId, c.account, Reason.INVALID_FIELD) };
    const coid = c.clientOrderId;
    if (!isAccount(c.account) || !isClientOrderId(coid)) return { rejected: this.reject(0, c.account, Reason.INVALID_FIELD) };
    const o = this.resting.find((x) => x.account === c.account && x.coid === coid);
    if (o !== undefined) return { o };
    const f = this.finished.find((x) => x.account === c.account && x.coid === coid);
    return { rejected: f !== undefined ? this.rejectFinished(f, c.account, Reason.UNKNOWN_ORDER) : this.reject(0, c.account, Reason.UNKNOWN_ORDER, coid) };
  }

  cancel(c: { orderId?: number; clientOrderId?: string; account: number }): Reason {
    const t = this.target(c);
    if ("rejected" in t) return t.rejected;
    this.resting = this.resting.filter((x) => x !== t.o);
    this.cancelEvent(t.o, CancelReason.USER);
    return Reason.OK;
  }

  modify(c: { orderId?: number; clientOrderId?: string; account: number; price: number; qty: number }): Reason {
    const t = this.target(c);
    if ("rejected" in t) return t.rejected;
    const { o } = t;
    const { price, qty } = c;
    let r = this.priceReason(price);
    if (r === Reason.OK) r = this.qtyReason(qty);
    if (r === Reason.OK && o.cum + qty > this.cfg.qtyMax) r = Reason.QTY_TOO_LARGE;
    if (r === Reason.OK && o.postOnly && price !== o.price && this.candidates(o.side, price).length > 0) r = Reason.POST_ONLY_WOULD_CROSS;
    if (r !== Reason.OK) return this.rejectOn(o, c.account, r);
    this.events.push({ e: "modified", instrument: this.cfg.id, orderId: o.id, account: o.account, price, qty, cum: o.cum, notional: o.notional, coid: o.coid });
    if (price === o.price && qty <= o.leaves) {
      o.leaves = qty;
      return Reason.OK;
    }
    this.resting = this.resting.filter((x) => x !== o);
    this.run({ ...o, price, leaves: qty, arrival: ++this.arrival }, price, Tif.GTC);
    return Reason.OK;
  }

  /** The kill switch, in the engine's canonical order: bids best to worst, then asks, each level oldest first. */
  cancelAll(account: number): Reason {
    if (!isId(account)) return this.reject(0, isAccount(account) ? account : 0, Reason.INVALID_FIELD);
    const rank = (o: RefOrder): number => (o.side === Side.BUY ? -o.price : o.price);
    const victims = this.resting.filter((o) => o.account === account).sort((a, b) => a.side - b.side || rank(a) - rank(b) || a.arrival - b.arrival);
    for (const o of victims) {
      this.resting = this.resting.filter((x) => x !== o);
      this.cancelEvent(o, CancelReason.KILL);
    }
    this.events.push({ e: "killed", account, cancelledCount: victims.length });
    return Reason.OK;
  }

  /** [price, qty] best first, like Engine.depth. */
  depth(): { bids: [number, number][]; asks: [number, number][] } {
    const side = (s: Side): [number, number][] => {
      const byPrice: [number, number][] = [];
      for (const o of this.resting) {
        if (o.side !== s) continue;
        const level = byPrice.find((l) => l[0] === o.price);
        if (level === undefined) byPrice.push([o.price, o.leaves]);
        else level[1] += o.leaves;
      }
      return byPrice.sort((a, b) => (s === Side.BUY ? b[0] - a[0] : a[0] - b[0]));
    };
    return { bids: side(Side.BUY), asks: side(Side.SELL) };
  }

  /** Resting ids at one price in time priority, like Engine.levelOrders. */
  levelOrders(side: Side, price: number): number[] {
    return this.resting.filter((o) => o.side === side && o.price === price).sort((a, b) => a.arrival - b.arrival).map((o) => o.id);
  }
}
