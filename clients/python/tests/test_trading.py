"""Trading against the cluster: orders with client order ids, cancel and modify by order id and by
client order id, fills with exact average prices, the kill switch, and refusals at the gate
(REJECT, nothing sequenced) as against refusals by the engine (a REJECTED report).

Accounts 0-5, instruments 0-1 of the cluster's lists."""

from __future__ import annotations

import unittest
from fractions import Fraction

from cluster_env import ClusterTest, reports_through
from lockstep_client import CancelReason, EngineReason, OrderStatus, OrdType, Order, Refused, ReportKind, Side, TimeInForce, WireReason


class Trading(ClusterTest):
    async def test_a_limit_order_with_a_client_order_id_is_accepted_and_cancelled_by_order_id(self) -> None:
        acct, inst = self.env.account(0), self.env.instrument(0)
        feed = await self.reports(acct)
        t = await self.trader(acct)
        ack = await t.submit(Order(inst, Side.BUY, 10, price=100, client_order_id="lim-1"))
        self.assertEqual(ack.order_id, ack.seq, "a NEW's order id is its seq")
        [accepted] = await reports_through(feed, ack.seq)
        self.assertEqual(
            (accepted.kind, accepted.status, accepted.order_id, accepted.client_order_id, accepted.price, accepted.quantity, accepted.leaves, accepted.n, accepted.last),
            (ReportKind.ACCEPTED, OrderStatus.NEW, ack.order_id, "lim-1", 100, 10, 10, 0, True),
        )
        cancel = await t.cancel(order_id=ack.order_id)
        self.assertEqual(cancel.order_id, ack.order_id, "a CANCEL's ACK echoes the oid given")
        [cancelled] = await reports_through(feed, cancel.seq)
        self.assertEqual(
            (cancelled.kind, cancelled.status, cancelled.code, cancelled.quantity, cancelled.leaves, cancelled.client_order_id),
            (ReportKind.CANCELLED, OrderStatus.CANCELLED, CancelReason.USER, 10, 0, "lim-1"),
        )

    async def test_modify_and_cancel_by_client_order_id_and_a_finished_order_says_how_it_ended(self) -> None:
        acct, inst = self.env.account(1), self.env.instrument(0)
        feed = await self.reports(acct)
        t = await self.trader(acct)
        ack = await t.submit(Order(inst, Side.BUY, 8, price=90, client_order_id="mod-1"))
        await reports_through(feed, ack.seq)
        mod = await t.modify(client_order_id="mod-1", price=91, quantity=5)
        self.assertEqual(mod.order_id, 0, "named by coid, the ACK's oid is 0")
        [modified] = await reports_through(feed, mod.seq)
        self.assertEqual(
            (modified.kind, modified.order_id, modified.price, modified.quantity, modified.leaves, modified.status),
            (ReportKind.MODIFIED, ack.order_id, 91, 5, 5, OrderStatus.NEW),
        )
        cancel = await t.cancel(client_order_id="mod-1")
        [cancelled] = await reports_through(feed, cancel.seq)
        self.assertEqual((cancelled.kind, cancelled.order_id, cancelled.quantity), (ReportKind.CANCELLED, ack.order_id, 5))
        again = await t.cancel(client_order_id="mod-1")
        [rejected] = await reports_through(feed, again.seq)
        self.assertEqual(
            (rejected.kind, rejected.code, rejected.order_id, rejected.status),
            (ReportKind.REJECTED, EngineReason.UNKNOWN_ORDER, ack.order_id, OrderStatus.CANCELLED),
        )

    async def test_a_taker_gets_one_report_per_fill_numbered_from_zero_and_an_exact_average_price(self) -> None:
        maker_acct, taker_acct, inst = self.env.account(2), self.env.account(3), self.env.instrument(1)
        maker, taker = await self.trader(maker_acct), await self.trader(taker_acct)
        maker_feed, taker_feed = await self.reports(maker_acct), await self.reports(taker_acct)
        for px in (100, 103):
            await reports_through(maker_feed, (await maker.submit(Order(inst, Side.SELL, 5, price=px))).seq)
        ack = await taker.submit(Order(inst, Side.BUY, 10, price=103, time_in_force=TimeInForce.IOC, client_order_id="take-1"))
        reports = await reports_through(taker_feed, ack.seq)
        self.assertEqual([(r.n, r.kind) for r in reports], [(0, ReportKind.ACCEPTED), (1, ReportKind.FILL), (2, ReportKind.FILL)])
        self.assertEqual([r.last for r in reports], [False, False, True])
        fill = reports[-1]
        self.assertEqual((fill.status, fill.cumulative, fill.notional, fill.leaves, fill.liquidity), (OrderStatus.FILLED, 10, 1015, 0, 1))
        self.assertEqual(fill.average_price, Fraction(203, 2))
        self.assertEqual(reports[1].trade_id + 1, fill.trade_id)
        maker_fills = [await maker_feed.next_report(5) for _ in range(2)]
        # The maker's reports of the taker's command are numbered on their own.
        self.assertEqual([(r.seq, r.n, r.last, r.kind, r.liquidity) for r in maker_fills], [(ack.seq, 0, False, ReportKind.FILL, 0), (ack.seq, 1, True, ReportKind.FILL, 0)])

    async def test_the_kill_switch_cancels_every_live_order_then_says_done(self) -> None:
        acct, inst = self.env.account(5), self.env.instrument(0)
        feed = await self.reports(acct)
        t = await self.trader(acct)
        for px in (50, 51):
            await reports_through(feed, (await t.submit(Order(inst, Side.BUY, 1, price=px))).seq)
        kill = await t.kill()
        reports = await reports_through(feed, kill.seq)
        self.assertEqual([(r.kind, r.code) for r in reports[:2]], [(ReportKind.CANCELLED, CancelReason.KILL_SWITCH)] * 2)
        self.assertEqual((reports[2].kind, reports[2].count, reports[2].order_id, reports[2].last), (ReportKind.KILL_DONE, 2, 0, True))

    async def test_the_gate_refuses_with_a_reason_and_the_engine_with_a_rejected_report(self) -> None:
        acct, inst = self.env.account(4), self.env.instrument(0)
        feed = await self.reports(acct)
        t = await self.trader(acct)
        with self.assertRaises(Refused) as refused:
            await t.submit(Order(inst, Side.BUY, 1, OrdType.MARKET, time_in_force=TimeInForce.IOC))
        self.assertEqual(refused.exception.code, WireReason.FIELD_NOT_APPLICABLE)
        with self.assertRaises(Refused) as refused:
            await t.submit(Order(999_999, Side.BUY, 1, price=10))
        self.assertEqual(refused.exception.code, WireReason.UNKNOWN_INSTRUMENT)
        # Only buys ever rest on this instrument: a market buy finds no asks.
        ack = await t.submit(Order(inst, Side.BUY, 1, OrdType.MARKET, client_order_id="mkt-1"))
        [rejected] = await reports_through(feed, ack.seq)
        self.assertEqual(
            (rejected.kind, rejected.code, rejected.order_id, rejected.status, rejected.cumulative),
            (ReportKind.REJECTED, EngineReason.NO_LIQUIDITY, ack.seq, OrderStatus.REJECTED, 0),
        )


if __name__ == "__main__":
    unittest.main()
