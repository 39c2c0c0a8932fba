"""The cluster the tests run against, from environment variables (test/python-client.test.ts sets them).

LOCKSTEP_TRADE_URL      the sequencer's ws://HOST:PORT/trade
LOCKSTEP_FEED_URLS      replicas' ws://HOST:PORT/feed, comma-separated (at least three)
LOCKSTEP_REPLICA_PIDS   those replicas' process ids, in the same order (one test kills the third)
LOCKSTEP_ACCOUNTS       accounts the tests may use, comma-separated (at least 24, none used before)
LOCKSTEP_INSTRUMENTS    instrument ids configured with tick 1, lot 1, prices 1..1,000,000 (at least 8, empty books)
LOCKSTEP_AUTH_KEYS      only when the cluster has auth: {"ACCOUNT": ["KEY_ID", "SECRET"], …} in JSON

Each test takes its own accounts and instruments by index (listed where it does), so no test
sees another's orders and the suite runs in any order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import unittest
from typing import Awaitable, Callable, TypeVar

from lockstep_client import Credentials, FeedClient, Report, TradingClient

T = TypeVar("T")
# Bound on any one thing a test waits for.
WAIT_S = 10.0


@dataclasses.dataclass(frozen=True)
class ClusterEnv:
    trade_url: str
    feed_urls: list[str]
    replica_pids: list[int]
    accounts: list[int]
    instruments: list[int]
    keys: dict[int, Credentials] | None

    @property
    def auth(self) -> bool:
        return self.keys is not None

    def account(self, index: int) -> int:
        return self.accounts[index]

    def instrument(self, index: int) -> int:
        return self.instruments[index]

    def credentials(self, account: int) -> Credentials | None:
        return None if self.keys is None else self.keys[account]

    async def trader(self, account: int) -> TradingClient:
        return await TradingClient.connect(self.trade_url, account, self.credentials(account))

    async def reports(self, account: int, urls: list[str] | None = None, **options: object) -> FeedClient:
        feed = FeedClient(urls or self.feed_urls[:1], account=account, credentials=self.credentials(account), **options)  # type: ignore[arg-type]
        await asyncio.wait_for(feed.start(), WAIT_S)
        return feed


def _list(name: str) -> list[str]:
    return [x for x in os.environ.get(name, "").split(",") if x != ""]


def cluster_or_skip() -> ClusterEnv:
    if "LOCKSTEP_TRADE_URL" not in os.environ:
        raise unittest.SkipTest("needs a cluster: set LOCKSTEP_TRADE_URL and the rest (clients/python/tests/cluster_env.py)")
    raw = os.environ.get("LOCKSTEP_AUTH_KEYS")
    keys = None if raw is None else {int(a): Credentials(k, s) for a, (k, s) in json.loads(raw).items()}
    return ClusterEnv(
        trade_url=os.environ["LOCKSTEP_TRADE_URL"], feed_urls=_list("LOCKSTEP_FEED_URLS"),
        replica_pids=[int(p) for p in _list("LOCKSTEP_REPLICA_PIDS")], accounts=[int(a) for a in _list("LOCKSTEP_ACCOUNTS")],
        instruments=[int(i) for i in _list("LOCKSTEP_INSTRUMENTS")], keys=keys,
    )


def with_auth(env: ClusterEnv) -> None:
    if not env.auth:
        raise unittest.SkipTest("needs a cluster with authentication (LOCKSTEP_AUTH_KEYS)")


def without_auth(env: ClusterEnv) -> None:
    if env.auth:
        raise unittest.SkipTest("needs a cluster without authentication")


async def reports_through(feed: FeedClient, seq: int) -> list[Report]:
    """Every report up to and including the last one of command `seq`."""
    out: list[Report] = []
    while True:
        r = await feed.next_report(WAIT_S)
        out.append(r)
        assert r.seq <= seq, f"report of seq {r.seq} before the last report of seq {seq}: {out}"
        if r.seq == seq and r.last:
            return out


async def bounded(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, WAIT_S)


class ClusterTest(unittest.IsolatedAsyncioTestCase):
    """A test against the cluster: skipped without one; clients it opens are closed after it."""

    env: ClusterEnv

    async def asyncSetUp(self) -> None:
        self.env = cluster_or_skip()
        self._closers: list[Callable[[], Awaitable[None]]] = []

    async def asyncTearDown(self) -> None:
        for close in reversed(self._closers):
            await asyncio.wait_for(close(), WAIT_S)

    async def trader(self, account: int) -> TradingClient:
        t = await self.env.trader(account)
        self._closers.append(t.close)
        return t

    async def reports(self, account: int, urls: list[str] | None = None, **options: object) -> FeedClient:
        f = await self.env.reports(account, urls, **options)
        self._closers.append(f.close)
        return f

    async def book(self, instrument: int, url: str) -> FeedClient:
        f = FeedClient([url], instruments=[instrument])
        await bounded(f.start())
        self._closers.append(f.close)
        return f
