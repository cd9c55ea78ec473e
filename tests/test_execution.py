"""Invocations on real workers: outcomes, retries, ages, events, redelivery, chains."""

from __future__ import annotations

import time

import pytest

from executor.core.messages import InvocationMessage
from tests.support.invocations import EVENTS_KEY, barrier, route, wait_status

pytestmark = pytest.mark.integration

EVENT_KEYS = [
    "timestamp",
    "request_context",
    "request_payload",
    "response_context",
    "response_payload",
]


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_success_event_has_the_exact_schema(client, start_worker, events, pool):
    start_worker(pool=pool)
    route(client, "hello", success="sink")
    rid = client.invoke_async("hello", {"name": "ann"})
    [event] = events(1)
    assert list(event) == EVENT_KEYS
    assert event["request_context"] == {
        "request_id": rid,
        "function_urn": str(client.resolve("hello")),
        "condition": "",
        "approximate_invoke_count": 1,
    }
    assert event["request_payload"] == {"name": "ann"}
    assert event["response_context"] == {"status_code": 200, "function_error": ""}
    assert event["response_payload"] == {"greeting": "hello ann", "attempt": 1}
    assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == 24
    record = wait_status(client, rid, "SUCCESS")
    assert [d.state for d in record.deliveries] == ["delivered"]


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_two_failures_then_success_under_two_retries(client, start_worker, events, rdb, pool):
    start_worker(pool=pool)
    route(client, "flaky", success="sink", failure="sink", max_async_retry_attempts=2)
    rid = client.invoke_async("flaky", {"fail_times": 2})
    [event] = events(1)
    record = wait_status(client, rid, "SUCCESS")
    barrier(client, rdb)
    assert rdb.llen(EVENTS_KEY) == 1
    assert event["request_context"]["condition"] == ""
    assert event["request_context"]["approximate_invoke_count"] == 3
    assert event["response_payload"] == {"runs": 3}
    assert [t.status.value for t in record.history if t.status] == [
        "WAIT",
        "RUNNING",
        "WAIT",
        "RUNNING",
        "WAIT",
        "RUNNING",
        "SUCCESS",
    ]
    assert record.attempts == 3


def test_always_failing_under_one_retry_exhausts(client, start_worker, events, rdb):
    start_worker()
    route(client, "boom", success="sink", failure="sink", max_async_retry_attempts=1)
    rid = client.invoke_async("boom", [1, 2])
    [event] = events(1)
    assert event["request_context"]["condition"] == "RetriesExhausted"
    assert event["request_context"]["approximate_invoke_count"] == 2
    assert event["response_context"] == {
        "status_code": 200,
        "function_error": "ValueError: always fails",
    }
    assert event["request_payload"] == [1, 2]
    record = wait_status(client, rid, "FAIL")
    assert record.error_message == "ValueError: always fails"
    assert rdb.get(f"test:runs:{rid}") == "2"


def test_zero_retries_runs_once(client, start_worker, events, rdb):
    start_worker()
    route(client, "boom", failure="sink", max_async_retry_attempts=0)
    rid = client.invoke_async("boom", None)
    [event] = events(1)
    assert event["request_context"]["approximate_invoke_count"] == 1
    assert event["request_context"]["condition"] == "RetriesExhausted"
    wait_status(client, rid, "FAIL")
    barrier(client, rdb)
    assert rdb.get(f"test:runs:{rid}") == "1"


def test_message_that_ages_out_without_a_worker(client, start_worker, events, rdb):
    worker = start_worker()
    route(client, "hello", success="sink", failure="sink", max_async_event_age_in_seconds=1)
    worker.stop()
    rid = client.invoke_async("hello", {"name": "late"})
    time.sleep(1.5)  # past the message age of 1 s
    start_worker()
    [event] = events(1)
    assert event["request_context"]["request_id"] == rid
    assert event["request_context"]["condition"] == "EventAgeExceeded"
    assert event["request_context"]["approximate_invoke_count"] == 0
    assert event["request_payload"] == {"name": "late"}
    record = wait_status(client, rid, "DISCARD")
    assert record.condition == "EventAgeExceeded"
    assert record.attempts == 0
    barrier(client, rdb)
    assert rdb.llen(EVENTS_KEY) == 1


def test_retries_are_cut_short_by_the_message_age(client, start_worker, events, rdb):
    start_worker(env={"EXECUTOR_RETRY_BACKOFF_BASE": "4", "EXECUTOR_RETRY_BACKOFF_MAX": "8"})
    route(
        client, "boom", failure="sink", max_async_retry_attempts=3, max_async_event_age_in_seconds=2
    )
    rid = client.invoke_async("boom", {})
    [event] = events(1)
    assert event["request_context"]["condition"] == "EventAgeExceeded"
    assert event["request_context"]["approximate_invoke_count"] == 1
    assert event["response_context"]["function_error"] == "ValueError: always fails"
    record = wait_status(client, rid, "FAIL")
    assert "after the deadline" in record.history[-1].note
    assert rdb.get(f"test:runs:{rid}") == "1"


def test_redelivered_finished_message_does_not_run_again(client, start_worker, events, rdb):
    start_worker()
    route(client, "counted", success="sink")
    rid = client.invoke_async("counted", {"n": 1})
    events(1)
    wait_status(client, rid, "SUCCESS")
    record = client.get_invocation(rid)
    entry = client.lookup(client.resolve("counted"))
    client.engine.publisher.invocation(
        entry,
        rid,
        InvocationMessage(
            payload={"n": 1},
            urn=record.function_urn,
            enqueued_at=record.enqueued_at,
            deadline=time.time() + 60,
        ),
    )
    barrier(client, rdb)
    assert rdb.get(f"test:runs:{rid}") == "1"
    assert rdb.llen(EVENTS_KEY) == 1
    assert client.get_invocation(rid).attempts == 1


def test_runtime_cycle_is_broken_and_counted(client, start_worker, rdb):
    start_worker()
    route(client, "pong", success="ping")
    rid = client.invoke_async("ping", {"tag": "t"})
    wait_status(client, rid, "SUCCESS")
    deadline = time.time() + 10
    while time.time() < deadline and client.store.scans.stats().get("cycle_drops", 0) < 1:
        time.sleep(0.05)
    barrier(client, rdb)
    assert client.store.scans.stats()["cycle_drops"] == 1
    assert rdb.get("test:runs:ping:t") == "1"
    assert rdb.get("test:runs:pong") == "1"
    [pong] = client.list_invocations("pong").invocations
    assert pong.status.value == "SUCCESS"
    assert pong.chain == (str(client.resolve("ping").function),)
    deadline = time.time() + 10
    while time.time() < deadline and not client.get_invocation(pong.request_id).cycle_drops:
        time.sleep(0.05)
    pong = client.get_invocation(pong.request_id)
    assert pong.cycle_drops == 1
    assert [d.state for d in pong.deliveries] == ["dropped"]
    assert any("re-enters" in t.note and t.status is None for t in pong.history)


def test_config_change_applies_without_restart(client, start_worker, events, rdb):
    start_worker()
    route(client, "boom", failure="sink", max_async_retry_attempts=0)
    first = client.invoke_async("boom", {})
    events(1)
    route(client, "boom", failure="sink", max_async_retry_attempts=2)
    time.sleep(0.5)  # past the 0.2 s the worker trusts a config it read
    second = client.invoke_async("boom", {})
    got = events(2)
    counts = {
        e["request_context"]["request_id"]: e["request_context"]["approximate_invoke_count"]
        for e in got
    }
    assert counts == {first: 1, second: 3}


def test_soft_time_limit_is_a_function_error(client, start_worker, events):
    start_worker(
        pool="prefork", env={"EXECUTOR_SOFT_TIME_LIMIT": "0.5", "EXECUTOR_TIME_LIMIT": "5"}
    )
    route(client, "slow", failure="sink", max_async_retry_attempts=0)
    rid = client.invoke_async("slow", {"seconds": 3})
    [event] = events(1)
    assert event["request_context"]["request_id"] == rid
    assert event["request_context"]["condition"] == "RetriesExhausted"
    assert event["response_context"]["status_code"] == 200
    assert event["response_context"]["function_error"].startswith("SoftTimeLimitExceeded")


def test_hard_time_limit_is_a_platform_failure(client, start_worker, events):
    start_worker(
        pool="prefork", env={"EXECUTOR_SOFT_TIME_LIMIT": "0.5", "EXECUTOR_TIME_LIMIT": "1"}
    )
    route(client, "stubborn", failure="sink", max_async_retry_attempts=2)
    rid = client.invoke_async("stubborn", {"seconds": 5})
    [event] = events(1)
    assert event["request_context"]["request_id"] == rid
    assert event["request_context"]["condition"] == "RetriesExhausted"
    assert event["response_context"]["status_code"] == 500
    assert "TimeLimitExceeded" in event["response_context"]["function_error"]
    record = wait_status(client, rid, "FAIL")
    assert record.error_code == "FSS.0500"
