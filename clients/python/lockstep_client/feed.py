"""Execution reports and local books from replicas' /feed, moving between replicas on failure.

Reports. A report is identified by (seq, account, n) on every replica alike; `n` counts one
command's reports to the account from 0 and the last of them says `last`. The client holds the
newest report it has passed on; on another replica it subscribes from that seq (or the next
one when that seq's last report is here) and drops what is not newer, so nothing is lost and
nothing repeated. Every report it passes on must be the next one: the same seq's n + 1, or n 0
of a later seq once the held one was its command's last. Anything else is a gap, and the
client moves to the next replica rather than pass on a stream with a hole in it.

Through a gateway (docs/scaling.md), reports carry `sh`, the number of their shard, and their seq
is that shard's: the client holds the newest report per shard and checks each shard's stream on
its own. On another gateway it subscribes each shard it has heard from at that shard's cursor
(SUB_REPORTS with `sh`), then the rest with one SUB_REPORTS without `sh`.

Books. For each instrument asked for: the replica's snapshot, then every update newer than the
book, each one's checksum verified against the book as it now stands; on a mismatch the book is
set aside (updates dropped) and a fresh snapshot requested on the same connection.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterable, Sequence

import websockets
import websockets.exceptions

from . import codec
from .auth import Credentials, login_fields
from .book import LocalBook
from .errors import ConnectionLost, LockstepError, LoginRefused, MalformedFrame, Refused, ReportsLost
from .model import Report, Trade
from .wire import MsgType, WireReason, decode, encode

# A snapshot holds every level of a book; this bounds what one frame may cost us.
FEED_FRAME_BYTES_MAX = 16 * 1024 * 1024
CONNECT_TIMEOUT_S = 5.0
LOGIN_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 1.0
# A link can stop delivering without closing (no FIN, no RST): a ping every quarter of this, and
# a connection whose ping gets no pong within it is dropped (websockets then waits up to twice
# CLOSE_TIMEOUT_S on a close nobody answers: 4.5 s in all; docs/protocol.md, "Connections").
SILENCE_S = 2.0
PING_INTERVAL_S = SILENCE_S / 4
# Rounds over every URL without one working subscription before the client gives up.
CONNECT_ROUNDS_MAX = 3
# Pause before a round over the URLs again (not between URLs: the next replica is tried at once).
ROUND_PAUSE_S = 0.2
# A connection that lasted this long, or brought a frame, worked: the count of failures restarts.
SESSION_WORKED_S = 1.0
# Reports passed on and not yet taken from `reports`; beyond it the client stops reading.
REPORT_QUEUE_MAX = 100_000

_FEED_TYPES = frozenset({MsgType.HELLO_OK, MsgType.ERROR, MsgType.BOOK_SNAPSHOT, MsgType.BOOK_UPDATE, MsgType.TRADE, MsgType.REPORT})


class _Gap(LockstepError):
    """The replica sent a report that is not the successor of the one held."""


class _NotKeptHere(LockstepError):
    """This replica no longer keeps the reports from where we resume (ERROR OUT_OF_RANGE)."""


class FeedClient:
    """Reports of one account (optional) and books of some instruments, from the first of `urls` that works."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        account: int | None = None,
        credentials: Credentials | None = None,
        instruments: Iterable[int] = (),
        from_seq: int = 0,
        on_report: Callable[[Report], None] | None = None,
        on_trade: Callable[[Trade], None] | None = None,
        on_checksum_mismatch: Callable[[int, int], None] | None = None,
        on_failover: Callable[[str], None] | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one /feed URL")
        if account is not None:
            codec.wire_int("account", account, 1)
        self.urls = list(urls)
        self.account = account
        self.credentials = credentials
        self.books = {codec.wire_int("instrument", i, 1): LocalBook(i) for i in instruments}
        self.reports: asyncio.Queue[Report] = asyncio.Queue(REPORT_QUEUE_MAX)
        # The newest report passed on: (seq, n, last); None before the first. Through a gateway,
        # per shard number in `held_by_shard` instead (reports with `sh`).
        self.held: tuple[int, int, bool] | None = None
        self.held_by_shard: dict[int, tuple[int, int, bool]] = {}
        self.url: str | None = None
        self.counters = {"failovers": 0, "duplicates_dropped": 0, "checksum_mismatches": 0, "snapshots": 0, "gaps": 0}
        self._from_seq = codec.wire_int("from_seq", from_seq)
        self._on_report = on_report
        self._on_trade = on_trade
        self._on_mismatch = on_checksum_mismatch
        self._on_failover = on_failover
        self._url_index = 0
        self._ws: Any = None
        self._dropped: Any = None
        self._synced: set[int] = set()
        self._changed = asyncio.Condition()
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fatal: LockstepError | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    # ---- public ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connects, logs in, subscribes; returns once every book has its snapshot."""
        assert self._task is None, "started once"
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.shield(self._ready)

    async def next_report(self, timeout_s: float) -> Report:
        """The next report, in order; raises what stopped the client, or TimeoutError."""
        if self.reports.empty() and self._fatal is not None:
            raise self._fatal
        get = asyncio.ensure_future(self.reports.get())
        waits = {get} if self._task is None else {get, self._task}
        done, _ = await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()
        get.cancel()
        if self._fatal is not None:
            raise self._fatal
        raise TimeoutError(f"no report within {timeout_s} s")

    async def wait_book(self, instrument: int, until: Callable[[LocalBook], bool], timeout_s: float) -> LocalBook:
        """Waits until the instrument's book is in sync and `until(book)` holds."""
        book = self.books[instrument]

        def ready() -> bool:
            return self._fatal is not None or (instrument in self._synced and until(book))

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), timeout_s)
        if self._fatal is not None:
            raise self._fatal
        return book

    def in_sync(self, instrument: int) -> bool:
        return instrument in self._synced

    def drop_connection(self) -> None:
        """Cuts the current connection at once, as a dying replica would: frames received and not
        yet handled are lost with it, and the client moves on to the next URL."""
        if self._ws is not None:
            self._dropped = self._ws
            self._ws.transport.abort()

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            await self._task

    # ---- the connection loop ---------------------------------------------------------------

    async def _run(self) -> None:
        failed_in_a_row = 0
        while not self._closing:
            url = self.urls[self._url_index]
            try:
                worked = await self._session(url)
                failed_in_a_row = 0 if worked else failed_in_a_row + 1
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException, MalformedFrame, _Gap, _NotKeptHere) as err:
                failed_in_a_row += 1
                if isinstance(err, _NotKeptHere) and failed_in_a_row >= len(self.urls):
                    return self._stop(ReportsLost(f"no replica keeps the reports from seq {self._resume_from()}: {err}"))
                if isinstance(err, _Gap):
                    self.counters["gaps"] += 1
            except (LoginRefused, Refused) as err:
                return self._stop(err)
            finally:
                self._ws = None
                self._synced.clear()
            if self._closing:
                break
            if failed_in_a_row >= CONNECT_ROUNDS_MAX * len(self.urls):
                return self._stop(ConnectionLost(f"no /feed of {self.urls} could be subscribed in {CONNECT_ROUNDS_MAX} rounds"))
            self._url_index = (self._url_index + 1) % len(self.urls)
            self.counters["failovers"] += 1
            if self._on_failover is not None:
                self._on_failover(self.urls[self._url_index])
            if failed_in_a_row > 0 and self._url_index == 0:
                await asyncio.sleep(ROUND_PAUSE_S)
        self._stop(ConnectionLost("closed"))

    def _stop(self, why: LockstepError) -> None:
        self._fatal = why
        if not self._ready.done():
            self._ready.set_exception(why)

    async def _session(self, url: str) -> bool:
        """One connection: log in, subscribe, read until it closes (returns whether it worked) or breaks (raises)."""
        loop = asyncio.get_running_loop()
        opened = loop.time()
        frames = 0
        self._ws = ws = await websockets.connect(  # type: ignore[attr-defined]
            url, compression=None, max_size=FEED_FRAME_BYTES_MAX, open_timeout=CONNECT_TIMEOUT_S, close_timeout=CLOSE_TIMEOUT_S,
            ping_interval=PING_INTERVAL_S, ping_timeout=SILENCE_S,
        )
        self.url = url
        try:
            if self.credentials is not None:
                await self._login(ws)
            if self.account is not None:
                for sh, held in sorted(self.held_by_shard.items()):
                    await ws.send(encode(MsgType.SUB_REPORTS, {"acct": self.account, "sh": sh, "from": _after(held)}))
                await ws.send(encode(MsgType.SUB_REPORTS, {"acct": self.account, "from": self._resume_from()}))
            for inst in self.books:
                await ws.send(encode(MsgType.SUB_BOOK, {"inst": inst}))
            if not self.books and not self._ready.done():
                self._ready.set_result(None)
            async for frame in ws:
                if ws is self._dropped:
                    break
                frames += 1
                await self._on_frame(decode(frame, _FEED_TYPES))
        finally:
            await ws.close()
            async with self._changed:
                self._changed.notify_all()
        return frames > 0 or loop.time() - opened >= SESSION_WORKED_S

    async def _login(self, ws: Any) -> None:
        assert self.credentials is not None and self.account is not None, "credentials log in as an account"
        await ws.send(encode(MsgType.HELLO, {"acct": self.account, **login_fields(self.credentials, self.account)}))
        m = decode(await asyncio.wait_for(ws.recv(), LOGIN_TIMEOUT_S), _FEED_TYPES)
        if m["t"] == MsgType.ERROR:
            raise LoginRefused(m["code"], m["msg"])
        if m["t"] != MsgType.HELLO_OK:
            raise MalformedFrame(f"expected HELLO_OK, got message type {m['t']}")

    def _resume_from(self) -> int:
        """The first seq whose reports we may not all hold (of a replica, or of a gateway's shards not heard from yet)."""
        return self._from_seq if self.held is None else _after(self.held)

    # ---- frames ----------------------------------------------------------------------------

    async def _on_frame(self, m: dict[str, Any]) -> None:
        t = m["t"]
        if t == MsgType.REPORT:
            await self._on_report_frame(m)
        elif t == MsgType.BOOK_SNAPSHOT or t == MsgType.BOOK_UPDATE:
            async with self._changed:
                self._on_book_frame(m)
                self._changed.notify_all()
        elif t == MsgType.TRADE:
            if self._on_trade is not None:
                self._on_trade(codec.trade_of(m))
        elif t == MsgType.ERROR:
            if m["code"] == WireReason.OUT_OF_RANGE and self.account is not None:
                raise _NotKeptHere(m["msg"])
            raise Refused(m["code"], m["msg"])
        elif t == MsgType.HELLO_OK:
            raise MalformedFrame("HELLO_OK without a HELLO")
        # Other message types are not sent on /feed today; a newer replica's are skipped.

    async def _on_report_frame(self, m: dict[str, Any]) -> None:
        if m["acct"] != self.account:
            raise MalformedFrame(f"a report for account {m['acct']}, subscribed to {self.account}")
        seq, n, last, sh = m["seq"], m["n"], m.get("last", False), m.get("sh")
        held = self.held if sh is None else self.held_by_shard.get(sh)
        if held is not None:
            hseq, hn, hlast = held
            if (seq, n) <= (hseq, hn):
                self.counters["duplicates_dropped"] += 1
                return
            successor = (seq == hseq and n == hn + 1 and not hlast) or (seq > hseq and n == 0 and hlast)
            if not successor:
                where = "" if sh is None else f" of shard {sh}"
                raise _Gap(f"report ({seq}, {n}){where} after ({hseq}, {hn}{', last' if hlast else ''})")
        if sh is None:
            self.held = (seq, n, last)
        else:
            self.held_by_shard[sh] = (seq, n, last)
        report = codec.report_of(m)
        await self.reports.put(report)
        if self._on_report is not None:
            self._on_report(report)

    def _on_book_frame(self, m: dict[str, Any]) -> None:
        inst = m["inst"]
        book = self.books.get(inst)
        if book is None:
            raise MalformedFrame(f"book data for instrument {inst}, not subscribed")
        if m["t"] == MsgType.BOOK_SNAPSHOT:
            book.reset(m["seq"], m["bids"], m["asks"])
            if book.checksum() != m["cs"]:
                raise MalformedFrame(f"instrument {inst}: a snapshot at seq {m['seq']} that disagrees with its own checksum")
            self.counters["snapshots"] += 1
            self._synced.add(inst)
            if self._synced.issuperset(self.books) and not self._ready.done():
                self._ready.set_result(None)
            return
        if inst not in self._synced or not book.apply(m["seq"], m["ch"]):
            return  # waiting for a fresh snapshot, or not newer than the book
        if book.checksum() != m["cs"]:
            self.counters["checksum_mismatches"] += 1
            self._synced.discard(inst)
            if self._on_mismatch is not None:
                self._on_mismatch(inst, m["seq"])
            asyncio.get_running_loop().create_task(self._resubscribe_book(inst))

    async def _resubscribe_book(self, inst: int) -> None:
        ws = self._ws
        if ws is not None:
            try:
                await ws.send(encode(MsgType.SUB_BOOK, {"inst": inst}))
            except websockets.exceptions.ConnectionClosed:
                pass  # the next connection subscribes afresh


def _after(held: tuple[int, int, bool]) -> int:
    """Where to resume after the held report: its seq again unless it was its command's last."""
    seq, _, last = held
    return seq + 1 if last else seq
