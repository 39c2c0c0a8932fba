"""Execution reports resumed on another replica: no gap, no duplicate. Once with the connection cut
in the middle of one command's reports (the rest of them come from the second replica, from that
seq, the ones already held dropped), once with the first replica's process killed between commands.

Accounts 8-11, instruments 3-4 of the cluster's lists; the second test kills the third replica."""

from __future__ import annotations

import asyncio
import os
import signal
import unittest

from cluster_env import ClusterTest, reports_through
from lockstep_client import Order, Report, ReportKind, Side


class Resume(ClusterTest):
    async def test_cut_mid_command_the_rest_of_its_reports_come_from_the_second_replica(self) -> None:
        maker_acct, taker_acct, inst = self.env.account(8), self.env.account(9), self.env.instrument(3)
        r1, r2 = self.env.feed_urls[0], self.env.feed_urls[1]
        maker, taker = await self.trader(maker_acct), await self.trader(taker_acct)
        maker_feed = await self.reports(maker_acct)
        for px in (100, 101, 102):
            await reports_through(maker_feed, (await maker.submit(Order(inst, Side.SELL, 1, price=px))).seq)

        cut: list[Report] = []

        def cut_after_first_fill(r: Report) -> None:
            # The taker's first fill is its first report with n 1 (reports may come before the ACK).
            if r.n == 1 and not cut:
                cut.append(r)
                feed.drop_connection()

        feed = await self.reports(taker_acct, [r1, r2], on_report=cut_after_first_fill)
        ack = await taker.submit(Order(inst, Side.BUY, 3, price=102))
        reports = await reports_through(feed, ack.seq)
        self.assertEqual(cut and cut[0].n, 1, "the connection was cut after the first fill")
        self.assertEqual([(r.seq, r.n, r.kind) for r in reports], [(ack.seq, 0, ReportKind.ACCEPTED)] + [(ack.seq, n, ReportKind.FILL) for n in (1, 2, 3)])
        self.assertEqual([r.price for r in reports[1:]], [100, 101, 102])
        self.assertEqual(feed.url, r2)
        self.assertEqual(feed.counters["failovers"], 1)
        # And on from there: the next command's report, once.
        nxt = await taker.submit(Order(inst, Side.BUY, 1, price=90))
        self.assertEqual([(r.seq, r.n, r.last) for r in await reports_through(feed, nxt.seq)], [(nxt.seq, 0, True)])

    async def test_the_first_replica_process_dies_and_reports_continue_from_the_second(self) -> None:
        acct, inst = self.env.account(10), self.env.instrument(4)
        doomed, r2 = self.env.feed_urls[2], self.env.feed_urls[1]
        t = await self.trader(acct)
        moved = asyncio.Event()
        feed = await self.reports(acct, [doomed, r2], on_failover=lambda url: moved.set())
        seqs = []
        for i in range(3):
            seqs.append((await t.submit(Order(inst, Side.BUY, 1, price=100 + i, client_order_id=f"k-{i}"))).seq)
        held = await reports_through(feed, seqs[-1])
        os.kill(self.env.replica_pids[2], signal.SIGKILL)
        await asyncio.wait_for(moved.wait(), 10)
        for i in range(3, 6):
            seqs.append((await t.submit(Order(inst, Side.BUY, 1, price=100 + i, client_order_id=f"k-{i}"))).seq)
        held += await reports_through(feed, seqs[-1])
        self.assertEqual([(r.seq, r.n, r.client_order_id) for r in held], [(s, 0, f"k-{i}") for i, s in enumerate(seqs)])
        self.assertEqual(feed.url, r2)


if __name__ == "__main__":
    unittest.main()
