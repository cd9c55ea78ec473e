"""The state store's transitions, run as the real Lua scripts on fakeredis."""

from __future__ import annotations

import json

import pytest

from executor.core.config import DestinationRef
from executor.core.invocation import (
    ClaimState,
    DeliveryState,
    DeliveryStatus,
    InvocationPage,
    Status,
)
from executor.state import keys
from executor.state.store import Store
from executor.state.transitions import Accepted
from executor.state.writes import RETIRE_GRACE, Finish, NewInvocation

URN = "urn:fss:r1:p1:function:default:hello:latest"
OTHER = "urn:fss:r1:p1:function:default:other:latest"
T0 = 1_700_000_000.0


def new(request_id: str = "r1", urn: str = URN, at: float = T0, **kw: object) -> NewInvocation:
    fields = {
        "request_id": request_id,
        "urn": urn,
        "enqueued_at": at,
        "deadline": at + 60,
        "chain": ("a", "b"),
        "payload_json": json.dumps({"n": 1}),
        "origin": "",
    } | kw
    return NewInvocation(**fields)  # type: ignore[arg-type]


def create(store: Store, request_id: str = "r1", urn: str = URN, at: float = T0, **kw: object):
    found = store.transitions.accept(new(request_id, urn, at, **kw))
    return found.outcome is Accepted.CREATED, found.status, found.attempts


def finish(store: Store, request_id: str = "r1", status: Status = Status.SUCCESS, **kw: object):
    fields = {
        "request_id": request_id,
        "urn": URN,
        "status": status,
        "now": T0 + 5,
        "retention": 600,
    } | kw
    return store.transitions.finish(Finish(**fields))  # type: ignore[arg-type]


DEST = json.dumps({"destination": "DIS", "param": '{"stream_name":"s"}'})


# -- create --------------------------------------------------------------------------------------


def test_create_records_wait_with_every_index(store: Store, fake_redis) -> None:
    assert create(store, origin="parent") == (True, Status.WAIT, 0)
    record = store.records.get("r1")
    assert record is not None
    assert (record.status, record.attempts, record.function_urn) == (Status.WAIT, 0, URN)
    assert (record.enqueued_at, record.deadline) == (T0, T0 + 60)
    assert record.chain == ("a", "b")
    assert record.payload == {"n": 1}
    assert record.origin == "parent"
    assert [h.status for h in record.history] == [Status.WAIT]
    assert fake_redis.zscore(keys.index_key(URN, keys.shard_of("r1")), "r1") == T0
    assert fake_redis.zscore(keys.active_key(URN, keys.shard_of("r1")), "r1") == T0
    assert fake_redis.zscore(keys.sharded_for(keys.DEADLINES, "r1"), "r1") == T0 + 60
    assert store.scans.stats() == {f"fn|{URN}|accepted": 1}


@pytest.mark.parametrize("status", [Status.WAIT, Status.RUNNING, Status.SUCCESS])
def test_duplicate_create_changes_nothing_and_reports_the_record(
    store: Store, fake_redis, status: Status
) -> None:
    create(store)
    if status is not Status.WAIT:
        store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    if status is Status.SUCCESS:
        finish(store)
    before = fake_redis.hgetall(keys.record_key("r1"))
    created, seen, attempts = create(store, at=T0 + 30, payload_json='"other"')
    assert (created, seen) == (False, status)
    assert attempts == (0 if status is Status.WAIT else 1)
    assert fake_redis.hgetall(keys.record_key("r1")) == before
    assert store.scans.stats()[f"fn|{URN}|accepted"] == 1


def test_forget_removes_every_trace_of_an_unpublished_create(store: Store, fake_redis) -> None:
    create(store, "r1")
    create(store, "r2")
    store.transitions.forget(new("r1"))
    assert store.records.get("r1") is None
    assert fake_redis.exists(keys.history_key("r1")) == 0
    for rid in ("r1", "r2"):
        shard = keys.shard_of(rid)
        for key in (
            keys.index_key(URN, shard),
            keys.active_key(URN, shard),
            keys.sharded(keys.DEADLINES, shard),
        ):
            assert (fake_redis.zscore(key, rid) is None) is (rid == "r1")
    assert store.scans.stats() == {f"fn|{URN}|accepted": 1}
    store.transitions.forget(new("r2"))
    assert store.scans.stats() == {}


# -- claim ---------------------------------------------------------------------------------------


def test_claim_runs_a_waiting_invocation(store: Store) -> None:
    create(store)
    claim = store.transitions.claim("r1", URN, 0, T0 + 2, 3)
    assert (claim.state, claim.attempts, claim.pending_event) == (ClaimState.RUN, 1, "")
    record = store.records.get("r1")
    assert record is not None
    assert (record.status, record.attempts, record.started_at) == (Status.RUNNING, 1, T0 + 2)
    assert [(h.status, h.attempt) for h in record.history] == [
        (Status.WAIT, 0),
        (Status.RUNNING, 1),
    ]


def test_claim_of_a_missing_record_says_missing(store: Store) -> None:
    assert store.transitions.claim("nope", URN, 0, T0, 3).state is ClaimState.MISSING


@pytest.mark.parametrize("status", [Status.SUCCESS, Status.FAIL, Status.DISCARD])
def test_claim_of_an_ended_invocation_says_done(store: Store, status: Status) -> None:
    create(store)
    store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    finish(store, status=status)
    claim = store.transitions.claim("r1", URN, 1, T0 + 9, 3)
    assert (claim.state, claim.attempts, claim.pending_event) == (ClaimState.DONE, 1, "")


def test_claim_of_an_ended_invocation_hands_back_its_pending_event(store: Store) -> None:
    create(store)
    store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    finish(store, event='{"e":1}', destination=DEST, destination_kind="DIS", outcome="success")
    assert store.transitions.claim("r1", URN, 0, T0 + 9, 3).pending_event == '{"e":1}'
    store.deliveries.put(
        "r1", DeliveryState(destination="DIS", outcome="success", state="delivered"), 600
    )
    assert store.transitions.claim("r1", URN, 0, T0 + 9, 3).pending_event == ""


def test_older_copy_of_a_retried_message_is_stale(store: Store) -> None:
    create(store)
    store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    store.transitions.retry("r1", URN, T0 + 2, "boom", "retry 1")
    assert store.transitions.claim("r1", URN, 0, T0 + 3, 3).state is ClaimState.STALE
    assert store.transitions.claim("r1", URN, 1, T0 + 4, 3).state is ClaimState.RUN
    assert store.transitions.claim("r1", URN, 0, T0 + 5, 3).state is ClaimState.STALE
    record = store.records.get("r1")
    assert record is not None and record.attempts == 2


def test_same_retry_index_while_waiting_is_a_duplicate(store: Store) -> None:
    create(store)
    store.transitions.claim("r1", URN, 2, T0 + 1, 3)
    store.transitions.retry("r1", URN, T0 + 2, "boom", "")
    assert store.transitions.claim("r1", URN, 2, T0 + 3, 3).state is ClaimState.STALE


@pytest.mark.parametrize("max_crashes", [1, 2, 3, 5])
def test_a_message_redelivered_while_running_runs_again_until_the_crash_limit(
    store: Store, fake_redis, max_crashes: int
) -> None:
    create(store)
    assert store.transitions.claim("r1", URN, 0, T0 + 1, max_crashes).state is ClaimState.RUN
    for crash in range(1, max_crashes):
        claim = store.transitions.claim("r1", URN, 0, T0 + 1 + crash, max_crashes)
        assert (claim.state, claim.attempts) == (ClaimState.RUN, crash + 1)
    claim = store.transitions.claim("r1", URN, 0, T0 + 100, max_crashes)
    assert claim.state is ClaimState.CRASHED
    assert claim.attempts == max_crashes
    assert fake_redis.hget(keys.record_key("r1"), "crashes") == str(max_crashes)


# -- retry ---------------------------------------------------------------------------------------


def test_retry_goes_back_to_wait_and_is_counted(store: Store) -> None:
    create(store)
    store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    assert store.transitions.retry("r1", URN, T0 + 2, "ValueError: boom", "retry in 1s")
    record = store.records.get("r1")
    assert record is not None
    assert (record.status, record.error_message) == (Status.WAIT, "ValueError: boom")
    assert record.history[-1].note == "retry in 1s"
    assert record.history[-1].error == "ValueError: boom"
    assert record.history[-1].attempt == 1
    assert store.scans.stats()[f"fn|{URN}|retries"] == 1


def test_retry_of_an_ended_or_missing_invocation_does_nothing(store: Store) -> None:
    assert not store.transitions.retry("nope", URN, T0, "e", "")
    create(store)
    store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    finish(store, status=Status.FAIL)
    assert not store.transitions.retry("r1", URN, T0 + 9, "late", "")
    record = store.records.get("r1")
    assert record is not None and record.status is Status.FAIL
    assert f"fn|{URN}|retries" not in store.scans.stats()


# -- finish --------------------------------------------------------------------------------------


def test_finish_wins_once(store: Store) -> None:
    create(store)
    store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    assert finish(store, status=Status.SUCCESS, event='{"first":1}')
    assert not finish(store, status=Status.FAIL, event='{"second":1}', error_message="late")
    assert not finish(store, status=Status.DISCARD)
    record = store.records.get("r1")
    assert record is not None
    assert (record.status, record.error_message) == (Status.SUCCESS, "")
    assert store.records.record("r1").event_json == '{"first":1}'
    assert store.scans.stats()["invocations.success"] == 1
    assert "invocations.fail" not in store.scans.stats()


def test_finish_of_a_missing_record_does_nothing(store: Store, fake_redis) -> None:
    assert not finish(store, "nope")
    assert fake_redis.keys("*") == []


def test_finish_leaves_the_indexes_and_expires_the_record(store: Store, fake_redis) -> None:
    create(store)
    store.transitions.claim("r1", URN, 0, T0 + 1, 3)
    assert finish(
        store,
        status=Status.FAIL,
        condition="RetriesExhausted",
        error_code="FSS.0500",
        error_message="boom",
        retention=321,
        note="gave up",
    )
    assert fake_redis.zscore(keys.active_key(URN, keys.shard_of("r1")), "r1") is None
    assert fake_redis.zscore(keys.sharded_for(keys.DEADLINES, "r1"), "r1") is None
    shard = keys.shard_of("r1")
    assert fake_redis.zscore(keys.index_key(URN, shard), "r1") == T0
    assert fake_redis.zscore(keys.status_key(URN, "RUNNING", shard), "r1") is None
    assert fake_redis.zscore(keys.status_key(URN, "FAIL", shard), "r1") == T0
    # Retired by the reconciler at its end plus the retention; expires on its own a day later.
    assert fake_redis.zscore(keys.sharded(keys.RETIRE, shard), "r1") == T0 + 5 + 321
    for key in (keys.record_key("r1"), keys.history_key("r1")):
        assert 321 < fake_redis.ttl(key) <= 321 + RETIRE_GRACE
    record = store.records.get("r1")
    assert record is not None
    assert (record.condition, record.error_code, record.ended_at) == (
        "RetriesExhausted",
        "FSS.0500",
        T0 + 5,
    )
    assert (record.history[-1].status, record.history[-1].note) == (Status.FAIL, "gave up")
    assert record.history[-1].error == record.error_message
    assert store.scans.stats()[f"fn|{URN}|fail"] == 1


def test_finish_with_a_destination_records_the_event_pending_in_the_outbox(
    store: Store, fake_redis
) -> None:
    create(store)
    finish(store, event='{"e":1}', destination=DEST, destination_kind="DIS", outcome="failure")
    assert fake_redis.zscore(keys.sharded_for(keys.OUTBOX, "r1"), "r1") == T0 + 5
    found = store.records.record("r1")
    assert found.destination == DestinationRef.model_validate_json(DEST)
    assert found.outcome == "failure"
    state = store.deliveries.state("r1", "failure")
    assert state is not None
    assert (state.destination, state.state, state.attempts) == ("DIS", "pending", 0)
    assert 600 < fake_redis.ttl(keys.deliveries_key("r1")) <= 600 + RETIRE_GRACE


def test_finish_without_a_destination_keeps_the_outbox_empty(store: Store, fake_redis) -> None:
    create(store)
    finish(store, event='{"e":1}')
    assert fake_redis.zcard(keys.sharded_for(keys.OUTBOX, "r1")) == 0
    assert store.deliveries.state("r1", "success") is None


# -- deliveries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "leaves_outbox"),
    [
        (DeliveryStatus.PENDING, False),
        (DeliveryStatus.DELIVERED, True),
        (DeliveryStatus.DROPPED, True),
        (DeliveryStatus.DEAD_LETTERED, True),
    ],
)
def test_set_delivery_records_the_state_and_clears_the_outbox_when_final(
    store: Store, fake_redis, state: DeliveryStatus, leaves_outbox: bool
) -> None:
    create(store)
    finish(store, event="{}", destination=DEST, destination_kind="DIS", outcome="success")
    store.deliveries.put(
        "r1",
        DeliveryState(destination="DIS", outcome="success", state=state, attempts=2, error="x"),
        600,
    )
    got = store.deliveries.state("r1", "success")
    assert got is not None and (got.state, got.attempts, got.error) == (state, 2, "x")
    assert (fake_redis.zscore(keys.sharded_for(keys.OUTBOX, "r1"), "r1") is None) is leaves_outbox
    assert store.scans.stats()[f"delivery|DIS|{state.value}"] == 1
    record = store.records.get("r1")
    assert record is not None and [d.state for d in record.deliveries] == [state]


def test_outbox_touch_only_moves_an_entry_that_is_there(store: Store, fake_redis) -> None:
    store.deliveries.touch_outbox("r1", T0)
    assert fake_redis.zcard(keys.sharded_for(keys.OUTBOX, "r1")) == 0
    create(store)
    finish(store, event="{}", destination=DEST, destination_kind="DIS", outcome="success")
    store.deliveries.touch_outbox("r1", T0 + 50)
    assert fake_redis.zscore(keys.sharded_for(keys.OUTBOX, "r1"), "r1") == T0 + 50
    assert store.scans.due(keys.OUTBOX, T0 + 49) == []
    assert store.scans.due(keys.OUTBOX, T0 + 50) == ["r1"]


# -- reading -------------------------------------------------------------------------------------


def ids(page: InvocationPage) -> list[str]:
    return [i.request_id for i in page.invocations]


def page(store: Store, **kw: object) -> InvocationPage:
    fields = {"status": None, "since": None, "until": None, "limit": 10} | kw
    return store.records.page(URN, **fields)  # type: ignore[arg-type]


def test_pages_are_newest_first_by_status_and_active_excludes_ended(store: Store) -> None:
    for n in range(5):
        create(store, f"r{n}", at=T0 + n)
    store.transitions.claim("r3", URN, 0, T0 + 10, 3)
    finish(store, "r3")
    store.transitions.claim("r1", URN, 0, T0 + 10, 3)
    assert ids(page(store)) == ["r4", "r3", "r2", "r1", "r0"]
    assert ids(page(store, active_only=True)) == ["r4", "r2", "r1", "r0"]
    assert ids(page(store, status=Status.WAIT)) == ["r4", "r2", "r0"]
    assert ids(page(store, status=Status.RUNNING)) == ["r1"]
    assert ids(page(store, status=Status.SUCCESS)) == ["r3"]
    assert ids(page(store, status=Status.FAIL)) == []
    assert ids(page(store, since=T0 + 1, until=T0 + 2)) == ["r2", "r1"]
    assert ids(page(store, status=Status.WAIT, since=T0 + 1)) == ["r4", "r2"]
    assert [r.request_id for r in store.records.get_many(["r0", "gone", "r4"])] == ["r0", "r4"]


def test_a_marker_continues_where_the_page_ended_even_through_equal_times(store: Store) -> None:
    for n in range(7):
        create(store, f"r{n}", at=T0 + n // 3)  # three invocations share each second
    seen: list[str] = []
    marker = None
    while True:
        found = page(store, limit=2, marker=marker)
        seen += ids(found)
        marker = found.next_marker
        if marker is None:
            break
        assert marker.isdigit() and len(marker) <= 18
    assert sorted(seen) == [f"r{n}" for n in range(7)]
    assert seen == ids(page(store))
    assert len(set(seen)) == 7


def test_a_page_passes_over_what_was_retired_meanwhile(store: Store, fake_redis) -> None:
    for n in range(3):
        create(store, f"r{n}", at=T0 + n)
    fake_redis.delete(keys.record_key("r1"))  # expired on its own
    assert ids(page(store)) == ["r2", "r0"]
    assert fake_redis.zscore(keys.index_key(URN, keys.shard_of("r1")), "r1") is None


def test_counts_follow_the_indexes_by_status(store: Store) -> None:
    for n in range(4):
        create(store, f"r{n}", at=T0 + n)
    store.transitions.claim("r0", URN, 0, T0 + 9, 3)
    finish(store, "r0", status=Status.FAIL)
    assert store.records.count(URN, None, None, None) == 4
    assert store.records.count(URN, Status.WAIT, None, None) == 3
    assert store.records.count(URN, Status.WAIT, T0 + 2, None) == 2
    assert store.records.count(URN, Status.FAIL, None, None) == 1
    assert store.records.count(URN, Status.RUNNING, None, None) == 0


def test_waiting_and_in_flight_follow_the_active_index(store: Store) -> None:
    for n in range(4):
        create(store, f"r{n}", at=T0 + n)
    create(store, "x", urn=OTHER, at=T0)
    store.transitions.claim("r0", URN, 0, T0 + 9, 3)
    assert store.scans.waiting_since(URN, T0 + 2, 10) == ["r0", "r1", "r2"]
    assert store.scans.oldest_waiting(URN, scan=10, page=1) == T0 + 1
    assert store.scans.in_flight([URN, OTHER, "urn:none"]) == {URN: 4, OTHER: 1, "urn:none": 0}


def test_last_change_is_the_latest_transition(store: Store) -> None:
    assert store.scans.last_change("r1") == 0.0
    create(store)
    assert store.scans.last_change("r1") == T0
    store.transitions.claim("r1", URN, 0, T0 + 7, 3)
    assert store.scans.last_change("r1") == T0 + 7


def test_record_drop_is_counted_on_the_caller_and_overall(store: Store) -> None:
    create(store)
    store.scans.record_drop("r1", OTHER, "re-enters other")
    store.scans.record_drop("", OTHER, "from a producer")
    record = store.records.get("r1")
    assert record is not None and record.cycle_drops == 1
    assert record.history[-1].status is None
    assert record.history[-1].note == f"dropped call to {OTHER}: re-enters other"
    assert store.scans.stats()["cycle_drops"] == 2


# -- markers, configs, catalogue, lock -----------------------------------------------------------


def test_markers_claim_once_read_write_and_drop(store: Store, fake_redis) -> None:
    assert store.markers.claim("m:1", "a", 60)
    assert not store.markers.claim("m:1", "b", 60)
    assert store.markers.read("m:1") == "a"
    assert 0 < fake_redis.ttl(keys.marker_key("m:1")) <= 60
    store.markers.write("m:1", "c", 30)
    assert store.markers.read("m:1") == "c"
    store.markers.drop("m:1")
    assert store.markers.read("m:1") is None
    assert store.markers.claim("m:1", "d", 60)


def test_catalogue_entries_are_merged(store: Store) -> None:
    store.catalogue.publish({})
    assert store.catalogue.entries() == {}
    store.catalogue.publish({URN: "a", OTHER: "b"})
    store.catalogue.publish({URN: "c"})
    assert store.catalogue.entries() == {URN: "c", OTHER: "b"}
    assert store.catalogue.entry(URN) == "c"
    assert store.catalogue.entry("urn:none") is None


def test_lock_is_held_by_one_until_it_lapses(store: Store, fake_redis) -> None:
    assert store.leases.try_lock("reconcile", "w1", 5.0)
    assert not store.leases.try_lock("reconcile", "w2", 5.0)
    assert fake_redis.get(keys.lock_key("reconcile")) == "w1"
    assert 0 < fake_redis.pttl(keys.lock_key("reconcile")) <= 5000
    assert store.leases.try_lock("other", "w2", 5.0)
    fake_redis.delete(keys.lock_key("reconcile"))
    assert store.leases.try_lock("reconcile", "w2", 5.0)


def test_counters_add_up(store: Store) -> None:
    store.scans.incr("x")
    store.scans.incr("x", 4)
    assert store.scans.stats() == {"x": 5}
    assert store.ping()


def test_store_made_from_a_url_connects_lazily() -> None:
    store = Store("redis://127.0.0.1:1/0")
    assert store.url == "redis://127.0.0.1:1/0"
    pool = store.redis.connection_pool.connection_kwargs
    assert (pool["port"], pool["decode_responses"]) == (1, True)


# -- dead letters --------------------------------------------------------------------------------


def test_a_dead_letter_is_counted_once_and_taken_once(store: Store, fake_redis) -> None:
    letters = store.dead_letters
    letters.add("r1:success", '{"v":1}', T0 + 2)
    letters.add("r0:failure", '{"v":0}', T0 + 1)
    letters.add("r1:success", '{"v":2}', T0 + 3)
    assert store.scans.stats()["dead_letters"] == 2
    assert letters.count() == 2
    assert letters.identities() == ["r0:failure", "r1:success"]
    assert letters.page(0, 10) == ['{"v":0}', '{"v":2}']
    assert letters.page(1, 1) == ['{"v":2}']
    assert letters.page(5, 1) == []
    assert letters.take("r1:success") == '{"v":2}'
    assert letters.take("r1:success") is None
    assert fake_redis.zscore(keys.DLQ_INDEX, "r1:success") is None
    letters.put_back("r1:success", '{"v":2}', T0 + 3)
    letters.put_back("r1:success", '{"v":9}', T0 + 9)
    assert letters.get("r1:success") == '{"v":2}'
    assert fake_redis.zscore(keys.DLQ_INDEX, "r1:success") == T0 + 3


def test_dead_letters_are_purged_by_name_or_all(store: Store) -> None:
    letters = store.dead_letters
    for n in range(4):
        letters.add(f"r{n}:success", "{}", T0 + n)
    assert letters.purge([]) == 0
    assert letters.purge(["r1:success", "nope"]) == 1
    assert letters.identities() == ["r0:success", "r2:success", "r3:success"]
    assert letters.purge_all() == 3
    assert letters.count() == 0
    assert letters.get("r0:success") is None


def test_every_key_has_the_prefix_and_a_record_keeps_its_parts_beside_it() -> None:
    record = keys.record_key("r1")
    assert record.startswith(keys.P) and record.endswith(":inv:r1")
    assert keys.history_key("r1").startswith(record + ":")
    assert keys.deliveries_key("r1").startswith(record + ":")
    shard = keys.shard_of("r1")
    named = [
        keys.sharded(keys.DEADLINES, shard),
        keys.sharded(keys.OUTBOX, shard),
        keys.sharded(keys.STATS, shard),
        keys.CATALOGUE,
        keys.CONFIGS,
        keys.DLQ,
        keys.DLQ_INDEX,
        keys.index_key(URN, shard),
        keys.active_key(URN, shard),
        keys.config_key(URN),
        keys.lock_key("x"),
        keys.marker_key("dis:s:r1:success"),
        record,
    ]
    assert all(key.startswith(keys.P) for key in named)
    assert len(set(named)) == len(named)
