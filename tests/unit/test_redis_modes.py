"""The sharded key layout of the three Redis modes and its start-up check (the modes' settings
are in tests/unit/test_locations.py)."""

from __future__ import annotations

import fakeredis
import pytest
from redis.crc import key_slot

from executor.core.errors import StoreLayoutMismatch
from executor.core.invocation import Status
from executor.state import keys
from executor.state.layout import check_layout
from executor.state.store import Store
from executor.state.writes import Finish, NewInvocation

NOWHERE = "redis://127.0.0.1:1/0"


@pytest.mark.parametrize("request_id", ["a", "0b8e1c9e-3f7d-4a56-9a43-6f0e8f5b1c2d", "x" * 64])
def test_every_key_of_a_transition_shares_the_invocations_slot(request_id):
    shard = keys.shard_of(request_id)
    touched = [
        keys.record_key(request_id),
        keys.history_key(request_id),
        keys.deliveries_key(request_id),
        keys.index_key("urn:fss:r:p:function:default:f:latest", shard),
        keys.active_key("urn:fss:r:p:function:default:g:1", shard),
        *(keys.sharded_for(name, request_id) for name in (keys.DEADLINES, keys.OUTBOX, keys.STATS)),
    ]
    assert len({key_slot(key.encode()) for key in touched}) == 1


def test_shards_spread_over_the_slot_ranges_of_three_masters():
    slots = [key_slot(keys.sharded(keys.STATS, s).encode()) for s in range(keys.SHARDS)]
    per_master = [sum(1 for slot in slots if slot * 3 // 16384 == m) for m in range(3)]
    assert min(per_master) >= keys.SHARDS // 3 - 1
    globals_ = [keys.CATALOGUE, keys.CONFIGS, keys.config_key("u"), keys.DLQ, keys.DLQ_INDEX]
    assert len({key_slot(key.encode()) for key in globals_}) == 1


def test_an_empty_store_is_marked_and_a_marked_one_accepted_again():
    client = fakeredis.FakeRedis(decode_responses=True)
    check_layout(client)
    assert client.get(keys.LAYOUT_KEY) == keys.LAYOUT
    check_layout(client)


@pytest.mark.parametrize("legacy", ["ae:stats", "ae:deadlines", "ae:cfgs"])
def test_a_store_of_the_unsharded_layout_is_refused_untouched(legacy):
    client = fakeredis.FakeRedis(decode_responses=True)
    client.set(legacy, "x") if legacy == "ae:cfgs" else client.hset(legacy, "f", 1)
    with pytest.raises(StoreLayoutMismatch, match="previous, unsharded layout"):
        check_layout(client)
    assert client.get(keys.LAYOUT_KEY) is None


def test_a_store_of_another_sharded_layout_is_refused():
    client = fakeredis.FakeRedis(decode_responses=True)
    client.set(keys.LAYOUT_KEY, "2:64")
    with pytest.raises(StoreLayoutMismatch, match="layout 2:64"):
        check_layout(client)


def test_a_retried_terminal_transition_is_answered_as_the_winner_once_made():
    client = fakeredis.FakeRedis(decode_responses=True)
    rid, urn = "r-1", "urn:fss:local-1:p:function:default:f:latest"
    store = Store(NOWHERE, client=client)
    store.transitions.accept(NewInvocation(rid, urn, 1.0, 9.0, (), "null"))

    def end(status: Status, now: float) -> int:
        return int(store.transitions.finish(Finish(rid, urn, status, now, 60)))

    assert end(Status.SUCCESS, 2.5) == 1
    assert end(Status.SUCCESS, 2.5) == 1  # the same call again: its maker hands the event on
    assert end(Status.SUCCESS, 2.6) == 0  # anyone else loses
    assert end(Status.DISCARD, 2.5) == 0
    assert client.hget(keys.sharded_for(keys.STATS, rid), "invocations.success") == "1"
    assert client.llen(keys.history_key(rid)) == 2


@pytest.mark.parametrize(
    "original", ["a", "0b8e1c9e-3f7d-4a56-9a43-6f0e8f5b1c2d", "order-42:charge"]
)
def test_a_redrive_shares_its_originals_slot(original):
    for redrive in (f"{original}.r1", f"{original}.r12", f"{original}.r1.r2"):
        assert keys.shard_of(redrive) == keys.shard_of(original)
        assert key_slot(keys.record_key(redrive).encode()) == key_slot(
            keys.record_key(original).encode()
        )
    child = "c-" + original
    listed = keys.children_key(original, keys.shard_of(child))
    assert key_slot(listed.encode()) == key_slot(keys.record_key(child).encode())
