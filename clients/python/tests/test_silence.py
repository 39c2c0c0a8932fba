"""A node that goes silent (its link delivers nothing, without FIN or RST) is noticed by the
client within its silence deadline, not after TCP's or the WebSocket library's default minutes:
a pending request fails with ConnectionLost, and a feed moves to its next replica. The silent
nodes here are local servers that complete the WebSocket handshake (and, for /trade, the login)
and then never send another byte, not even a pong. Needs no cluster."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import unittest

import msgpack

from lockstep_client import ConnectionLost, FeedClient, Order, Side, TradingClient
from lockstep_client.trading import CLOSE_TIMEOUT_S, PING_INTERVAL_S, SILENCE_S

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The first ping's wait, the pong's deadline, then websockets' two waits of a close nobody answers
# (for the closing frame, then for TCP's close), and slack.
DETECT_S_MAX = PING_INTERVAL_S + SILENCE_S + 2 * CLOSE_TIMEOUT_S + 1.0
# Silence must not be taken for a dead link sooner than most of the deadline.
DETECT_S_MIN = SILENCE_S * 0.75


class _SilentServer:
    """Upgrades every connection, sends HELLO_OK if asked, then only reads. `cut()` resets every
    connection (so that the test's own teardown need not wait out closing handshakes)."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.AbstractServer | None = None

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def _silent_server(hello_ok: bool) -> tuple[_SilentServer, str]:
    silent = _SilentServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.writers.append(writer)
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        if hello_ok:
            payload = msgpack.packb({"v": 1, "t": 2, "acct": 1, "ep": 1, "seq": 0})
            writer.write(bytes([0x82, len(payload)]) + payload)
        await writer.drain()
        try:
            while await reader.read(65536):
                pass  # pings, requests: swallowed, never answered
        except ConnectionError:
            pass

    silent.server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = silent.server.sockets[0].getsockname()[1]
    return silent, f"ws://127.0.0.1:{port}"


@unittest.skipIf(os.environ.get("LOCKSTEP_AUTH_KEYS"), "needs a cluster without authentication (needs none at all: it runs once, in the run without)")
class Silence(unittest.IsolatedAsyncioTestCase):
    async def test_a_silent_sequencer_and_a_silent_replica_are_left_within_the_deadline(self) -> None:
        # Both at once: each waits out a deadline.
        await asyncio.gather(self._silent_sequencer(), self._silent_replica())

    async def _silent_sequencer(self) -> None:
        """A pending request fails with ConnectionLost."""
        server, url = await _silent_server(hello_ok=True)
        try:
            t = await TradingClient.connect(f"{url}/trade", 1)
            loop = asyncio.get_running_loop()
            sent = loop.time()
            ack = await t.send_new(Order(1, Side.BUY, 1, price=100))
            with self.assertRaises(ConnectionLost):
                await asyncio.wait_for(ack, DETECT_S_MAX + 2.0)
            took = loop.time() - sent
            self.assertGreaterEqual(took, DETECT_S_MIN, "not before most of the deadline")
            self.assertLess(took, DETECT_S_MAX, "within the silence deadline (with the first ping's wait and the close)")
            await t.closed()
        finally:
            server.cut()
            server.close()

    async def _silent_replica(self) -> None:
        """The feed moves to the next replica."""
        servers = [await _silent_server(hello_ok=False) for _ in range(2)]
        loop = asyncio.get_running_loop()
        moved = asyncio.Event()
        feed = FeedClient([f"{servers[0][1]}/feed", f"{servers[1][1]}/feed"], account=1, on_failover=lambda _url: moved.set())
        started = loop.time()
        task = asyncio.ensure_future(feed.start())
        try:
            await asyncio.wait_for(moved.wait(), DETECT_S_MAX + 2.0)
            took = loop.time() - started
            self.assertGreaterEqual(took, DETECT_S_MIN, "not before most of the deadline")
            self.assertLess(took, DETECT_S_MAX, "within the silence deadline (with the first ping's wait and the close)")
            self.assertEqual(feed.counters["failovers"], 1)
            # Connected to the next one (so that closing can cut that connection at once).
            deadline = loop.time() + DETECT_S_MAX
            while feed.url != f"{servers[1][1]}/feed" and loop.time() < deadline:
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            # Closing first (so the feed does not reconnect), then the silent ends cut: the feed's
            # closing handshake need not wait out its timeout.
            closing = asyncio.ensure_future(feed.close())
            await asyncio.sleep(0)
            for server, _ in servers:
                server.cut()
            await asyncio.wait_for(closing, DETECT_S_MAX)
            for server, _ in servers:
                server.close()
