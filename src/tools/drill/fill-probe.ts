/**
 * Measures order→fill as a client sees it: IOC buys at PROBE_ASK that fill at once against a
 * large resting ask, sent through a trading connection, with the fill read from a replica's
 * feed. The fill may beat the ACK (different paths): both orders of arrival are handled.
 */
import type { FeedClient } from "../../client/feed.js";
import type { TradingClient } from "../../client/trading.js";
import { LatencyRecorder } from "../../metrics/latency.js";
import { ReportKind } from "../../protocol/messages.js";

export const PROBE_ASK = 10_001;

export class FillProbe {
  readonly orderToFillUs = new LatencyRecorder();
  private readonly sentAt = new Map<number, number>();
  private readonly filledAt = new Map<number, number>();
  fills = 0;
  constructor(readonly trading: TradingClient, readonly feed: FeedClient) {}

  onReport(oid: number, kind: number, liq: number | undefined): void {
    if (kind !== ReportKind.FILL || liq !== 1) return;
    const t = performance.now();
    this.fills++;
    const sent = this.sentAt.get(oid);
    if (sent === undefined) this.filledAt.set(oid, t); // the fill beat the ack
    else this.done(oid, sent, t);
  }

  private done(oid: number, sent: number, filled: number): void {
    this.orderToFillUs.record((filled - sent) * 1000);
    this.sentAt.delete(oid);
    this.filledAt.delete(oid);
  }

  async send(inst: number): Promise<void> {
    const sent = performance.now();
    const ack = await this.trading.submit({ instrument: inst, side: "buy", price: PROBE_ASK, quantity: 1, timeInForce: "IOC" });
    const filled = this.filledAt.get(ack.oid);
    if (filled !== undefined) this.done(ack.oid, sent, filled);
    else this.sentAt.set(ack.oid, sent);
  }
}

