/**
 * Demo and test traffic: one trading client sends a seeded mix of orders (limits around a mid
 * price, some crossing; market orders; cancels and modifies of its own acknowledged orders),
 * keeping at most `windowMax` requests in flight. Bounded by a command count.
 */
import { Rng } from "../util/rng.js";
import { LockstepError, TradingClient } from "./trading.js";

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
}

export interface TrafficResult {
  acked: number;
  rejected: number;
  lastSeq: number;
}

export async function runTraffic(c: TradingClient, o: TrafficOptions): Promise<TrafficResult> {
  const rng = new Rng(o.seed);
  const r = (): number => rng.next();
  const live: number[] = [];
  const result: TrafficResult = { acked: 0, rejected: 0, lastSeq: 0 };
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  for (let i = 0; i < o.commands && o.stop?.() !== true; i++) {
    if (o.ratePerS !== undefined) {
      const dueMs = (i / o.ratePerS) * 1000 - (performance.now() - started);
      if (dueMs > 1) await new Promise((resolve) => setTimeout(resolve, dueMs));
    }
    const x = r();
    const side = (r() < 0.5 ? 0 : 1) as 0 | 1;
    let p;
    if (x < 0.3 && live.length > 0) p = c.cancel(live.splice(Math.floor(r() * live.length), 1)[0]!);
    else if (x < 0.38 && live.length > 0) p = c.modify(live[Math.floor(r() * live.length)]!, o.mid + (side === 0 ? -1 : 1) * (1 + Math.floor(r() * 20)), 1 + Math.floor(r() * 50));
    else if (x < 0.42) p = c.submit({ inst: o.instrument, side, ord: 1, qty: 1 + Math.floor(r() * 30) });
    else {
      const crossing = r() < 0.15;
      const offset = crossing ? -Math.floor(r() * 3) : 1 + Math.floor(r() * 20);
      p = c.submit({ inst: o.instrument, side, px: o.mid + (side === 0 ? -offset : offset), qty: 1 + Math.floor(r() * 50) });
      p = p.then((ack) => {
        live.push(ack.oid);
        return ack;
      });
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
  return result;
}
