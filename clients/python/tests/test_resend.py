"""A connection cut with a NEW in flight, and the same NEW (same client order id) resent on a new
connection: never two orders. Either the first never arrived and the resend creates the order,
or the resend is told, by a REJECTED report DUPLICATE_CLIENT_ORDER_ID, which order holds the id
and where it stands.

Accounts 6-7, instrument 2 of the cluster's lists (only buys rest there)."""

from __future__ import annotations

import asyncio
import unittest

from cluster_env import ClusterTest, bounded, reports_through
from lockstep_client import ConnectionLost, EngineReason, Order, OrderStatus, ReportKind, Side


class ResendAfterCut(ClusterTest):
    async def resend(self, acct: int, order: Order) -> tuple[int, list]:
        """Resends on a new connection; every report through the resend's."""
        feed = self.feed
        t = await self.trader(acct)
        ack = await t.submit(order)
        return ack.seq, await reports_through(feed, ack.seq)

    async def test_the_first_arrived_before_the_cut_and_the_resend_learns_which_order_it_is(self) -> None:
        acct, inst = self.env.account(6), self.env.instrument(2)
        self.feed = await self.reports(acct)
        order = Order(inst, Side.BUY, 7, price=200, client_order_id="resend-arrived")
        first = await self.env.trader(acct)
        pending = await first.send_new(order)  # what its ACK says is never used: the connection dies
        accepted = await self.feed.next_report(10)
        self.assertEqual((accepted.kind, accepted.client_order_id), (ReportKind.ACCEPTED, "resend-arrived"))
        first.abort()
        await bounded(first.closed())
        await asyncio.gather(pending, return_exceptions=True)  # an ACK or ConnectionLost, whichever came first

        seq, reports = await self.resend(acct, order)
        [dup] = reports
        self.assertEqual(
            (dup.seq, dup.kind, dup.code, dup.order_id, dup.status, dup.leaves, dup.cumulative, dup.client_order_id),
            (seq, ReportKind.REJECTED, EngineReason.DUPLICATE_CLIENT_ORDER_ID, accepted.order_id, OrderStatus.NEW, 7, 0, "resend-arrived"),
        )
        await self.expect_one_order_of(inst, 200, 7, seq)

    async def test_cut_at_once_after_sending_whichever_way_it_went_there_is_one_order(self) -> None:
        acct, inst = self.env.account(7), self.env.instrument(2)
        self.feed = await self.reports(acct)
        order = Order(inst, Side.BUY, 3, price=150, client_order_id="resend-unknown")
        first = await self.env.trader(acct)
        pending = await first.send_new(order)
        first.abort()
        with self.assertRaises(ConnectionLost):
            await bounded(pending)

        seq, reports = await self.resend(acct, order)
        accepted = [r for r in reports if r.kind == ReportKind.ACCEPTED]
        self.assertEqual(len(accepted), 1, reports)
        last = reports[-1]
        if accepted[0].seq == seq:  # the first never reached the sequencer
            self.assertEqual(len(reports), 1, reports)
        else:
            self.assertEqual((last.kind, last.code, last.order_id), (ReportKind.REJECTED, EngineReason.DUPLICATE_CLIENT_ORDER_ID, accepted[0].order_id))
        await self.expect_one_order_of(inst, 150, 3, seq)

    async def expect_one_order_of(self, inst: int, price: int, qty: int, seq: int) -> None:
        """The replica's book holds the order once: the level's quantity is the order's.

        The replica that sent the resend's report has applied it, so its snapshot is as of it or later."""
        book_feed = await self.book(inst, self.env.feed_urls[0])
        book = await book_feed.wait_book(inst, lambda b: True, 10)
        self.assertGreaterEqual(book.seq, seq)
        self.assertEqual(book.bids.get(price), qty)


if __name__ == "__main__":
    unittest.main()
