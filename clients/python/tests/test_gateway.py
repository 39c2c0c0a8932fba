"""Trading through a `lockstep gateway` in front of two shards (docs/scaling.md, "The gateway"):
every ACK names the shard that sequenced it and its seq is that shard's, order ids carry the
shard's number, each shard's reports arrive on the one feed with `sh` and are counted per shard,
cancels by order id and by client order id reach the right shard, the kill switch is answered
shard by shard, and a client order id the gateway never saw is refused (UNROUTABLE).

Runs where test/python-client.test.ts starts the gateway:
LOCKSTEP_GATEWAY_TRADE_URL, LOCKSTEP_GATEWAY_FEED_URL, LOCKSTEP_GATEWAY_SHARDS (JSON: per shard
number, its instrument ids) and LOCKSTEP_ACCOUNTS. Accounts 0-3 of that list."""

from __future__ import annotations

import asyncio
import json
import os
import unittest
from typing import Callable

from lockstep_client import FeedClient, Order, Refused, Report, ReportKind, Side, TradingClient, WireReason

WAIT_S = 10.0
# Through a gateway an order id is shard × 2^47 + leg × 2^46 + the shard's id (docs/protocol.md).
SHARD_ID_BITS = 47


class Gateway(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        if "LOCKSTEP_GATEWAY_TRADE_URL" not in os.environ:
            raise unittest.SkipTest("needs a gateway: set LOCKSTEP_GATEWAY_TRADE_URL and the rest (this file's docstring)")
        self.trade_url = os.environ["LOCKSTEP_GATEWAY_TRADE_URL"]
        self.feed_url = os.environ["LOCKSTEP_GATEWAY_FEED_URL"]
        self.shards: list[list[int]] = json.loads(os.environ["LOCKSTEP_GATEWAY_SHARDS"])
        self.accounts = [int(a) for a in os.environ["LOCKSTEP_ACCOUNTS"].split(",")]
        self._closers: list[Callable[[], object]] = []

    async def asyncTearDown(self) -> None:
        for close in reversed(self._closers):
            await asyncio.wait_for(close(), WAIT_S)  # type: ignore[arg-type]

    async def trader(self, account: int) -> TradingClient:
        t = await TradingClient.connect(self.trade_url, account)
        self._closers.append(t.close)
        return t

    async def feed(self, account: int) -> FeedClient:
        f = FeedClient([self.feed_url], account=account)
        await asyncio.wait_for(f.start(), WAIT_S)
        self._closers.append(f.close)
        return f

    async def until(self, feed: FeedClient, done: Callable[[list[Report]], bool]) -> list[Report]:
        """Reports until `done` holds of those received so far (bounded by WAIT_S each)."""
        got: list[Report] = []
        while not done(got):
            got.append(await feed.next_report(WAIT_S))
        return got

    async def test_acks_and_reports_name_their_shard_and_cancels_reach_it(self) -> None:
        acct = self.accounts[0]
        feed, t = await self.feed(acct), await self.trader(acct)
        a0 = await t.submit(Order(self.shards[0][0], Side.BUY, 4, price=90, client_order_id="gw-a"))
        a1 = await t.submit(Order(self.shards[1][0], Side.BUY, 5, price=91, client_order_id="gw-b"))
        self.assertEqual((a0.shard, a1.shard), (0, 1))
        self.assertEqual((a0.order_id >> SHARD_ID_BITS, a1.order_id >> SHARD_ID_BITS), (0, 1), "an order id carries its shard's number")
        self.assertNotEqual(a0.order_id, a1.order_id)
        accepted = await self.until(feed, lambda got: len([r for r in got if r.kind == ReportKind.ACCEPTED]) == 2)
        by_oid = {r.order_id: r for r in accepted if r.kind == ReportKind.ACCEPTED}
        self.assertEqual((by_oid[a0.order_id].shard, by_oid[a0.order_id].seq, by_oid[a0.order_id].client_order_id), (0, a0.seq, "gw-a"))
        self.assertEqual((by_oid[a1.order_id].shard, by_oid[a1.order_id].seq, by_oid[a1.order_id].client_order_id), (1, a1.seq, "gw-b"))

        # By order id on shard 0, by client order id on shard 1 (the gateway saw its NEW).
        c0 = await t.cancel(order_id=a0.order_id)
        c1 = await t.cancel(client_order_id="gw-b")
        self.assertEqual((c0.shard, c1.shard), (0, 1))
        cancelled = await self.until(feed, lambda got: len([r for r in got if r.kind == ReportKind.CANCELLED]) == 2)
        self.assertEqual(
            sorted((r.shard, r.order_id, r.seq) for r in cancelled if r.kind == ReportKind.CANCELLED),
            [(0, a0.order_id, c0.seq), (1, a1.order_id, c1.seq)],
        )
        with self.assertRaises(Refused) as refused:
            await t.cancel(client_order_id="never-sent-here")
        self.assertEqual(refused.exception.code, WireReason.UNROUTABLE)

    async def test_a_fill_on_one_shard_reaches_both_sides_with_that_shard(self) -> None:
        maker_acct, taker_acct = self.accounts[1], self.accounts[2]
        inst = self.shards[1][1]
        maker, taker = await self.trader(maker_acct), await self.trader(taker_acct)
        maker_feed, taker_feed = await self.feed(maker_acct), await self.feed(taker_acct)
        rest = await maker.submit(Order(inst, Side.SELL, 3, price=100))
        take = await taker.submit(Order(inst, Side.BUY, 3, price=100))
        self.assertEqual((rest.shard, take.shard), (1, 1))
        fills = await self.until(taker_feed, lambda got: any(r.kind == ReportKind.FILL for r in got))
        fill = next(r for r in fills if r.kind == ReportKind.FILL)
        self.assertEqual((fill.shard, fill.seq, fill.order_id, fill.cumulative, fill.liquidity), (1, take.seq, take.order_id, 3, 1))
        made = await self.until(maker_feed, lambda got: any(r.kind == ReportKind.FILL for r in got))
        self.assertEqual([(r.shard, r.order_id, r.seq) for r in made if r.kind == ReportKind.FILL], [(1, rest.order_id, take.seq)])

    async def test_the_kill_switch_is_answered_per_shard_and_cancels_on_each(self) -> None:
        acct = self.accounts[3]
        feed, t = await self.feed(acct), await self.trader(acct)
        placed = [await t.submit(Order(self.shards[k][2], Side.BUY, 1, price=50 + k)) for k in (0, 1)]
        await self.until(feed, lambda got: len([r for r in got if r.kind == ReportKind.ACCEPTED]) == 2)
        kill = await t.kill()
        self.assertIsNotNone(kill.shards)
        assert kill.shards is not None
        self.assertEqual(sorted(s.shard for s in kill.shards), [0, 1])
        self.assertTrue(all(s.seq is not None and s.code is None for s in kill.shards), kill.shards)
        seq_of = {s.shard: s.seq for s in kill.shards}
        done = await self.until(feed, lambda got: len([r for r in got if r.kind == ReportKind.KILL_DONE]) == 2)
        self.assertEqual(sorted((r.shard, r.seq) for r in done if r.kind == ReportKind.KILL_DONE), sorted(seq_of.items()))
        self.assertEqual(sorted(r.order_id for r in done if r.kind == ReportKind.CANCELLED), sorted(p.order_id for p in placed))


if __name__ == "__main__":
    unittest.main()
