"""Retention, the counters of minutes, and the migration of a store of the layout before, on
the real scripts on fakeredis."""

from __future__ import annotations

import json

import fakeredis
import pytest

from executor import Client
from executor.core.errors import StoreLayoutMismatch
from executor.core.invocation import DeliveryState, Status
from executor.core.series import AGE_BOUNDS, MINUTE, SPAN
from executor.state import keys
from executor.state.store import Store
from executor.state.transitions import Accepted
from executor.state.writes import Finish, NewInvocation

URN = "urn:fss:r1:p1:function:default:hello:latest"
T0 = 1_700_000_040.0  # the start of a minute
DEST = json.dumps({"destination": "DIS", "param": '{"stream_name":"s"}'})


def accept(store: Store, request_id: str, at: float = T0, **kw: object) -> None:
    new = NewInvocation(request_id, URN, at, at + 600, (), "{}", **kw)  # type: ignore[arg-type]
    assert store.transitions.accept(new).outcome is Accepted.CREATED


def end(store: Store, request_id: str, at: float, **kw: object) -> None:
    fields = {"retention": 100, "status": Status.SUCCESS} | kw
    assert store.transitions.finish(Finish(request_id, URN, now=at, **fields))  # type: ignore[arg-type]


def slot_keys(fake_redis: fakeredis.FakeRedis, request_id: str) -> list[str]:
    """The keys of the invocation itself that are left."""
    own = [
        keys.record_key(request_id),
        keys.history_key(request_id),
        keys.deliveries_key(request_id),
        keys.chain_key(f"{request_id}:success"),
        keys.chain_key(f"{request_id}:failure"),
        keys.children_key(request_id, keys.shard_of(request_id)),
    ]
    return [key for key in own if fake_redis.exists(key)]


def test_an_invocation_is_listed_and_shown_until_it_is_retired_with_all_it_kept(
    fake_client: Client, store: Store, fake_redis: fakeredis.FakeRedis
) -> None:
    accept(store, "r1", origin="")
    accept(store, "c1", origin="r1", children_ttl=500)
    store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    store.deliveries.chain("r1:success", "reset", "t", T0 + 2, T0 + 3, 999)
    end(store, "r1", T0 + 2)
    listed = [i.request_id for i in fake_client.list_invocations(URN).invocations]
    assert listed == ["c1", "r1"] or listed == ["r1", "c1"]
    assert store.retention.retire(T0 + 101) == 0  # one second before its retention is over
    assert fake_client.get_invocation("r1").status is Status.SUCCESS
    assert store.retention.retire(T0 + 102) == 1
    assert store.records.get("r1") is None
    assert [i.request_id for i in fake_client.list_invocations(URN).invocations] == ["c1"]
    assert fake_client.list_invocations(URN, status="SUCCESS").invocations == ()
    assert slot_keys(fake_redis, "r1") == []  # record, history, chain, own-shard children
    assert store.scans.stats()[f"fn|{URN}|success"] == 1  # counters stay
    assert store.retention.retire(T0 + 103) == 0


def test_one_whose_event_is_still_being_delivered_waits_for_the_delivery(
    store: Store, fake_redis: fakeredis.FakeRedis
) -> None:
    accept(store, "r1")
    end(store, "r1", T0 + 2, destination=DEST, destination_kind="DIS", outcome="success")
    assert store.retention.retire(T0 + 200) == 0
    assert store.records.record("r1") is not None
    store.deliveries.put(
        "r1", DeliveryState(destination="DIS", outcome="success", state="delivered"), 100
    )
    assert store.retention.retire(T0 + 300) == 1
    assert slot_keys(fake_redis, "r1") == []


def test_the_children_of_an_invocation_last_as_long_as_its_record_can(
    fake_client: Client, store: Store, fake_redis: fakeredis.FakeRedis, settings
) -> None:
    parent = fake_client.invoke_async("hello", {})
    deadline = fake_client.get_invocation(parent).deadline
    child = fake_client.engine.admission.invoke("next", {}, origin=parent, origin_deadline=deadline)
    listed = keys.children_key(parent, keys.shard_of(child))
    expected = deadline - fake_client.get_invocation(child).enqueued_at + settings.time_limit
    expected += settings.status_retention
    assert expected - 2 <= fake_redis.ttl(listed) <= expected + 1
    ended = fake_client.engine.admission.invoke("next", {"n": 2}, origin="someone-ended")
    gone = keys.children_key("someone-ended", keys.shard_of(ended))
    assert settings.status_retention - 1 <= fake_redis.ttl(gone) <= settings.status_retention + 1


def test_minutes_count_ends_and_ages_at_start(store: Store) -> None:
    accept(store, "a", at=T0)
    accept(store, "b", at=T0 + 1)
    store.transitions.claim("a", URN, 0, T0 + 0.2, 3)  # waited 0.2 s
    store.transitions.claim("b", URN, 0, T0 + 31, 3)  # waited 30 s
    end(store, "a", T0 + 5)
    end(store, "b", T0 + 65, status=Status.FAIL)  # in the next minute
    [first, second] = store.series.outcomes(URN, T0, T0 + 61, MINUTE)
    assert (first.at, first.success, first.fail) == (T0, 1, 0)
    assert (second.at, second.success, second.fail) == (T0 + 60, 0, 1)
    [ages] = store.series.ages(URN, T0, T0 + 59, MINUTE)
    assert ages.started == 2
    assert ages.p50 is not None and 0.1 < ages.p50 <= 0.25
    assert ages.p95 is not None and 10 < ages.p95 <= 30
    [span] = store.series.outcomes(URN, T0, T0 + 1, SPAN)
    assert (span.success, span.fail) == (1, 1)
    stats = store.scans.stats()
    assert stats[f"fn|{URN}|age|{AGE_BOUNDS.index(0.25)}"] == 1
    assert stats[f"fn|{URN}|age|{AGE_BOUNDS.index(30.0)}"] == 1


def test_a_store_of_the_layout_before_is_refused_until_it_is_migrated(
    store: Store, fake_redis: fakeredis.FakeRedis
) -> None:
    accept(store, "w")
    accept(store, "e")
    end(store, "e", T0 + 4)
    # What the layout before kept: no indexes by status, no retirements, chains apart.
    for key in fake_redis.keys("ae:{*}:st:*") + fake_redis.keys("ae:{*}:retire"):
        fake_redis.delete(key)
    fake_redis.hset("ae:chain:e:success", mapping={"token": "t", "until": "1", "first_at": "1"})
    fake_redis.set(keys.LAYOUT_KEY, keys.PREVIOUS_LAYOUT)
    with pytest.raises(StoreLayoutMismatch, match="executor store migrate"):
        Store(store.url, client=fake_redis).check_layout()
    done = Store(store.url, client=fake_redis).migrate(retention=100)
    assert (done.records, done.chains) == (2, 1)
    shard = keys.shard_of
    assert fake_redis.zscore(keys.status_key(URN, "WAIT", shard("w")), "w") == T0
    assert fake_redis.zscore(keys.status_key(URN, "SUCCESS", shard("e")), "e") == T0
    assert fake_redis.zscore(keys.sharded(keys.RETIRE, shard("e")), "e") == T0 + 104
    assert fake_redis.hgetall(keys.chain_key("e:success"))["token"] == "t"
    assert not fake_redis.exists("ae:chain:e:success")
    Store(store.url, client=fake_redis).check_layout()
    assert Store(store.url, client=fake_redis).migrate(retention=100).records == 0
