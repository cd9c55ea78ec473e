"""A fleet in the middle of a deploy: old workers that do not know a function beside new
workers that do. On one shared queue (``EXECUTOR_FAIR_QUEUES=0``) an old worker takes the new
function's messages and sends them on; with a queue per function (the default) it never
consumes the new function's queue. Either way no message of the new function is lost."""

from __future__ import annotations

import pytest

from executor import Client
from executor.runtime.orphans import REPUBLISHED
from executor.runtime.rebound import REBOUNDS
from tests.apps.rollout_functions import RUN_BY, RUNS, VERSION, new_shared
from tests.apps.rollout_functions import new as new_app
from tests.support.fleet_services import wait_terminal
from tests.support.invocations import wait_status
from tests.support.services import stat

pytestmark = pytest.mark.integration

OLD = "tests.apps.rollout_functions:old"
NEW = "tests.apps.rollout_functions:new"
COUNT = 500


SHARED = {"EXECUTOR_FAIR_QUEUES": "0"}


@pytest.mark.parametrize(
    ("pool", "shared"), [("prefork", True), ("solo", True), ("prefork", False)]
)
def test_old_workers_send_on_what_only_new_workers_know(client, rdb, start_worker, pool, shared):
    env = SHARED if shared else {}
    old = start_worker(OLD, pool=pool, concurrency=2, env={VERSION: "old", **env})
    new = start_worker(NEW, pool=pool, concurrency=2, env={VERSION: "new", **env})
    # A producer of the new version: it routes the new function before any worker names it.
    registry = (new_shared if shared else new_app).registry
    producer = Client(client.settings, registry=registry)
    request_ids = [producer.invoke_async("added", {"n": n}) for n in range(COUNT)]
    assert wait_terminal(rdb, request_ids, 180) == ["SUCCESS"] * COUNT
    runs = rdb.hgetall(RUNS)
    assert sorted(runs) == sorted(request_ids)
    assert set(runs.values()) == {"1"}  # each ran once
    assert set(rdb.hgetall(RUN_BY).values()) == {"new"}
    # None was lost and found again by the reconciler's search for messages in no queue.
    assert stat(rdb, REPUBLISHED) == 0
    # On one queue the old worker did take messages of the function, and sent them on; with
    # a queue per function it never saw one.
    sent_on = "this worker does not know task fn:default:added:latest" in old.output()
    assert sent_on is shared
    assert "Received unregistered task" not in old.output() + new.output()


def test_a_function_no_worker_knows_ages_out_without_a_busy_loop(client, rdb, start_worker):
    old = start_worker(OLD, pool="solo", env={VERSION: "old", **SHARED})
    producer = Client(client.settings, registry=new_shared.registry)
    producer.put_async_config("added", {"max_async_event_age_in_seconds": 5})
    request_id = producer.invoke_async("added", {"n": 1})
    record = wait_status(producer, request_id, "DISCARD", timeout=40)
    assert record.error_code == "EventAgeExceeded"
    sent_on = old.output().count(f"{request_id} back to queue")
    # Rounds of at most REBOUNDS, a reconcile period or more apart: not thousands a second.
    assert 0 < sent_on <= REBOUNDS * (5 / 0.5 + 2)
    assert f"{request_id}: {REBOUNDS + 1} workers in a row did not know" in old.output()
    assert rdb.hgetall(RUNS) == {}
