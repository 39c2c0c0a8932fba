"""Trading on the sequencer's /trade: HELLO, then NEW, CANCEL, MODIFY and KILL, pipelined.

Each request carries a correlation id (`cid`) that the sequencer echoes in its ACK or REJECT;
requests need not wait for each other's answers. An ACK means the command is sequenced; what
the engine made of it arrives as execution reports on a replica's /feed (feed.py). If the
connection drops with requests outstanding, each of them fails with ConnectionLost: it may or
may not have been sequenced, and a NEW with a client order id is simply resent on a new
connection (the engine refuses a second order with that id and says which order holds it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import websockets
import websockets.exceptions

from . import codec
from .auth import Credentials, login_fields
from .errors import ConnectionLost, LoginRefused, MalformedFrame, Refused
from .model import Ack, Order
from .wire import MsgType, decode, encode

# The sequencer's answers are small (ACK, REJECT with a sentence); anything larger is not one.
TRADE_FRAME_BYTES_MAX = 64 * 1024
CONNECT_TIMEOUT_S = 5.0
# The sequencer closes a connection that has not logged in within 3 s by default.
LOGIN_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 1.0
# A link can stop delivering without closing (no FIN, no RST): a ping every quarter of this, and
# a connection whose ping gets no pong within it is dropped (websockets then waits up to twice
# CLOSE_TIMEOUT_S on a close nobody answers: 4.5 s in all; docs/protocol.md, "Connections").
SILENCE_S = 2.0
PING_INTERVAL_S = SILENCE_S / 4
# cids are ours to choose; they count up from 1 per connection (0 is a REJECT's "no cid").
CID_FIRST = 1

_ANSWERS = frozenset({MsgType.HELLO_OK, MsgType.ACK, MsgType.REJECT})


class TradingClient:
    """One logged-in /trade connection for one account. Use `await TradingClient.connect(...)`."""

    def __init__(self, ws: Any, account: int, epoch: int, seq: int) -> None:
        self.account = account
        # HELLO_OK: the sequencer's epoch and its last sequence number when we logged in.
        self.epoch = epoch
        self.seq_at_login = seq
        # REJECTs whose frame the sequencer could not read a cid from (cid 0): not ours to match.
        self.unmatched_rejects: list[Refused] = []
        self._ws = ws
        self._next_cid = CID_FIRST
        self._pending: dict[int, asyncio.Future[Ack]] = {}
        self._lost: ConnectionLost | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, url: str, account: int, credentials: Credentials | None = None) -> TradingClient:
        """Opens /trade and logs in as `account` (with an HMAC proof when given credentials)."""
        codec.wire_int("account", account, 1)
        ws = await websockets.connect(  # type: ignore[attr-defined]
            url, compression=None, max_size=TRADE_FRAME_BYTES_MAX, open_timeout=CONNECT_TIMEOUT_S, close_timeout=CLOSE_TIMEOUT_S,
            ping_interval=PING_INTERVAL_S, ping_timeout=SILENCE_S,
        )
        try:
            await ws.send(encode(MsgType.HELLO, {"acct": account, **login_fields(credentials, account)}))
            m = decode(await asyncio.wait_for(ws.recv(), LOGIN_TIMEOUT_S), _ANSWERS)
        except websockets.exceptions.ConnectionClosed as err:
            raise ConnectionLost("/trade closed before HELLO_OK", err.code) from err
        except BaseException:
            await ws.close()
            raise
        if m["t"] == MsgType.REJECT:
            await ws.close()
            raise LoginRefused(m["code"], m["msg"])
        if m["t"] != MsgType.HELLO_OK:
            await ws.close()
            raise MalformedFrame(f"expected HELLO_OK, got message type {m['t']}")
        return cls(ws, account, m["ep"], m["seq"])

    # ---- requests --------------------------------------------------------------------------

    async def submit(self, order: Order) -> Ack:
        """Sends a NEW; its ACK, or Refused (REJECT) or ConnectionLost."""
        return await (await self.send_new(order))

    async def send_new(self, order: Order) -> asyncio.Future[Ack]:
        """Writes a NEW and returns the future of its ACK without waiting for it (pipelining)."""
        cid = self._cid()
        return await self._request(cid, MsgType.NEW, codec.new_order_fields(cid, order))

    async def cancel(self, *, order_id: int | None = None, client_order_id: str | None = None, instrument: int | None = None) -> Ack:
        """Cancels an order (an OCO: both legs) named by its id or its client order id (with its
        instrument, optionally: then any gateway routes it)."""
        cid = self._cid()
        return await (await self._request(cid, MsgType.CANCEL, {"cid": cid, **codec.target_fields(order_id, client_order_id, instrument)}))

    async def modify(self, *, price: int, quantity: int, order_id: int | None = None, client_order_id: str | None = None, instrument: int | None = None) -> Ack:
        """Sets a resting limit order's price and its new **open** quantity."""
        cid = self._cid()
        fields = {"cid": cid, **codec.target_fields(order_id, client_order_id, instrument), "px": codec.wire_int("price", price, 1), "qty": codec.wire_int("quantity", quantity, 1)}
        return await (await self._request(cid, MsgType.MODIFY, fields))

    async def kill(self) -> Ack:
        """The kill switch: cancels every live order of this account (reports end with KILL_DONE)."""
        cid = self._cid()
        return await (await self._request(cid, MsgType.KILL, {"cid": cid}))

    # ---- connection ------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    async def close(self) -> None:
        await self._ws.close()
        await self._reader

    def abort(self) -> None:
        """Drops the TCP connection at once, without a close handshake (as a network failure does)."""
        self._ws.transport.abort()

    async def closed(self) -> ConnectionLost:
        """Waits until the connection is gone; why it went."""
        await self._reader
        assert self._lost is not None
        return self._lost

    def _cid(self) -> int:
        cid = self._next_cid
        self._next_cid += 1
        return cid

    async def _request(self, cid: int, t: MsgType, fields: dict[str, Any]) -> asyncio.Future[Ack]:
        """Writes the frame; the future of its answer (the reader settles it, or fails it on a close)."""
        frame = encode(t, fields)  # before registering: a caller's bad field sends nothing
        fut: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        if self._lost is not None:
            fut.set_exception(self._lost)
            return fut
        self._pending[cid] = fut
        try:
            await self._ws.send(frame)
        except websockets.exceptions.ConnectionClosed:
            pass  # the reader fails every outstanding request with the close's reason
        return fut

    async def _read(self) -> None:
        why = ConnectionLost("/trade connection closed")
        try:
            async for frame in self._ws:
                self._on_frame(decode(frame, _ANSWERS))
        except websockets.exceptions.ConnectionClosed as err:
            why = ConnectionLost("/trade connection closed", err.code)
        except MalformedFrame as err:
            why = ConnectionLost(f"the sequencer sent a malformed frame: {err}")
            await self._ws.close()
        else:
            why = ConnectionLost("/trade connection closed", self._ws.close_code)
        self._lost = why
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(why)
        self._pending.clear()

    def _on_frame(self, m: dict[str, Any]) -> None:
        t = m["t"]
        if t == MsgType.ACK:
            fut = self._pending.pop(m["cid"], None)
            if fut is None:
                raise MalformedFrame(f"ACK for cid {m['cid']}, which has no request outstanding")
            if not fut.done():
                fut.set_result(codec.ack_of(m))
        elif t == MsgType.REJECT:
            refused = Refused(m["code"], m["msg"])
            fut = self._pending.pop(m["cid"], None)
            if fut is None:
                self.unmatched_rejects.append(refused)
            elif not fut.done():
                fut.set_exception(refused)
        elif t == MsgType.HELLO_OK:
            raise MalformedFrame("a second HELLO_OK")
        # Other message types are not sent on /trade today; a newer sequencer's are skipped.
