"""Lockstep's Python client, written from docs/protocol.md and docs/security.md.

TradingClient trades on the sequencer's /trade; FeedClient reads execution reports and keeps
checksummed local books from replicas' /feed, moving to another replica when one fails.
"""

from .auth import Credentials, sign
from .book import CHECKSUM_LEVELS, LocalBook, checksum
from .errors import ConnectionLost, LockstepError, LoginRefused, MalformedFrame, Refused, ReportsLost
from .feed import FeedClient
from .model import Ack, Order, Report, ShardAck, Trade
from .trading import TradingClient
from .wire import (
    PROTOCOL_VERSION,
    CancelReason,
    EngineReason,
    MsgType,
    OrderStatus,
    OrdType,
    ReportKind,
    SelfTradePrevention,
    Side,
    TimeInForce,
    WireReason,
    decode,
    encode,
)

__all__ = [
    "Ack", "CHECKSUM_LEVELS", "CancelReason", "ConnectionLost", "Credentials", "EngineReason", "FeedClient", "LocalBook",
    "LockstepError", "LoginRefused", "MalformedFrame", "MsgType", "OrdType", "Order", "OrderStatus", "PROTOCOL_VERSION",
    "Refused", "Report", "ReportKind", "ReportsLost", "SelfTradePrevention", "ShardAck", "Side", "TimeInForce", "Trade",
    "TradingClient", "WireReason", "checksum", "decode", "encode", "sign",
]
