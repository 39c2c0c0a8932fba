"""The local book and its checksum, as docs/protocol.md defines them. No cluster needed."""

from __future__ import annotations

import unittest
import zlib

from lockstep_client import LocalBook, checksum


class Checksum(unittest.TestCase):
    def test_the_docs_example(self) -> None:
        # asks 101x3, 102x1 and bids 100x5 give "101:3:102:1:|100:5:".
        self.assertEqual(checksum([(100, 5)], [(101, 3), (102, 1)]), zlib.crc32(b"101:3:102:1:|100:5:"))
        self.assertEqual(checksum([], []), zlib.crc32(b"|"))

    def test_only_the_top_ten_levels_of_each_side_count(self) -> None:
        book = LocalBook(1)
        book.reset(1, [(100 - i, 1) for i in range(15)], [(200 + i, 1) for i in range(15)])
        before = book.checksum()
        self.assertTrue(book.apply(2, [(0, 80, 9), (1, 299, 9)]))  # beyond the tenth level
        self.assertEqual(book.checksum(), before)
        self.assertTrue(book.apply(3, [(0, 100, 0)]))  # the best bid leaves: the 11th counts now
        self.assertEqual(book.checksum(), checksum([(99 - i, 1) for i in range(10)], [(200 + i, 1) for i in range(10)]))

    def test_an_update_not_newer_than_the_book_changes_nothing(self) -> None:
        book = LocalBook(1)
        book.reset(5, [(100, 5)], [])
        self.assertFalse(book.apply(5, [(0, 100, 0)]))
        self.assertEqual(book.bids, {100: 5})
        self.assertTrue(book.apply(6, [(0, 100, 0), (1, 101, 2)]))
        self.assertEqual((book.bids, book.asks, book.seq), ({}, {101: 2}, 6))


if __name__ == "__main__":
    unittest.main()
