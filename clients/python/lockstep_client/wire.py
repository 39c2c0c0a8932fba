"""The wire: protocol constants and a strict MessagePack codec (docs/protocol.md).

Every frame is one MessagePack map with string keys. What we send holds integers, booleans,
strings and binary only, every integer within +/-(2^53 - 1): a float, a nil or a bool where an
integer belongs is a programming error and raises before anything is sent. What we receive is
held to the protocol's own rules (one map, unique string keys, no nil, no floats, no extension
types, nothing after the map) and then to the fields its message type defines (each required
one present, each known one of its type): a frame that breaks any of them raises
MalformedFrame, naming what is wrong, and is never half-used. A message type or a field this
client does not know is let through unchecked beyond those rules, so that a node that has
grown a message does not break older clients; the callers skip what they do not know.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Mapping

import msgpack

from .errors import MalformedFrame

PROTOCOL_VERSION = 1
# The protocol's integers are exact in a float64 on every client, so no field goes beyond this.
INT_SAFE_MAX = 2**53 - 1


class MsgType(enum.IntEnum):
    HELLO = 1
    HELLO_OK = 2
    NEW = 10
    CANCEL = 11
    MODIFY = 12
    KILL = 13
    ACK = 20
    REJECT = 21
    ERROR = 33
    SUB_BOOK = 40
    BOOK_SNAPSHOT = 41
    BOOK_UPDATE = 42
    SUB_REPORTS = 43
    REPORT = 44
    TRADE = 45


class WireReason(enum.IntEnum):
    """`code` of REJECT (on /trade) and ERROR (on /feed): the frame was refused, nothing happened."""

    MALFORMED = 100
    UNKNOWN_TYPE = 101
    BAD_VERSION = 102
    MISSING_FIELD = 103
    OUT_OF_RANGE = 104
    FRAME_TOO_LARGE = 105
    UNKNOWN_INSTRUMENT = 106
    NOT_LOGGED_IN = 107
    ALREADY_LOGGED_IN = 108
    OVERLOADED = 109
    UNKNOWN_FIELD = 110
    NOT_AUTHENTICATED = 111
    RATE_LIMITED = 112
    NOT_LEADER = 113
    INTERNAL = 114
    NOT_SUBSCRIBED = 115
    FORKED = 116
    FIELD_NOT_APPLICABLE = 117
    STORAGE_UNAVAILABLE = 118
    NOT_FOUND = 119
    NOT_OPERATOR = 120
    # A gateway's (docs/scaling.md, "The gateway").
    SHARD_UNAVAILABLE = 130
    UNROUTABLE = 131


class EngineReason(enum.IntEnum):
    """`code` on a REJECTED report: the engine refused the command after it was sequenced."""

    UNKNOWN_INSTRUMENT = 1
    INVALID_FIELD = 2
    PRICE_NOT_ON_TICK = 3
    PRICE_OUT_OF_BAND = 4
    QTY_NOT_ON_LOT = 5
    QTY_TOO_SMALL = 6
    QTY_TOO_LARGE = 7
    DUPLICATE_ORDER_ID = 8
    UNKNOWN_ORDER = 9
    NOT_OWNER = 10
    POST_ONLY_WOULD_CROSS = 11
    FOK_NOT_FILLABLE = 12
    NO_LIQUIDITY = 13
    STOP_WOULD_TRIGGER = 14
    NOT_MODIFIABLE = 15
    INVALID_OCO = 16
    TOO_MANY_OPEN_ORDERS = 17
    DUPLICATE_CLIENT_ORDER_ID = 18
    # The instrument is being moved to another shard, or has been (docs/scaling.md, "Moving an instrument").
    INSTRUMENT_MOVING = 19
    INSTRUMENT_MOVED = 20
    MOVE_STATE = 21
    IMPORT_INVALID = 22
    IMPORT_MISMATCH = 23
    MOVE_STALE = 24


class CancelReason(enum.IntEnum):
    """`code` on a CANCELLED report."""

    USER = 0
    SELF_TRADE_PREVENTION = 1
    OCO = 2
    KILL_SWITCH = 3


class ReportKind(enum.IntEnum):
    ACCEPTED = 0
    REJECTED = 1
    FILL = 2
    CANCELLED = 3
    EXPIRED = 4
    MODIFIED = 5
    TRIGGERED = 6
    KILL_DONE = 7
    # The order left with its instrument for shard `to`; it lives on there under a new id.
    MOVED = 8
    # The order arrived with its instrument from shard `from`: its id here is `oid`, its former one `foid`.
    IMPORTED = 9


class OrderStatus(enum.IntEnum):
    """`st`: the names are FIX's OrdStatus."""

    NEW = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING_TRIGGER = 6


class Side(enum.IntEnum):
    BUY = 0
    SELL = 1


class OrdType(enum.IntEnum):
    LIMIT = 0
    MARKET = 1
    STOP = 2
    OCO = 3


class TimeInForce(enum.IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class SelfTradePrevention(enum.IntEnum):
    NONE = 0
    CANCEL_NEWEST = 1
    CANCEL_OLDEST = 2
    CANCEL_BOTH = 3


# ---- encoding: what we send ------------------------------------------------------------------


def _check_out(key: str, value: Any) -> Any:
    """The value as it goes on the wire; anything the protocol does not carry is our bug."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        assert -INT_SAFE_MAX <= value <= INT_SAFE_MAX, f"{key}: {value} is beyond +/-(2^53 - 1)"
        return int(value)  # an IntEnum goes out as the plain integer it is
    if isinstance(value, (str, bytes)):
        return value
    raise AssertionError(f"{key}: {type(value).__name__} is not sent on the wire (integers, booleans, strings, bytes only)")


def encode(t: MsgType, fields: Mapping[str, Any]) -> bytes:
    """One frame: `{v, t, **fields}`, every integer in its smallest MessagePack encoding."""
    body = {"v": PROTOCOL_VERSION, "t": int(t)}
    for key, value in fields.items():
        assert key not in body, f"{key} is set by encode()"
        body[key] = _check_out(key, value)
    return msgpack.packb(body, use_bin_type=True)


# ---- decoding: what we receive ---------------------------------------------------------------


def _no_extension(code: int, data: bytes) -> Any:
    raise MalformedFrame(f"extension type {code} (the protocol uses none)")


def _unique_keys(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise MalformedFrame(f"map key {key!r} is not a string")
        if key in out:
            raise MalformedFrame(f"key {key!r} given twice")
        out[key] = value
    return out


def _scalars_only(value: Any, where: str) -> None:
    """No nil and no float anywhere, however deep (arrays of levels hold integers too)."""
    if value is None:
        raise MalformedFrame(f"{where}: nil (the protocol sends none)")
    if isinstance(value, float):
        raise MalformedFrame(f"{where}: float {value!r} (every number on the wire is an integer)")
    if isinstance(value, list):
        for i, v in enumerate(value):
            _scalars_only(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            _scalars_only(v, f"{where}.{k}")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _levels(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, list) and len(x) == 2 and _int(x[0]) and _int(x[1]) for x in v)


def _changes(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(x, list) and len(x) == 3 and x[0] in (0, 1) and _int(x[0]) and _int(x[1]) and _int(x[2]) for x in v
    )


def _shard_acks(v: Any) -> bool:
    """A gateway KILL's `shards`: maps of a shard's number and id, and either its seq or a refusal's code and message."""

    def one(x: Any) -> bool:
        if not isinstance(x, dict) or not _int(x.get("sh")) or not isinstance(x.get("id"), str):
            return False
        if "seq" in x:
            return _int(x["seq"])
        return _int(x.get("code")) and isinstance(x.get("msg"), str)

    return isinstance(v, list) and all(one(x) for x in v)


_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_int, "an integer"),
    "true": (lambda v: v is True, "true"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "levels": (_levels, "an array of [price, qty] integer pairs"),
    "changes": (_changes, "an array of [side 0|1, price, qty] integer triples"),
    "shard_acks": (_shard_acks, "an array of {sh, id, seq} or {sh, id, code, msg} maps"),
}

_REPORT_OPTIONAL = {k: "int" for k in ("st", "px", "qty", "left", "cum", "ntl", "code", "tid", "liq", "cnt", "sh")}

# Per message type a node sends: required fields, then optional ones, each with its kind.
_SCHEMA: dict[int, tuple[dict[str, str], dict[str, str]]] = {
    MsgType.HELLO_OK: ({"acct": "int", "ep": "int", "seq": "int"}, {}),
    MsgType.ACK: ({"cid": "int", "seq": "int", "oid": "int"}, {"oid2": "int", "sh": "int", "shards": "shard_acks"}),
    MsgType.REJECT: ({"cid": "int", "code": "int", "msg": "str"}, {}),
    MsgType.ERROR: ({"code": "int", "msg": "str"}, {}),
    MsgType.BOOK_SNAPSHOT: ({"inst": "int", "seq": "int", "bids": "levels", "asks": "levels", "cs": "int"}, {}),
    MsgType.BOOK_UPDATE: ({"inst": "int", "seq": "int", "ch": "changes", "cs": "int"}, {}),
    MsgType.TRADE: ({"inst": "int", "seq": "int", "tid": "int", "px": "int", "qty": "int", "side": "int"}, {}),
    MsgType.REPORT: (
        {"seq": "int", "n": "int", "acct": "int", "k": "int", "oid": "int"},
        {"last": "true", "coid": "str", "to": "str", "from": "str", "foid": "int", **_REPORT_OPTIONAL},
    ),
}


def decode(frame: Any, accepted: frozenset[int]) -> dict[str, Any]:
    """A received frame as a dict, or MalformedFrame; `accepted` are the types checked field by field."""
    if isinstance(frame, str):
        raise MalformedFrame("text frame (the protocol uses binary frames only)")
    try:
        msg = msgpack.unpackb(
            frame, raw=False, strict_map_key=False, object_pairs_hook=_unique_keys, ext_hook=_no_extension, use_list=True
        )
    except MalformedFrame:
        raise
    except msgpack.ExtraData as err:
        raise MalformedFrame("bytes after the map") from err
    except (ValueError, TypeError, msgpack.UnpackException) as err:
        raise MalformedFrame(f"not MessagePack: {err}") from err
    if not isinstance(msg, dict):
        raise MalformedFrame(f"a {type(msg).__name__}, not a map")
    _scalars_only(msg, "frame")
    if msg.get("v") != PROTOCOL_VERSION or not _int(msg.get("v")):
        raise MalformedFrame(f"protocol version {msg.get('v')!r}, expected {PROTOCOL_VERSION}")
    t = msg.get("t")
    if not _int(t):
        raise MalformedFrame(f"message type {t!r} is not an integer")
    if t not in accepted:
        return msg
    required, optional = _SCHEMA[t]
    for key, kind in required.items():
        if key not in msg:
            raise MalformedFrame(f"{MsgType(t).name} without {key!r}")
    for key, value in msg.items():
        if key in ("v", "t"):
            continue
        kind = required.get(key) or optional.get(key)
        if kind is None:
            continue
        check, what = _KINDS[kind]
        if not check(value):
            raise MalformedFrame(f"{MsgType(t).name}.{key} is {value!r}, expected {what}")
    return msg
