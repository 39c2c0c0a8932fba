/**
 * Client order ids and OCO on the wire, against a live sequencer and replica on loopback:
 * (1) a client whose connection dies right after it sent a NEW (before it read the ACK)
 *     reconnects and resends the same client order id: exactly one order exists, and the resend
 *     is answered by a REJECTED report naming the original order and where it stands;
 * (2) an OCO submitted through the SDK gets both leg ids in its ACK, a report per leg with the
 *     client id, and one cancel by client id cancels both legs;
 * (3) fields an order type does not take are refused, by the SDK before sending and by the
 *     sequencer on the wire, and nothing is sequenced.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FeedClient, LockstepError, TradingClient } from "../src/client/index.js";
import { OrderStatus, Reason } from "../src/engine/index.js";
import { encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, ReportKind, WireReason, type Report } from "../src/protocol/messages.js";
import { OCO_STOP_LEG_ID_OFFSET } from "../src/protocol/command.js";
import { TestCluster, until } from "./cluster-helpers.js";

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});

async function start(account: number): Promise<{ c: TestCluster; feed: FeedClient; reports: Report[] }> {
  const c = (cluster = new TestCluster());
  await c.start(1);
  const reports: Report[] = [];
  const feed = new FeedClient({ urls: [c.feedUrl(c.replicas[0]!)], account, instrument: 1, onReport: (r) => reports.push(r) });
  await feed.connect();
  return { c, feed, reports };
}

describe("a resend after a lost connection", () => {
  it("makes exactly one order: the resend's reject names the original and where it stands", async () => {
    const { c, feed, reports } = await start(7);
    const order = { instrument: 1, side: "buy", price: 95, quantity: 3, clientOrderId: "0e3a1c6e-3f2b-4b8e-9a54-7d1f2c3b4a5d" } as const;
    const before = c.sequencer.lastSeq;
    const lost = await TradingClient.connect(c.tradeUrl, 7);
    const first = lost.submit(order);
    void lost.close(); // gone before the ACK could be read
    await first.catch(() => undefined);
    await until(() => c.sequencer.lastSeq > before); // the NEW did reach the log

    const again = await TradingClient.connect(c.tradeUrl, 7);
    const resent = await again.submit(order);
    await feed.caughtUp(resent.seq);
    const mine = reports.filter((r) => r.coid === order.clientOrderId);
    const accepted = mine.filter((r) => r.k === ReportKind.ACCEPTED);
    expect(accepted).toHaveLength(1);
    expect(mine.filter((r) => r.seq === resent.seq)).toEqual([expect.objectContaining({
      k: ReportKind.REJECTED, code: Reason.DUPLICATE_CLIENT_ORDER_ID, oid: accepted[0]!.oid, st: OrderStatus.NEW, left: 3, cum: 0, n: 0, last: true,
    })]);
    await until(() => feed.book.seq >= accepted[0]!.seq);
    expect(feed.book.top()).toEqual({ bids: [[95, 3]], asks: [] });

    // The client id names the order from now on: cancel by it.
    const cancel = await again.cancel({ clientOrderId: order.clientOrderId });
    expect(cancel.oid).toBe(0);
    await feed.caughtUp(cancel.seq);
    expect(reports.filter((r) => r.seq === cancel.seq)).toEqual([expect.objectContaining({ k: ReportKind.CANCELLED, oid: accepted[0]!.oid, st: OrderStatus.CANCELLED, qty: 3, left: 0 })]);
    await again.close();
    feed.close();
  });

  it("two connections racing the same client id make one order between them", async () => {
    const { c, feed, reports } = await start(8);
    const [a, b] = await Promise.all([TradingClient.connect(c.tradeUrl, 8), TradingClient.connect(c.tradeUrl, 8)]);
    const order = { instrument: 1, side: "sell", price: 105, quantity: 2, clientOrderId: "race" } as const;
    const acks = await Promise.all([a.submit(order), b.submit(order), a.submit(order), b.submit(order)]);
    await feed.caughtUp(Math.max(...acks.map((x) => x.seq)));
    const accepted = reports.filter((r) => r.k === ReportKind.ACCEPTED);
    expect(accepted).toHaveLength(1);
    expect(reports.filter((r) => r.code === Reason.DUPLICATE_CLIENT_ORDER_ID).map((r) => r.oid)).toEqual([accepted[0]!.oid, accepted[0]!.oid, accepted[0]!.oid]);
    await until(() => feed.book.seq >= accepted[0]!.seq); // the duplicates change no book
    expect(feed.book.top().asks).toEqual([[105, 2]]);
    await a.close();
    await b.close();
    feed.close();
  });
});

describe("OCO on the wire", () => {
  it("both legs are acknowledged and reported with the client id; one cancel by it cancels both", async () => {
    const { c, feed, reports } = await start(9);
    const t = await TradingClient.connect(c.tradeUrl, 9);
    const ack = await t.submit({ instrument: 1, side: "sell", type: "oco", quantity: 4, price: 110, stopPrice: 90, stopLimitPrice: 89, clientOrderId: "bracket" });
    expect([ack.oid, ack.oid2]).toEqual([ack.seq, ack.seq + OCO_STOP_LEG_ID_OFFSET]);
    await feed.caughtUp(ack.seq);
    expect(reports.filter((r) => r.seq === ack.seq).map((r) => [r.k, r.oid, r.st, r.coid, r.px, r.n])).toEqual([
      [ReportKind.ACCEPTED, ack.oid2, OrderStatus.PENDING_TRIGGER, "bracket", 89, 0],
      [ReportKind.ACCEPTED, ack.oid, OrderStatus.NEW, "bracket", 110, 1],
    ]);
    const cancel = await t.cancel({ clientOrderId: "bracket" });
    await feed.caughtUp(cancel.seq);
    expect(reports.filter((r) => r.seq === cancel.seq).map((r) => [r.k, r.oid, r.code])).toEqual([[ReportKind.CANCELLED, ack.oid, 0], [ReportKind.CANCELLED, ack.oid2, 2]]);
    await t.close();
    feed.close();
  });
});

describe("fields that do not apply are refused, never dropped", () => {
  it("by the SDK before sending, and by the sequencer on the wire; nothing is sequenced", async () => {
    const { c, feed } = await start(10);
    const t = await TradingClient.connect(c.tradeUrl, 10);
    const before = c.sequencer.lastSeq;
    const local = await t.submit({ instrument: 1, side: "buy", type: "market", quantity: 1, timeInForce: "IOC" }).catch((e: unknown) => e);
    expect(local).toBeInstanceOf(LockstepError);
    expect((local as LockstepError).code).toBe(WireReason.FIELD_NOT_APPLICABLE);
    const wire = await t.sendRaw(encode({ v: PROTOCOL_VERSION, t: MsgType.NEW, cid: 0, inst: 1, side: 1, ord: 2, spx: 90, po: true, qty: 1 })).catch((e: unknown) => e);
    expect((wire as LockstepError).code).toBe(WireReason.FIELD_NOT_APPLICABLE);
    expect((wire as LockstepError).message).toMatch(/"po" does not apply to a stop-market order/);
    expect(c.sequencer.lastSeq).toBe(before);
    await t.close();
    feed.close();
  });
});
