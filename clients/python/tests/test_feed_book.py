"""The local book, kept from a replica's snapshot and updates, has the replica's checksum after
every update and the same levels as a fresh snapshot from another replica; a book that goes wrong
is caught by the next update's checksum and rebuilt from a fresh snapshot.

Accounts 12-13, instruments 5-6 of the cluster's lists."""

from __future__ import annotations

import unittest

from cluster_env import ClusterTest, bounded, reports_through
from lockstep_client import CHECKSUM_LEVELS, FeedClient, Order, Side, Trade

LEVELS = CHECKSUM_LEVELS + 4  # deeper than the checksum looks


class LocalBookAgainstReplicas(ClusterTest):
    async def test_the_local_book_agrees_with_the_replica_checksum_and_a_fresh_snapshot(self) -> None:
        acct, inst = self.env.account(12), self.env.instrument(5)
        trades: list[Trade] = []
        local = FeedClient(self.env.feed_urls[:1], instruments=[inst], on_trade=trades.append)
        await bounded(local.start())
        self._closers.append(local.close)
        t = await self.trader(acct)
        feed = await self.reports(acct)
        last = 0
        for i in range(LEVELS):
            await t.submit(Order(inst, Side.BUY, 1 + i, price=1000 - i))
            last = (await t.submit(Order(inst, Side.SELL, 1 + i, price=1001 + i))).seq
        # Takes 1001x1 and 1002x2, and rests 1 at 1002 as the best bid.
        cross = await t.submit(Order(inst, Side.BUY, 4, price=1002))
        await t.cancel(order_id=last)  # the deepest ask
        # Trades with 1002x1 and 1000x1.
        end = (await t.submit(Order(inst, Side.SELL, 2, price=999))).seq
        await reports_through(feed, end)

        book = await local.wait_book(inst, lambda b: b.seq >= end, 10)
        self.assertEqual(local.counters["checksum_mismatches"], 0)
        other = await self.book(inst, self.env.feed_urls[1])
        fresh = await other.wait_book(inst, lambda b: b.seq >= end, 10)
        self.assertEqual((book.top(), book.checksum()), (fresh.top(), fresh.checksum()))
        self.assertEqual(book.top(), ([(1000 - i, 1 + i) for i in range(1, LEVELS)], [(1001 + i, 1 + i) for i in range(2, LEVELS - 1)]))
        self.assertEqual({tr.seq for tr in trades}, {cross.seq, end})

    async def test_a_wrong_local_book_is_caught_by_the_next_checksum_and_resynced(self) -> None:
        acct, inst = self.env.account(13), self.env.instrument(6)
        mismatches: list[tuple[int, int]] = []
        local = FeedClient(self.env.feed_urls[:1], instruments=[inst], on_checksum_mismatch=lambda i, s: mismatches.append((i, s)))
        await bounded(local.start())
        self._closers.append(local.close)
        t = await self.trader(acct)
        first = await t.submit(Order(inst, Side.BUY, 5, price=500))
        await local.wait_book(inst, lambda b: b.seq >= first.seq, 10)
        local.books[inst].bids[500] = 6  # the book goes wrong (as a bug would make it)
        second = await t.submit(Order(inst, Side.SELL, 5, price=501))
        book = await local.wait_book(inst, lambda b: b.seq >= second.seq, 10)
        self.assertEqual(mismatches, [(inst, second.seq)])
        self.assertEqual(local.counters["snapshots"], 2)
        self.assertEqual((book.bids, book.asks), ({500: 5}, {501: 5}))


if __name__ == "__main__":
    unittest.main()
