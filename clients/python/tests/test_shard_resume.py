"""Reports through a gateway carry `sh`, their shard's number, and each shard's seqs are its own:
the feed client holds a cursor per shard, checks each shard's stream on its own, and on another
gateway resubscribes each shard it has heard from at that shard's cursor (SUB_REPORTS with `sh`),
then the rest (one SUB_REPORTS without `sh`). The two gateways here are local WebSocket servers
that play the gateway's part of docs/scaling.md ("Resuming reports through another gateway").
Needs no cluster."""

from __future__ import annotations

import asyncio
import contextlib
import os
import unittest
from typing import Any, AsyncIterator

import msgpack
import websockets

from lockstep_client import FeedClient

ACCT = 7
SUB_REPORTS, REPORT = 43, 44


def report(sh: int, seq: int, n: int, last: bool) -> bytes:
    m: dict[str, Any] = {"v": 1, "t": REPORT, "seq": seq, "n": n, "acct": ACCT, "k": 0, "oid": seq, "sh": sh}
    if last:
        m["last"] = True
    return msgpack.packb(m)


class _Gateway:
    """Answers the first SUB_REPORTS without `sh` by sending `frames`, then, if `cut`, drops the connection."""

    def __init__(self, frames: list[bytes], cut: bool) -> None:
        self.frames, self.cut = frames, cut
        self.subs: list[dict[str, Any]] = []
        self.server: Any = None

    async def handle(self, ws: Any) -> None:
        async for raw in ws:
            m = msgpack.unpackb(raw)
            if m.get("t") != SUB_REPORTS:
                continue
            self.subs.append({k: v for k, v in m.items() if k in ("acct", "sh", "from")})
            if "sh" in m:
                continue
            for f in self.frames:
                await ws.send(f)
            if self.cut:
                ws.transport.abort()
                return

    async def start(self) -> str:
        self.server = await websockets.serve(self.handle, "127.0.0.1", 0, compression=None)
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/feed"

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


@contextlib.asynccontextmanager
async def _feed_over(*gateways: _Gateway) -> AsyncIterator[tuple[FeedClient, list[str]]]:
    """A started feed client for ACCT over the gateways' URLs, in order; closed with them after."""
    urls = [await g.start() for g in gateways]
    feed = FeedClient(urls, account=ACCT)
    try:
        await feed.start()
        yield feed, urls
    finally:
        await feed.close()
        for g in gateways:
            await g.stop()


@unittest.skipIf(os.environ.get("LOCKSTEP_AUTH_KEYS"), "needs a cluster without authentication (needs none at all: it runs once, in the run without)")
class ShardResume(unittest.IsolatedAsyncioTestCase):
    async def test_each_shard_resumes_from_its_own_cursor_on_another_gateway(self) -> None:
        # Shard 0 is at seq 9 while shard 1 is at seq 3: one cursor for both would drop or refuse shard 1's.
        first = _Gateway([report(0, 9, 0, True), report(1, 3, 0, False), report(1, 3, 1, True), report(0, 10, 0, False)], cut=True)
        # The second gateway repeats what was held (shard 0's 10/0 and shard 1's 3/1), then goes on.
        second = _Gateway([report(0, 10, 0, False), report(1, 3, 1, True), report(0, 10, 1, True), report(1, 4, 0, True)], cut=False)
        async with _feed_over(first, second) as (feed, urls):
            got = [await feed.next_report(5) for _ in range(6)]
            self.assertEqual([(r.shard, r.seq, r.n) for r in got], [(0, 9, 0), (1, 3, 0), (1, 3, 1), (0, 10, 0), (0, 10, 1), (1, 4, 0)])
            self.assertEqual(feed.url, urls[1])
            self.assertEqual(first.subs, [{"acct": ACCT, "from": 0}])
            # Shard 0 held 10/0 (not its command's last): from 10; shard 1 held 3/1, its last: from 4; then the rest.
            self.assertEqual(second.subs, [{"acct": ACCT, "sh": 0, "from": 10}, {"acct": ACCT, "sh": 1, "from": 4}, {"acct": ACCT, "from": 0}])
            self.assertEqual(feed.counters["duplicates_dropped"], 2)
            self.assertEqual(feed.counters["gaps"], 0)
            self.assertEqual(feed.held_by_shard, {0: (10, 1, True), 1: (4, 0, True)})

    async def test_a_gap_within_one_shard_is_a_gap_even_when_other_shards_are_ahead(self) -> None:
        # Shard 1 skips from 3/0 (not last) to 5/0: a hole in shard 1's stream, whatever shard 0 did.
        gw = _Gateway([report(0, 9, 0, True), report(1, 3, 0, False), report(1, 5, 0, True)], cut=False)
        async with _feed_over(gw, _Gateway([], cut=False)) as (feed, _):
            got = [await feed.next_report(5) for _ in range(2)]
            self.assertEqual([(r.shard, r.seq) for r in got], [(0, 9), (1, 3)])
            for _ in range(100):
                if feed.counters["gaps"] > 0:
                    break
                await asyncio.sleep(0.05)
            self.assertEqual(feed.counters["gaps"], 1)
            self.assertEqual(feed.held_by_shard, {0: (9, 0, True), 1: (3, 0, False)})


if __name__ == "__main__":
    unittest.main()
