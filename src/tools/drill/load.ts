/**
 * Steady order flow for drills: paced orders from a few accounts that survive the sequencer
 * going away (reconnecting with backoff) and remember every ACK they got, which is what
 * "no acked order lost" is checked against.
 */
import { LockstepError, TradingClient } from "../../client/trading.js";
import { Rng } from "../../util/rng.js";

export interface AckRecord {
  readonly seq: number;
  readonly account: number;
}

const WINDOW_MAX = 256;

export class DrillLoad {
  readonly acks: AckRecord[] = [];
  rejected = 0;
  disconnects = 0;
  /** performance.now() of the first ACK after each reconnection. */
  readonly firstAckAfterReconnectMs: number[] = [];
  private stopping = false;
  private readonly loops: Promise<void>[] = [];

  /** `urls`: the sequencer's /trade URL, or every sequencer node's when there are standbys. */
  constructor(private readonly urls: () => readonly string[], private readonly accounts: readonly number[], private readonly ratePerS: number, private readonly instrument: number, private readonly mid: number) {}

  start(): void {
    const perAccount = this.ratePerS / this.accounts.length;
    this.accounts.forEach((acct, i) => this.loops.push(this.loop(acct, perAccount, 1000 + i)));
  }

  private async connect(acct: number): Promise<TradingClient> {
    for (let delay = 20; ; delay = Math.min(250, delay * 2)) {
      try {
        return await TradingClient.connectAny(this.urls(), acct, 2000);
      } catch {
        if (this.stopping) throw new Error("stopping");
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * One account's paced flow, pipelined (up to WINDOW_MAX unacknowledged orders). When the
   * connection drops, every in-flight order fails without an ACK and is not counted; the loop
   * reconnects and goes on.
   */
  private async loop(acct: number, ratePerS: number, seed: number): Promise<void> {
    const rng = new Rng(seed);
    let client = await this.connect(acct);
    let broken = false;
    let justReconnected = false;
    const inFlight = new Set<Promise<void>>();
    // Own resting orders: half of the flow cancels them, so the book stays near a steady size.
    const live: number[] = [];
    const started = performance.now();
    for (let i = 0; !this.stopping; i++) {
      const wait = started + (i * 1000) / ratePerS - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      if (broken) {
        await Promise.allSettled(inFlight);
        this.disconnects++;
        await client.close().catch(() => undefined);
        try {
          client = await this.connect(acct);
        } catch {
          return;
        }
        broken = false;
        justReconnected = true;
      }
      const side = (rng.next() < 0.5 ? 0 : 1) as 0 | 1;
      const offset = rng.next() < 0.2 ? -1 : 1 + Math.floor(rng.next() * 10);
      const cancel = rng.next() < 0.5 && live.length > 0;
      const sent = cancel
        ? client.cancel(live.splice(rng.int(0, live.length - 1), 1)[0]!)
        : client.submit({ instrument: this.instrument, side: side === 0 ? "buy" : "sell", price: this.mid + (side === 0 ? -offset : offset), quantity: 1 + Math.floor(rng.next() * 20) });
      const p: Promise<void> = sent.then(
        (ack) => {
          this.acks.push({ seq: ack.seq, account: acct });
          if (!cancel) live.push(ack.oid);
          if (justReconnected) {
            this.firstAckAfterReconnectMs.push(performance.now());
            justReconnected = false;
          }
        },
        (err: unknown) => {
          if (err instanceof LockstepError && err.code !== 0) this.rejected++;
          else broken = true;
        },
      ).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= WINDOW_MAX) await Promise.race(inFlight);
    }
    await Promise.allSettled(inFlight);
    await client.close();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled(this.loops);
  }
}
