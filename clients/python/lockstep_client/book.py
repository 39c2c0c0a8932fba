"""A local L2 book kept from BOOK_SNAPSHOT and BOOK_UPDATE, and the protocol's checksum.

`cs` is CRC-32 (zlib's) of the ASCII string of the top CHECKSUM_LEVELS asks best first, each
"PRICE:QTY:", then "|", then the top bids best first the same way (docs/protocol.md).
"""

from __future__ import annotations

import heapq
import zlib
from typing import Iterable, Sequence

from .wire import Side

CHECKSUM_LEVELS = 10


def checksum(bids: Iterable[Sequence[int]], asks: Iterable[Sequence[int]]) -> int:
    """The checksum of levels already best first (bids descending, asks ascending)."""
    text = "".join(f"{p}:{q}:" for p, q in list(asks)[:CHECKSUM_LEVELS])
    text += "|" + "".join(f"{p}:{q}:" for p, q in list(bids)[:CHECKSUM_LEVELS])
    return zlib.crc32(text.encode("ascii"))


class LocalBook:
    """One instrument's price levels, as of sequence number `seq`."""

    def __init__(self, instrument: int) -> None:
        self.instrument = instrument
        self.seq = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def reset(self, seq: int, bids: Sequence[Sequence[int]], asks: Sequence[Sequence[int]]) -> None:
        self.seq = seq
        self.bids = {p: q for p, q in bids}
        self.asks = {p: q for p, q in asks}

    def apply(self, seq: int, changes: Sequence[Sequence[int]]) -> bool:
        """Applies an update newer than the book; False (and nothing changed) for one that is not."""
        if seq <= self.seq:
            return False
        for side, price, qty in changes:
            levels = self.bids if side == Side.BUY else self.asks
            if qty == 0:
                levels.pop(price, None)
            else:
                levels[price] = qty
        self.seq = seq
        return True

    def top(self, levels: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) best first, `levels` of each (all of them without it)."""
        if levels is None:
            bids = sorted(self.bids.items(), reverse=True)
            asks = sorted(self.asks.items())
        else:
            bids = heapq.nlargest(levels, self.bids.items())
            asks = heapq.nsmallest(levels, self.asks.items())
        return bids, asks

    def checksum(self) -> int:
        bids, asks = self.top(CHECKSUM_LEVELS)
        return checksum(bids, asks)
