"""Between the client's words (model.py) and the wire's field names (wire.py)."""

from __future__ import annotations

import enum
from typing import Any, Mapping

from .model import Ack, Order, Report, ShardAck, Trade
from .wire import INT_SAFE_MAX, OrderStatus, ReportKind, Side

COID_CHARS_MAX = 36
COID_CHAR_MIN = 0x21  # "!"
COID_CHAR_MAX = 0x7E  # "~"


def check_client_order_id(coid: str) -> str:
    """1 to 36 visible ASCII characters, as the engine requires; ValueError otherwise."""
    if not isinstance(coid, str):
        raise TypeError(f"client order id {coid!r} must be a string (send '42', not 42)")
    if not 1 <= len(coid) <= COID_CHARS_MAX or any(not COID_CHAR_MIN <= ord(c) <= COID_CHAR_MAX for c in coid):
        raise ValueError(f"client order id {coid!r}: 1 to {COID_CHARS_MAX} visible ASCII characters, '!' to '~'")
    return coid


def wire_int(name: str, value: Any, low: int = 0) -> int:
    """An integer field as given by the caller: a float or a bool is refused, never rounded."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__} {value!r}")
    if not low <= value <= INT_SAFE_MAX:
        raise ValueError(f"{name} {value} is outside {low}..2^53-1")
    return int(value)


def new_order_fields(cid: int, o: Order) -> dict[str, Any]:
    """A NEW's fields; the sequencer decides which fields the order type takes (FIELD_NOT_APPLICABLE)."""
    f: dict[str, Any] = {
        "cid": cid, "inst": wire_int("instrument", o.instrument, 1), "side": wire_int("side", o.side),
        "ord": wire_int("kind", o.kind), "qty": wire_int("quantity", o.quantity, 1),
    }
    for key, name, value in (("px", "price", o.price), ("spx", "stop_price", o.stop_price), ("slpx", "stop_limit_price", o.stop_limit_price)):
        if value is not None:
            f[key] = wire_int(name, value, 1)
    if o.time_in_force is not None:
        f["tif"] = wire_int("time_in_force", o.time_in_force)
    if o.post_only is not None:
        if not isinstance(o.post_only, bool):
            raise TypeError(f"post_only must be a bool, not {o.post_only!r}")
        f["po"] = o.post_only
    if o.self_trade_prevention is not None:
        f["stp"] = wire_int("self_trade_prevention", o.self_trade_prevention)
    if o.client_order_id is not None:
        f["coid"] = check_client_order_id(o.client_order_id)
    return f


def target_fields(order_id: int | None, client_order_id: str | None, instrument: int | None = None) -> dict[str, Any]:
    """CANCEL and MODIFY name their order by exactly one of oid and coid; with coid, optionally its
    instrument (only an order there is meant, and any gateway routes it)."""
    if (order_id is None) == (client_order_id is None):
        raise ValueError("name the order by exactly one of order_id and client_order_id")
    if order_id is not None:
        if instrument is not None:
            raise ValueError("instrument goes with client_order_id only: an order_id names the order on its instrument already")
        return {"oid": wire_int("order_id", order_id, 1)}
    fields: dict[str, Any] = {"coid": check_client_order_id(client_order_id)}  # type: ignore[arg-type]
    if instrument is not None:
        fields["inst"] = wire_int("instrument", instrument, 1)
    return fields


def _named(cls: type[enum.IntEnum], value: int) -> enum.IntEnum | int:
    """The enum member where the value is one we know; the bare integer for one added later."""
    try:
        return cls(value)
    except ValueError:
        return value


def ack_of(m: Mapping[str, Any]) -> Ack:
    shards = m.get("shards")
    return Ack(
        cid=m["cid"], seq=m["seq"], order_id=m["oid"], order_id2=m.get("oid2"), shard=m.get("sh"),
        shards=None if shards is None else tuple(ShardAck(shard=x["sh"], id=x["id"], seq=x.get("seq"), code=x.get("code"), message=x.get("msg")) for x in shards),
    )


def report_of(m: Mapping[str, Any]) -> Report:
    st = m.get("st")
    return Report(
        seq=m["seq"], n=m["n"], last=m.get("last", False), account=m["acct"], kind=_named(ReportKind, m["k"]),
        order_id=m["oid"], status=None if st is None else _named(OrderStatus, st), client_order_id=m.get("coid"),
        price=m.get("px"), quantity=m.get("qty"), leaves=m.get("left"), cumulative=m.get("cum"), notional=m.get("ntl"),
        code=m.get("code"), trade_id=m.get("tid"), liquidity=m.get("liq"), count=m.get("cnt"), shard=m.get("sh"),
        to_shard=m.get("to"), from_shard=m.get("from"), former_order_id=m.get("foid"),
    )


def trade_of(m: Mapping[str, Any]) -> Trade:
    return Trade(instrument=m["inst"], seq=m["seq"], trade_id=m["tid"], price=m["px"], quantity=m["qty"], taker_side=_named(Side, m["side"]))
