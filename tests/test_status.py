"""Status queries, cancel, and the reconciler's safety net, on real workers."""

from __future__ import annotations

import pytest

from executor import InvalidParameter
from tests.support.invocations import EVENTS_KEY, barrier, route, wait_status

pytestmark = pytest.mark.integration


def test_waiting_invocation_cancelled_never_runs(client, start_worker, rdb):
    start_worker().stop()
    rid = client.invoke_async("counted", {})
    record = client.cancel(rid)
    assert record.status.value == "DISCARD"
    assert record.condition == "Cancelled"
    start_worker()
    barrier(client, rdb)
    assert rdb.get(f"test:runs:{rid}") is None
    assert client.get_invocation(rid).status.value == "DISCARD"
    with pytest.raises(InvalidParameter, match="already ended"):
        client.cancel(rid)


def test_running_invocation_needs_force(client, start_worker, rdb):
    start_worker(pool="prefork", concurrency=1)
    rid = client.invoke_async("slow", {"seconds": 30})
    wait_status(client, rid, "RUNNING")
    with pytest.raises(InvalidParameter, match="force"):
        client.cancel(rid)
    assert client.cancel(rid, force=True).status.value == "DISCARD"
    follow = client.invoke_async("hello", {})
    wait_status(client, follow, "SUCCESS")
    assert client.get_invocation(rid).status.value == "DISCARD"
    assert rdb.get(f"test:runs:{rid}") == "1"


def test_listing_filters_and_pages(client, start_worker):
    start_worker()
    route(client, "boom", max_async_retry_attempts=0)
    ok = [client.invoke_async("hello", {"i": i}) for i in range(5)]
    bad = client.invoke_async("boom", {})
    for rid in ok:
        wait_status(client, rid, "SUCCESS")
    wait_status(client, bad, "FAIL")
    page = client.list_invocations("hello", limit=2)
    assert [i.request_id for i in page.invocations] == ok[::-1][:2]
    rest = client.list_invocations("hello", limit=10, marker=page.next_marker)
    assert [i.request_id for i in rest.invocations] == ok[::-1][2:]
    assert rest.next_marker is None
    assert client.list_invocations("hello", status="FAIL").count == 0
    [failed] = client.list_invocations("boom", status="fail").invocations
    wire = failed.to_wire()
    assert wire["request_id"] == bad and wire["status"] == "FAIL"
    assert wire["error_message"] == "ValueError: always fails"
    assert set(wire) == {
        "request_id",
        "status",
        "error_message",
        "error_code",
        "start_time",
        "end_time",
    }
    middle = client.get_invocation(ok[2]).enqueued_at
    window = client.list_invocations("hello", since=middle, until=middle)
    assert [i.request_id for i in window.invocations] == [ok[2]]
    with pytest.raises(InvalidParameter, match="status must be one of"):
        client.list_invocations("hello", status="DONE")


def test_reconciler_discards_an_invocation_whose_message_was_lost(
    client, start_worker, events, rdb
):
    start_worker().stop()
    route(client, "hello", failure="sink", max_async_event_age_in_seconds=1)
    rid = client.invoke_async("hello", {"lost": True})
    assert rdb.delete(client.lookup(client.resolve("hello")).queue) == 1
    start_worker()
    [event] = events(1, timeout=15)
    assert event["request_context"]["request_id"] == rid
    assert event["request_context"]["condition"] == "EventAgeExceeded"
    record = wait_status(client, rid, "DISCARD")
    assert "reconciler" in record.history[-1].note
    barrier(client, rdb)
    assert rdb.llen(EVENTS_KEY) == 1
