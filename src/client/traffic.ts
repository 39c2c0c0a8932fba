/**
 * Demo and test traffic: one trading client sends a seeded mix of orders (limits around a mid
 * price, some crossing; market orders; cancels and modifies of its own open orders), keeping at
 * most `windowMax` requests in flight. Bounded by a command count.
 *
 * Which orders are open it learns, given a replica's feed, from its own execution reports: an
 * order joins when accepted and leaves when a report says it FILLED, was CANCELLED, EXPIRED or
 * REJECTED, so it does not cancel orders that have already filled (what is left is the race
 * between a cancel in flight and a fill). Its limit orders then carry client order ids, and
 * every other cancel names its order by one. Without a feed it remembers every acknowledged
 * limit order as open, and some of its cancels and modifies meet orders long filled.
 */
import { OrderStatus } from "../engine/index.js";
import { ReportKind, type Report } from "../protocol/messages.js";
import { Rng } from "../util/rng.js";
import type { OrderRef } from "./codec.js";
import { FeedClient } from "./feed.js";
import { LockstepError, TradingClient, type Credentials } from "./trading.js";

export interface TrafficOptions {
  readonly instrument: number;
  readonly commands: number;
  readonly seed: number;
  readonly windowMax: number;
  readonly mid: number;
  /** Paces sending to this many commands per second; unpaced when absent. */
  readonly ratePerS?: number;
  /** Checked before each command: stop early when it returns true. */
  readonly stop?: () => boolean;
  /** Replicas' /feed URLs (tried in turn): follow the account's own reports to know which orders are open. */
  readonly feed?: { readonly urls: readonly string[]; readonly credentials?: Credentials };
}

export interface TrafficResult {
  acked: number;
  rejected: number;
  lastSeq: number;
}

/** Open orders with O(1) add, remove and random pick. */
class OpenOrders {
  private readonly ids: number[] = [];
  private readonly at = new Map<number, number>();
  readonly coids = new Map<number, string>();

  get size(): number {
    return this.ids.length;
  }
  add(oid: number, coid?: string): void {
    if (this.at.has(oid)) return;
    this.at.set(oid, this.ids.length);
    this.ids.push(oid);
    if (coid !== undefined) this.coids.set(oid, coid);
  }
  remove(oid: number): void {
    const i = this.at.get(oid);
    if (i === undefined) return;
    const moved = this.ids.pop()!;
    if (moved !== oid) {
      this.ids[i] = moved;
      this.at.set(moved, i);
    }
    this.at.delete(oid);
    this.coids.delete(oid);
  }
  pick(u: number): number {
    return this.ids[Math.floor(u * this.ids.length)]!;
  }
}

const ENDED: ReadonlySet<number> = new Set([OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED]);

function follow(open: OpenOrders, r: Report): void {
  if (r.st === undefined) return;
  if (ENDED.has(r.st)) open.remove(r.oid);
  // A resting candidate: a limit order (market orders are accepted at price 0) that has not traded yet.
  else if (r.k === ReportKind.ACCEPTED && r.st === OrderStatus.NEW && r.px! > 0) open.add(r.oid, r.coid);
}

export async function runTraffic(c: TradingClient, o: TrafficOptions): Promise<TrafficResult> {
  const rng = new Rng(o.seed);
  const r = (): number => rng.next();
  const open = new OpenOrders();
  const feed = o.feed === undefined ? null : new FeedClient({ urls: o.feed.urls, account: c.account, credentials: o.feed.credentials, onReport: (rep) => follow(open, rep) });
  await feed?.connect();
  const result: TrafficResult = { acked: 0, rejected: 0, lastSeq: 0 };
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  for (let i = 0; i < o.commands && o.stop?.() !== true; i++) {
    if (o.ratePerS !== undefined) {
      const dueMs = (i / o.ratePerS) * 1000 - (performance.now() - started);
      if (dueMs > 1) await new Promise((resolve) => setTimeout(resolve, dueMs));
    }
    const x = r();
    const side = r() < 0.5 ? "buy" : "sell";
    const away = (ticks: number): number => o.mid + (side === "buy" ? -ticks : ticks);
    let p;
    if (x < 0.3 && open.size > 0) {
      const oid = open.pick(r());
      const coid = open.coids.get(oid);
      const target: OrderRef = coid !== undefined && i % 2 === 0 ? { clientOrderId: coid } : oid;
      open.remove(oid);
      p = c.cancel(target);
    } else if (x < 0.38 && open.size > 0) p = c.modify(open.pick(r()), away(1 + Math.floor(r() * 20)), 1 + Math.floor(r() * 50));
    else if (x < 0.42) p = c.submit({ instrument: o.instrument, side, type: "market", quantity: 1 + Math.floor(r() * 30) });
    else {
      const crossing = r() < 0.15;
      const offset = crossing ? -Math.floor(r() * 3) : 1 + Math.floor(r() * 20);
      const clientOrderId = feed === null ? undefined : `t${o.seed}-${i}`;
      p = c.submit({ instrument: o.instrument, side, price: away(offset), quantity: 1 + Math.floor(r() * 50), clientOrderId });
      if (feed === null) {
        p = p.then((ack) => {
          open.add(ack.oid);
          return ack;
        });
      }
    }
    const tracked: Promise<void> = p.then(
      (ack) => {
        result.acked++;
        result.lastSeq = Math.max(result.lastSeq, ack.seq);
      },
      (err: unknown) => {
        if (!(err instanceof LockstepError)) throw err;
        result.rejected++;
      },
    ).finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= o.windowMax) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (feed !== null) {
    await feed.caughtUp(result.lastSeq);
    feed.close();
  }
  return result;
}
