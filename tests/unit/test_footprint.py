"""The bytes a batch of waiting messages holds, worked out from two snapshots of the keys."""

from __future__ import annotations

import pytest

from executor.ops.bench.footprint import Held, added_bytes


def test_a_key_the_messages_created_counts_whole() -> None:
    assert added_bytes({}, {"rec:1": Held(360, 9), "rec:2": Held(360, 9)}) == 720


def test_a_shared_key_counts_the_added_elements_at_its_bytes_per_element() -> None:
    # 300 elements in 36,000 bytes: the 100 added ones hold 12,000 of them, whatever the
    # key grew by (here a hash table that doubled adds 4,096 bytes at once).
    before = {"idx": Held(19_904, 200)}
    assert added_bytes(before, {"idx": Held(36_000, 300)}) == pytest.approx(12_000)


def test_a_key_without_elements_counts_its_growth() -> None:
    assert added_bytes({"layout": Held(72, 0)}, {"layout": Held(80, 0)}) == 8


def test_a_key_that_shrank_or_vanished_counts_nothing() -> None:
    before = {"queue": Held(50_000, 40), "stats": Held(300, 4), "gone": Held(900, 3)}
    after = {"queue": Held(40_000, 30), "stats": Held(280, 4)}
    assert added_bytes(before, after) == 0
