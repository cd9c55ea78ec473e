"""Invocation control over the real store and Lua scripts on fakeredis: idempotent acceptance,
the due-time index, children and recursive cancel, redrive numbering."""

from __future__ import annotations

import time
from typing import Any

import pytest

from executor import Client, InvalidParameter, RequestIdConflict
from executor.core.invocation import Status
from executor.state import keys
from tests.support.lifecycle_steps import end
from tests.support.names import urn
from tests.support.stubs import RecordingCelery


def send_count(celery: RecordingCelery) -> int:
    return len(celery.sent)


# -- idempotent acceptance ---------------------------------------------------------------------


def test_the_same_call_again_returns_the_id_and_sends_nothing(
    fake_client: Client, celery: RecordingCelery, fake_redis: Any
) -> None:
    assert fake_client.invoke_async("hello", {"a": 1}, request_id="k:1") == "k:1"
    assert fake_client.invoke_async("hello", {"a": 1}, request_id="k:1") == "k:1"
    fake_client.engine.lifecycle.claim("k:1", urn("hello"), 0)
    assert fake_client.invoke_async("hello", {"a": 1}, request_id="k:1") == "k:1"
    assert send_count(celery) == 1
    assert fake_redis.llen(keys.history_key("k:1")) == 2  # WAIT, RUNNING


@pytest.mark.parametrize(
    ("function", "payload"), [("hello", {"a": 2}), ("next", {"a": 1}), ("hello", {"a": 1, "b": 0})]
)
def test_another_function_or_payload_is_a_conflict_and_writes_nothing(
    fake_client: Client, celery: RecordingCelery, fake_redis: Any, function: str, payload: Any
) -> None:
    fake_client.invoke_async("hello", {"a": 1}, request_id="k")
    before = {key: fake_redis.type(key) for key in fake_redis.keys("*")}
    with pytest.raises(RequestIdConflict) as refused:
        fake_client.invoke_async(function, payload, request_id="k")
    assert refused.value.code == "FSS.1409" and "'k' is taken" in refused.value.message
    assert {key: fake_redis.type(key) for key in fake_redis.keys("*")} == before
    assert send_count(celery) == 1


def test_a_child_is_recorded_under_its_origin(fake_client: Client, fake_redis: Any) -> None:
    child = fake_client.invoke_async("hello", {}, origin="parent-1")
    listed = keys.children_key("parent-1", keys.shard_of(child))
    assert fake_redis.smembers(listed) == {child}
    assert fake_redis.ttl(listed) > 3600
    assert fake_client.store.records.children(["parent-1"]) == [child]


# -- delayed start -----------------------------------------------------------------------------


def test_a_delayed_invocation_waits_in_the_due_index_and_is_released_once(
    fake_client: Client, celery: RecordingCelery, fake_redis: Any
) -> None:
    rid = fake_client.invoke_async("hello", {"x": 1}, delay=30)
    record = fake_client.get_invocation(rid)
    assert record.status is Status.WAIT and send_count(celery) == 0
    assert record.due_at == pytest.approx(record.enqueued_at + 30)
    assert record.deadline == pytest.approx(record.due_at + 3600)
    assert fake_redis.zscore(keys.sharded_for(keys.DUE, rid), rid) == pytest.approx(record.due_at)
    assert fake_redis.zscore(
        keys.active_key(record.function_urn, keys.shard_of(rid)), rid
    ) == pytest.approx(record.due_at)
    due = fake_client.store.due
    assert due.take(record.due_at - 0.01, 10) == []
    assert due.take(record.due_at, 10) == [rid]
    assert due.take(record.due_at, 10) == []  # taken once
    assert fake_client.engine.admission.release_due(rid)
    [(_, options)] = celery.sent
    assert options["task_id"] == rid
    assert options["kwargs"]["enqueued_at"] == record.enqueued_at


def test_a_refused_publish_puts_a_due_invocation_back(
    fake_client: Client, celery: RecordingCelery, fake_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = fake_client.invoke_async("hello", {}, delay=5)
    due = fake_client.store.due.take(time.time() + 10, 10)
    assert due == [rid]

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(celery, "send_task", refuse)
    with pytest.raises(ConnectionError):
        fake_client.engine.admission.release_due(rid)
    record = fake_client.get_invocation(rid)
    assert fake_redis.zscore(keys.sharded_for(keys.DUE, rid), rid) == record.due_at


def test_a_cancelled_delayed_invocation_leaves_the_index_and_is_never_released(
    fake_client: Client, celery: RecordingCelery, fake_redis: Any
) -> None:
    rid = fake_client.invoke_async("hello", {}, delay=5)
    assert fake_client.cancel(rid).cancelled == (rid,)
    assert fake_redis.zscore(keys.sharded_for(keys.DUE, rid), rid) is None
    assert not fake_client.engine.admission.release_due(rid)
    assert send_count(celery) == 0


# -- recursive cancel --------------------------------------------------------------------------


def test_recursive_cancel_walks_every_level_and_leaves_running_ones_without_force(
    fake_client: Client, celery: RecordingCelery
) -> None:
    root = fake_client.invoke_async("hello", {"n": "root"}, delay=60)
    a = fake_client.invoke_async("hello", {"n": "a"}, origin=root)
    b = fake_client.invoke_async("hello", {"n": "b"}, delay=60, origin=a)
    c = fake_client.invoke_async("hello", {"n": "c"}, origin=b)
    done = fake_client.invoke_async("hello", {"n": "done"}, origin=root)
    end(fake_client, done, Status.SUCCESS)
    fake_client.engine.lifecycle.claim(a, urn("hello"), 0)  # a is running
    first = fake_client.cancel(root, recursive=True)
    assert first.cancelled == (root, b, c)
    assert fake_client.get_invocation(a).status is Status.RUNNING
    assert fake_client.get_invocation(done).status is Status.SUCCESS
    with pytest.raises(InvalidParameter, match="force stops a running one"):
        fake_client.cancel(a, recursive=True)
    assert fake_client.cancel(root, force=True, recursive=True).cancelled == (a,)
    assert celery.revoked[-1] == ([a], {"terminate": True, "signal": "SIGKILL"})


# -- redrive -----------------------------------------------------------------------------------


def test_redrive_numbers_from_the_original_and_repeats_while_one_is_open(
    fake_client: Client, fake_redis: Any
) -> None:
    original = fake_client.invoke_async("hello", {"p": 1}, request_id="job")
    with pytest.raises(InvalidParameter, match="has not ended"):
        fake_client.redrive(original)
    end(fake_client, original, Status.FAIL)
    assert fake_client.redrive(original) == "job.r1"
    assert fake_client.redrive(original) == "job.r1"  # still open: the same
    record = fake_client.get_invocation("job.r1")
    assert (record.redrive_of, record.payload) == ("job", {"p": 1})
    end(fake_client, "job.r1", Status.FAIL)
    assert fake_client.redrive("job.r1") == "job.r2"  # counts on from the original
    assert fake_redis.hget(keys.record_key("job"), "redrives") == "2"
    end(fake_client, "job.r2", Status.SUCCESS)
    with pytest.raises(InvalidParameter, match=r"job\.r2, which succeeded"):
        fake_client.redrive(original)
    with pytest.raises(InvalidParameter, match="only FAIL and DISCARD"):
        fake_client.redrive("job.r2")


def test_redrive_selection_names_each_original_once(fake_client: Client) -> None:
    for rid in ("x", "y"):
        fake_client.invoke_async("hello", {"id": rid}, request_id=rid)
        end(fake_client, rid, Status.FAIL)
    fake_client.redrive("x")
    end(fake_client, "x.r1", Status.FAIL)
    assert sorted(fake_client.redrivable("hello", "fail")) == ["x", "y"]
    with pytest.raises(InvalidParameter, match="FAIL or DISCARD"):
        fake_client.redrivable("hello", "SUCCESS")
