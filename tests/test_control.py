"""Invocation control on real workers: idempotent submit, delayed start, recursive cancel,
redrive, and retry policies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from destinations.functiongraph import target_request_id
from executor import Client, InvalidParameter, RequestIdConflict
from executor.core.events import format_timestamp
from executor.core.messages import DeliveryJob
from executor.ops.metrics import FleetCollector
from executor.state.keys import DUE, sharded_for
from tests.support.invocations import drained, queued, route, wait_status
from tests.support.services import stat, wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.control_functions:app"


def runs(rdb: Any, request_id: str) -> int:
    return int(rdb.get(f"test:runs:{request_id}") or 0)


def barrier(client: Client, rdb: Any, delay: float = 0) -> None:
    """Return once everything queued so far has been handled: a fresh ``tally`` invocation
    (``delay`` seconds later, so due after the delayed ones before it) must end first, on the
    same queue of a worker that takes it in order, and then no message may wait or be held."""
    rid = client.invoke_async("tally", {"barrier": True}, delay=delay)
    wait_status(client, rid, "SUCCESS", timeout=30 + delay)
    wait_for(lambda: drained(rdb), 20, "the queues to drain")


def race(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` in ``count`` threads released at the same moment."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = call(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


# -- idempotent submit ----------------------------------------------------------------------


def test_a_repeated_request_id_runs_the_handler_once(client, start_worker, rdb):
    start_worker(APP)
    first = client.invoke_async("tally", {"k": 1}, request_id="order-42:charge")
    again = [client.invoke_async("tally", {"k": 1}, request_id="order-42:charge") for _ in range(3)]
    assert first == "order-42:charge"
    assert again == [first] * 3
    wait_status(client, first, "SUCCESS")
    assert client.invoke_async("tally", {"k": 1}, request_id=first) == first  # after it ended
    barrier(client, rdb)
    assert runs(rdb, first) == 1
    record = client.get_invocation(first)
    assert [t.status.value for t in record.history if t.status] == ["WAIT", "RUNNING", "SUCCESS"]


@pytest.mark.parametrize("producers", [2, 5])
def test_racing_producers_with_one_request_id_queue_one(settings, start_worker, rdb, producers):
    start_worker(APP)
    clients = [Client(settings) for _ in range(producers)]
    ids = [f"race-{producers}-{n}" for n in range(10)]
    for rid in ids:
        answers = race(
            producers, lambda i, rid=rid: clients[i].invoke_async("tally", [rid], request_id=rid)
        )
        assert answers == [rid] * producers
    barrier(clients[0], rdb)
    assert [runs(rdb, rid) for rid in ids] == [1] * len(ids)
    assert stat(rdb, f"fn|{clients[0].resolve('tally')}|accepted") == len(ids) + 1


def test_a_conflicting_reuse_is_refused_with_fss_1409(client, start_worker, rdb):
    start_worker(APP).stop()
    rid = client.invoke_async("tally", {"amount": 10}, request_id="pay-7")
    with pytest.raises(RequestIdConflict) as refused:
        client.invoke_async("tally", {"amount": 11}, request_id="pay-7")
    assert refused.value.code == "FSS.1409"
    assert refused.value.http_status == 409
    assert "pay-7" in refused.value.message and ":tally:latest" in refused.value.message
    with pytest.raises(RequestIdConflict):
        client.invoke_async("sink", {"amount": 10}, request_id="pay-7")
    record = client.get_invocation(rid)
    assert record.payload == {"amount": 10}
    assert len(record.history) == 1
    assert queued(rdb) == 1
    for bad in ["", "a" * 65, "with space", "slash/no", "ü"]:
        with pytest.raises(InvalidParameter, match="request id"):
            client.invoke_async("tally", {}, request_id=bad)
    assert queued(rdb) == 1


def test_a_repeated_functiongraph_delivery_still_lands_on_its_invocation(
    client, start_worker, rdb, events
):
    start_worker(APP)
    route(client, "echo", success="sink")
    rid = client.invoke_async("echo", {"x": 1})
    events(1)
    wait_status(client, rid, "SUCCESS")
    target = target_request_id(f"{rid}:success")
    wait_status(client, target, "SUCCESS")
    record = client.store.records.record(rid)
    job = DeliveryJob(
        request_id=rid,
        outcome="success",
        destination=record.destination,
        event=record.event(),
        function_urn=record.urn,
    )
    client.engine.deliveries.attempt(job, 2)  # a repeated delivery, as after a lost acknowledgement
    barrier(client, rdb)
    assert rdb.llen("test:events") == 1
    assert [t.status.value for t in client.get_invocation(target).history if t.status] == [
        "WAIT",
        "RUNNING",
        "SUCCESS",
    ]


# -- delayed start --------------------------------------------------------------------------


@pytest.mark.parametrize(("delay", "period"), [(0.7, 0.5), (1.5, 1.0), (3.0, 0.5)])
def test_a_delayed_invocation_runs_no_earlier_than_its_delay(
    client, start_worker, events, delay, period
):
    start_worker(APP, env={"EXECUTOR_RECONCILE_INTERVAL": str(period)})
    route(client, "echo", success="sink", max_async_event_age_in_seconds=1)
    rid = client.invoke_async("echo", {"delay": delay}, delay=delay)
    accepted = client.get_invocation(rid)
    assert accepted.status.value == "WAIT"
    assert accepted.due_at == pytest.approx(accepted.enqueued_at + delay)
    # Its age counts from when it is due: a 1 s max age does not end it before it runs.
    assert accepted.deadline == pytest.approx(accepted.due_at + 1)
    record = wait_status(client, rid, "SUCCESS", timeout=delay + 10)
    waited = record.started_at - record.enqueued_at
    print(f"\ndelay {delay} s: started {waited:.3f} s after acceptance")
    assert waited >= delay
    # within one reconcile period, plus a little for the publish and the claim
    assert waited <= delay + period + 0.5, waited
    [event] = events(1)
    assert event["timestamp"] == format_timestamp(accepted.enqueued_at)


def test_a_delayed_invocation_cancelled_before_it_is_due_never_runs(client, start_worker, rdb):
    start_worker(APP)
    cancelled = client.invoke_async("tally", {"c": 1}, delay=1.0)
    kept = client.invoke_async("tally", {"c": 2}, delay=1.0)
    assert client.cancel(cancelled).cancelled == (cancelled,)
    assert rdb.zscore(sharded_for(DUE, cancelled), cancelled) is None
    barrier(client, rdb, delay=2.0)  # due after both, so published by a later pass
    wait_status(client, kept, "SUCCESS")
    assert runs(rdb, cancelled) == 0
    assert client.get_invocation(cancelled).status.value == "DISCARD"


def test_delayed_invocations_are_active_but_not_waiting_before_they_are_due(client, start_worker):
    start_worker(APP).stop()  # its catalogue stays
    urn = str(client.resolve("tally"))
    queued = client.invoke_async("tally", {"n": -1})
    delayed = [client.invoke_async("tally", {"n": n}, delay=3600) for n in range(3)]
    # the orphan pass and the oldest-waiting gauge look at invocations waiting since a cutoff
    assert client.store.scans.waiting_since(urn, time.time() + 1, 100) == [queued]
    oldest = client.store.scans.oldest_waiting(urn, 100, 10)
    assert oldest == pytest.approx(client.get_invocation(queued).enqueued_at)
    page = client.list_invocations("tally", active_only=True)
    assert {i.request_id for i in page.invocations} == {queued, *delayed}
    assert all(i.status.value == "WAIT" for i in page.invocations)


def rss(process: psutil.Process) -> int:
    return process.memory_info().rss + sum(c.memory_info().rss for c in process.children(True))


def test_ten_thousand_delayed_invocations_leave_worker_memory_flat(client, start_worker, rdb):
    worker = start_worker(APP)
    process = psutil.Process(worker.proc.pid)
    barrier(client, rdb)

    def passes() -> int:
        return stat(rdb, "reconcile_passes")

    def two_passes() -> None:
        seen = passes()
        wait_for(lambda: passes() >= seen + 2, 10, "two reconcile passes")

    two_passes()
    before, redis_before = rss(process), rdb.info("memory")["used_memory"]
    total = 10_000
    ids: list[str] = []
    chunks = race(
        4,
        lambda i: [client.invoke_async("tally", {"n": n}, delay=3600) for n in range(i, total, 4)],
    )
    for chunk in chunks:
        ids.extend(chunk)
    two_passes()
    after, redis_after = rss(process), rdb.info("memory")["used_memory"]
    assert len(set(ids)) == total
    assert client.store.due.count() == total
    [gauge] = [
        m
        for m in FleetCollector(client.store, client.celery).collect()
        if m.name == "executor_delayed_invocations"
    ]
    assert gauge.samples[0].value == total
    assert queued(rdb) == 0
    growth = (after - before) / 2**20
    print(
        f"\n{total} delayed: worker RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB "
        f"({growth:+.1f}); Redis used_memory +{(redis_after - redis_before) / 2**20:.1f} MiB"
    )
    assert growth < 8, growth


# -- recursive cancel -----------------------------------------------------------------------


def test_recursive_cancel_reaches_every_waiting_descendant(client, start_worker, rdb):
    start_worker(APP)
    # root -> a, b; a -> c, d; c -> e: a chain of 5 descendants, all waiting.
    root = client.invoke_async("tally", {"node": "root"}, delay=2)
    a = client.invoke_async("tally", {"node": "a"}, delay=2, origin=root)
    b = client.invoke_async("tally", {"node": "b"}, delay=2, origin=root)
    c = client.invoke_async("tally", {"node": "c"}, delay=2, origin=a)
    d = client.invoke_async("tally", {"node": "d"}, delay=2, origin=a)
    e = client.invoke_async("tally", {"node": "e"}, delay=2, origin=c)
    bystander = client.invoke_async("tally", {"node": "other"}, delay=2)
    done = client.cancel(root, recursive=True)
    assert done.status.value == "DISCARD"
    assert set(done.cancelled) == {root, a, b, c, d, e} and done.cancelled[0] == root
    barrier(client, rdb, delay=3)  # due after all of them
    wait_status(client, bystander, "SUCCESS")
    for rid in (root, a, b, c, d, e):
        assert runs(rdb, rid) == 0, rid
        assert client.get_invocation(rid).status.value == "DISCARD"
    with pytest.raises(InvalidParameter, match="nothing to cancel"):
        client.cancel(root, recursive=True)


def test_recursive_force_cancel_stops_a_running_root_and_its_children(client, start_worker, rdb):
    start_worker(APP, pool="prefork", concurrency=2)
    root = client.invoke_async("fanout", {"children": 5, "delay": 2})
    assert rdb.blpop(["test:fanout:ready"], timeout=20) == ("test:fanout:ready", root)
    children = set(client.store.records.children([root]))
    assert len(children) == 5
    with pytest.raises(InvalidParameter, match="force"):
        client.cancel(root)
    done = client.cancel(root, force=True, recursive=True)
    assert set(done.cancelled) == {root, *children}
    assert done.status.value == "DISCARD"
    barrier(client, rdb, delay=3)
    for child in children:
        assert runs(rdb, child) == 0
        assert client.get_invocation(child).status.value == "DISCARD"


# -- redrive ---------------------------------------------------------------------------------


def test_redrive_of_a_hundred_failed_invocations_runs_each_once(client, start_worker, rdb):
    start_worker(APP)
    originals = [client.invoke_async("gate", {"n": n}) for n in range(100)]
    for rid in originals:
        wait_status(client, rid, "FAIL")
    rdb.set("test:gate", "open")
    selected = client.redrivable("gate", "FAIL", limit=500)
    assert sorted(selected) == sorted(originals)
    redriven = {rid: client.redrive(rid) for rid in selected}
    assert redriven == {rid: f"{rid}.r1" for rid in originals}
    for rid, new in redriven.items():
        record = wait_status(client, new, "SUCCESS")
        assert record.redrive_of == rid
        assert record.payload == client.get_invocation(rid).payload
    # asked again, a redrive that succeeded is not run a third time
    with pytest.raises(InvalidParameter, match="succeeded"):
        client.redrive(originals[0])
    barrier(client, rdb)
    assert rdb.hgetall("test:gate:runs") == {str(n): "2" for n in range(100)}


def test_two_redrives_at_once_queue_one(client, settings, start_worker, rdb):
    worker = start_worker(APP)
    failed = client.invoke_async("gate", {"n": 7})
    wait_status(client, failed, "FAIL")
    clients = [Client(settings) for _ in range(4)]
    # No worker runs while the redrives race, so none of them can find the redrive ended.
    worker.stop()
    first = race(4, lambda i: clients[i].redrive(failed))
    assert first == [f"{failed}.r1"] * 4
    worker = start_worker(APP)
    wait_status(client, f"{failed}.r1", "FAIL")  # the gate is still closed
    worker.stop()
    second = race(4, lambda i: clients[i].redrive(f"{failed}.r1"))
    assert second == [f"{failed}.r2"] * 4
    start_worker(APP)
    wait_status(client, f"{failed}.r2", "FAIL")
    barrier(client, rdb)
    assert rdb.hget("test:gate:runs", "7") == "3"
    with pytest.raises(InvalidParameter, match="has not ended"):
        client.redrive(client.invoke_async("tally", {}, delay=60))


# -- retry policy ---------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_no_retry_on_ends_at_the_first_attempt(client, start_worker, rdb, events, pool):
    start_worker(APP, pool=pool)
    route(client, "picky", failure="sink", max_async_retry_attempts=3)
    rid = client.invoke_async("picky", {"v": -1})
    [event] = events(1)
    assert event["request_context"]["condition"] == "NotRetryable"
    assert event["request_context"]["approximate_invoke_count"] == 1
    assert event["response_context"] == {
        "status_code": 200,
        "function_error": "ValueError: bad input {'v': -1}",
    }
    assert event["response_payload"] == ""
    record = wait_status(client, rid, "FAIL")
    assert record.condition == "NotRetryable" and record.attempts == 1
    assert "no_retry_on" in record.history[-1].note
    barrier(client, rdb)
    assert runs(rdb, rid) == 1


@pytest.mark.parametrize(
    ("raised", "status", "attempts"),
    [
        (["KeyError"], "FAIL", 1),
        (["TimeoutError", "KeyError"], "FAIL", 2),
        (["TimeoutError", "TimeoutError"], "SUCCESS", 3),
    ],
)
def test_retry_on_spends_retries_only_on_those_exceptions(
    client, start_worker, rdb, raised, status, attempts
):
    start_worker(APP)
    rid = client.invoke_async("choosy", {"raise": raised})
    record = wait_status(client, rid, status)
    assert record.attempts == attempts
    assert record.condition == ("NotRetryable" if status == "FAIL" else "")
    barrier(client, rdb)
    assert runs(rdb, rid) == attempts


@pytest.mark.parametrize(("wait", "pool"), [(1.0, "solo"), (2.0, "prefork"), (2.0, "solo")])
def test_retry_after_waits_at_least_the_given_seconds(client, start_worker, rdb, wait, pool):
    start_worker(APP, pool=pool)
    rid = client.invoke_async("patient", {"wait": wait})
    record = wait_status(client, rid, "SUCCESS", timeout=wait + 15)
    starts = [float(t) for t in rdb.lrange(f"test:started:{rid}", 0, -1)]
    assert len(starts) == 2
    assert starts[1] - starts[0] >= wait
    retry = next(
        t for t in record.history if t.status and t.status.value == "WAIT" and t.attempt == 1
    )
    assert f"in {wait:.2f}s" in retry.note


def test_retry_after_is_bounded_by_the_max_retries(client, start_worker):
    start_worker(APP)
    client.put_async_config("patient", {"max_async_retry_attempts": 0})
    rid = client.invoke_async("patient", {"wait": 30})
    record = wait_status(client, rid, "FAIL")
    assert record.condition == "RetriesExhausted"
    assert record.error_message == "RetryAfter: not ready yet"
