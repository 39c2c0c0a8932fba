"""The codec is strict both ways: what we send holds only integers (smallest encoding), booleans,
strings and bytes; what we receive is refused, with a reason, unless it is one map of the protocol's
scalars with the fields its type requires. No cluster needed."""

from __future__ import annotations

import struct
import unittest

import msgpack

from lockstep_client import MalformedFrame, MsgType, Order, OrdType, ShardAck, Side, encode
from lockstep_client.codec import ack_of, new_order_fields, target_fields
from lockstep_client.wire import decode

REPORT_TYPES = frozenset({MsgType.REPORT, MsgType.ACK})


def raw_map(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A map written byte by byte: each pair is (packed key, packed value)."""
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


def key(s: str) -> bytes:
    return msgpack.packb(s)


def report_pairs(**over: bytes) -> list[tuple[bytes, bytes]]:
    fields = {"v": b"\x01", "t": bytes([MsgType.REPORT]), "seq": b"\x07", "n": b"\x00", "acct": b"\x01", "k": b"\x00", "oid": b"\x07"}
    fields.update(over)
    return [(key(k), v) for k, v in fields.items()]


class Encoding(unittest.TestCase):
    def test_integers_take_their_smallest_encoding_and_64_bits_when_needed(self) -> None:
        frame = encode(MsgType.NEW, {"cid": 2**40, "qty": 5, "px": 300})
        self.assertIn(b"\xa3cid\xcf" + struct.pack(">Q", 2**40), frame)
        self.assertIn(b"\xa3qty\x05", frame)
        self.assertIn(b"\xa2px\xcd" + struct.pack(">H", 300), frame)
        self.assertEqual(msgpack.unpackb(frame), {"v": 1, "t": 10, "cid": 2**40, "qty": 5, "px": 300})

    def test_floats_nil_and_unsafe_integers_are_never_sent(self) -> None:
        for bad in (1.0, None, 2**53, [1]):
            with self.assertRaises(AssertionError, msg=repr(bad)):
                encode(MsgType.NEW, {"qty": bad})

    def test_order_fields_refuse_floats_bools_and_bad_client_order_ids_before_sending(self) -> None:
        with self.assertRaisesRegex(TypeError, "price must be an integer, not float"):
            new_order_fields(1, Order(1, Side.BUY, 5, price=100.0))  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, "quantity must be an integer, not bool"):
            new_order_fields(1, Order(1, Side.BUY, True, price=100))
        with self.assertRaisesRegex(TypeError, "send '42', not 42"):
            new_order_fields(1, Order(1, Side.BUY, 5, price=100, client_order_id=42))  # type: ignore[arg-type]
        for bad in ("", "has space", "x" * 37, "é"):
            with self.assertRaises(ValueError, msg=bad):
                new_order_fields(1, Order(1, Side.BUY, 5, price=100, client_order_id=bad))
        self.assertEqual(new_order_fields(3, Order(2, Side.SELL, 5, OrdType.MARKET, client_order_id="x" * 36))["coid"], "x" * 36)
        with self.assertRaisesRegex(ValueError, "exactly one"):
            target_fields(5, "a")
        with self.assertRaisesRegex(ValueError, "exactly one"):
            target_fields(None, None)
        self.assertEqual(target_fields(None, "a", 2), {"coid": "a", "inst": 2})
        with self.assertRaisesRegex(ValueError, "instrument goes with client_order_id only"):
            target_fields(5, None, 2)


class Decoding(unittest.TestCase):
    def test_a_report_decodes_and_a_wider_integer_encoding_is_the_same_integer(self) -> None:
        m = decode(raw_map(report_pairs(seq=b"\xd3" + struct.pack(">q", 5), last=b"\xc3")), REPORT_TYPES)
        self.assertEqual((m["seq"], m["last"]), (5, True))
        self.assertIs(type(m["seq"]), int)

    def test_refused_frames_say_why(self) -> None:
        cases: list[tuple[object, str]] = [
            ("text", "text frame"),
            (b"\xc1", "not MessagePack"),
            (msgpack.packb([1, 44]), "not a map"),
            (raw_map(report_pairs(px=b"\xcb" + struct.pack(">d", 100.0))), "float"),
            (raw_map(report_pairs(px=b"\xca" + struct.pack(">f", 100.0))), "float"),
            (raw_map(report_pairs(px=b"\xc0")), "nil"),
            (raw_map(report_pairs() + [(key("seq"), b"\x08")]), "given twice"),
            (raw_map(report_pairs()) + b"\x00", "bytes after the map"),
            (raw_map(report_pairs(px=b"\xd4\x01\x00")), "extension"),
            (raw_map(report_pairs(v=b"\x02")), "protocol version 2"),
            (raw_map([p for p in report_pairs() if p[0] != key("oid")]), "without 'oid'"),
            (raw_map(report_pairs(last=b"\xc2")), "last is False, expected true"),
            (raw_map(report_pairs(px=b"\xc3")), "px is True, expected an integer"),
            (raw_map(report_pairs(coid=b"\xa2\xff\xfe")), "not MessagePack"),
            (raw_map([(b"\x01", b"\x01")] + report_pairs()), "not a string"),
        ]
        for frame, why in cases:
            with self.subTest(why=why), self.assertRaisesRegex(MalformedFrame, why):
                decode(frame, REPORT_TYPES)

    def test_book_levels_are_integer_pairs(self) -> None:
        snap = {"v": 1, "t": MsgType.BOOK_SNAPSHOT, "inst": 1, "seq": 3, "bids": [[100, 5]], "asks": [[101, 2.0]], "cs": 0}
        with self.assertRaisesRegex(MalformedFrame, "float"):
            decode(msgpack.packb(snap), frozenset({MsgType.BOOK_SNAPSHOT}))
        snap["asks"] = [[101]]
        with self.assertRaisesRegex(MalformedFrame, r"asks is \[\[101\]\], expected an array of \[price, qty\]"):
            decode(msgpack.packb(snap), frozenset({MsgType.BOOK_SNAPSHOT}))

    def test_a_gateway_ack_names_its_shard_and_a_kill_each_shards_answer(self) -> None:
        ack = ack_of(decode(msgpack.packb({"v": 1, "t": MsgType.ACK, "cid": 4, "seq": 9, "oid": 2**47 + 9, "sh": 1}), REPORT_TYPES))
        self.assertEqual((ack.shard, ack.order_id >> 47, ack.shards), (1, 1, None))
        kill = {"v": 1, "t": MsgType.ACK, "cid": 5, "seq": 0, "oid": 0, "shards": [{"sh": 0, "id": "s1", "seq": 12}, {"sh": 1, "id": "s2", "code": 130, "msg": "down"}]}
        self.assertEqual(
            ack_of(decode(msgpack.packb(kill), REPORT_TYPES)).shards,
            (ShardAck(shard=0, id="s1", seq=12), ShardAck(shard=1, id="s2", code=130, message="down")),
        )
        for bad in ([{"sh": 0, "id": "s1"}], [{"sh": "0", "id": "s1", "seq": 1}], {"sh": 0}, [{"sh": 0, "id": "s1", "code": 130}]):
            with self.assertRaisesRegex(MalformedFrame, "ACK.shards"):
                decode(msgpack.packb({**kill, "shards": bad}), REPORT_TYPES)

    def test_a_message_type_or_field_this_client_does_not_know_is_let_through(self) -> None:
        m = decode(msgpack.packb({"v": 1, "t": 99, "x": 1}), REPORT_TYPES)
        self.assertEqual(m["t"], 99)
        m = decode(raw_map(report_pairs(zz=b"\x01")), REPORT_TYPES)
        self.assertEqual(m["zz"], 1)


if __name__ == "__main__":
    unittest.main()
