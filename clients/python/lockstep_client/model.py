"""The client's own words for what travels on the wire: orders, acknowledgements, reports."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from .wire import OrderStatus, OrdType, ReportKind, SelfTradePrevention, Side, TimeInForce


@dataclasses.dataclass(frozen=True)
class Order:
    """A NEW. Prices are integers in ticks, quantities integers in lots (docs/protocol.md)."""

    instrument: int
    side: Side
    quantity: int
    kind: OrdType = OrdType.LIMIT
    price: int | None = None
    stop_price: int | None = None
    # OCO only: the stop leg's limit price once triggered (absent: the stop leg is a stop-market).
    stop_limit_price: int | None = None
    time_in_force: TimeInForce | None = None
    post_only: bool | None = None
    self_trade_prevention: SelfTradePrevention | None = None
    client_order_id: str | None = None


@dataclasses.dataclass(frozen=True)
class Ack:
    """The command has its place in the total order; what the engine decided comes as reports."""

    cid: int
    seq: int
    # A NEW's order id (its seq); the oid a CANCEL or MODIFY gave (0 when it named a coid); 0 for KILL.
    order_id: int
    # An OCO's stop leg.
    order_id2: int | None = None
    # Through a gateway: the number of the shard that sequenced it (`seq` is that shard's seq).
    shard: int | None = None
    # Through a gateway, a KILL's: what each shard of the map did with it.
    shards: tuple[ShardAck, ...] | None = None


@dataclasses.dataclass(frozen=True)
class ShardAck:
    """Through a gateway, one shard's answer to a command sent to every shard (KILL): its `seq`, or why it refused."""

    shard: int
    id: str
    seq: int | None = None
    code: int | None = None
    message: str | None = None


@dataclasses.dataclass(frozen=True)
class Report:
    """An execution report, identified by (seq, account, n) on every replica alike."""

    seq: int
    n: int
    last: bool
    account: int
    kind: ReportKind | int
    order_id: int
    status: OrderStatus | int | None = None
    client_order_id: str | None = None
    price: int | None = None
    quantity: int | None = None
    leaves: int | None = None
    cumulative: int | None = None
    notional: int | None = None
    code: int | None = None
    trade_id: int | None = None
    liquidity: int | None = None
    count: int | None = None
    # Through a gateway: the number of the shard the report comes from (its seq is that shard's).
    shard: int | None = None
    # MOVED: the shard the order went to. IMPORTED: the shard it came from, and its id there.
    to_shard: str | None = None
    from_shard: str | None = None
    former_order_id: int | None = None

    @property
    def average_price(self) -> Fraction | None:
        """Notional over filled quantity, exact (a Fraction of price units); None before any fill."""
        if not self.cumulative:
            return None
        assert self.notional is not None
        return Fraction(self.notional, self.cumulative)


@dataclasses.dataclass(frozen=True)
class Trade:
    instrument: int
    seq: int
    trade_id: int
    price: int
    quantity: int
    taker_side: Side | int
