"""A fleet in the middle of a deploy: old workers that do not know a function beside new
workers that do, on one queue. No message of the new function is lost to an old worker."""

from __future__ import annotations

import pytest

from executor import Client
from executor.runtime.orphans import REPUBLISHED
from executor.runtime.rebound import REBOUNDS
from tests.apps.rollout_functions import RUN_BY, RUNS, VERSION
from tests.apps.rollout_functions import new as new_app
from tests.support.fleet_services import wait_terminal
from tests.support.invocations import wait_status
from tests.support.services import stat

pytestmark = pytest.mark.integration

OLD = "tests.apps.rollout_functions:old"
NEW = "tests.apps.rollout_functions:new"
COUNT = 500


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_old_workers_send_on_what_only_new_workers_know(client, rdb, start_worker, pool):
    old = start_worker(OLD, pool=pool, concurrency=2, env={VERSION: "old"})
    new = start_worker(NEW, pool=pool, concurrency=2, env={VERSION: "new"})
    # A producer of the new version: it routes the new function before any worker names it.
    producer = Client(client.settings, registry=new_app.registry)
    request_ids = [producer.invoke_async("added", {"n": n}) for n in range(COUNT)]
    assert wait_terminal(rdb, request_ids, 180) == ["SUCCESS"] * COUNT
    runs = rdb.hgetall(RUNS)
    assert sorted(runs) == sorted(request_ids)
    assert set(runs.values()) == {"1"}  # each ran once
    assert set(rdb.hgetall(RUN_BY).values()) == {"new"}
    # None was lost and found again by the reconciler's search for messages in no queue.
    assert stat(rdb, REPUBLISHED) == 0
    # The old worker did take messages of the function, and sent them on.
    assert "this worker does not know task fn:default:added:latest" in old.output()
    assert "Received unregistered task" not in old.output() + new.output()


def test_a_function_no_worker_knows_ages_out_without_a_busy_loop(client, rdb, start_worker):
    old = start_worker(OLD, pool="solo", env={VERSION: "old"})
    producer = Client(client.settings, registry=new_app.registry)
    producer.put_async_config("added", {"max_async_event_age_in_seconds": 5})
    request_id = producer.invoke_async("added", {"n": 1})
    record = wait_status(producer, request_id, "DISCARD", timeout=40)
    assert record.error_code == "EventAgeExceeded"
    sent_on = old.output().count(f"{request_id} back to queue")
    # Rounds of at most REBOUNDS, a reconcile period or more apart: not thousands a second.
    assert 0 < sent_on <= REBOUNDS * (5 / 0.5 + 2)
    assert f"{request_id}: {REBOUNDS + 1} workers in a row did not know" in old.output()
    assert rdb.hgetall(RUNS) == {}
