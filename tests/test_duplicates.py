"""A duplicate message is not a lost worker: while the first run is alive a copy never runs.

A running claim names its runner and holds a lease the runner's heartbeat renews. A copy that
arrives meanwhile waits until the lease would have lapsed and then finds the run ended; a claim
whose runner is gone (its process died, or its lease lapsed) is run again, as before.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from executor import Client
from executor.core.messages import InvocationMessage
from executor.state import keys
from tests.apps.hardening_functions import app as hardening_app
from tests.support.invocations import queued, wait_status
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.hardening_functions:app"
LEASE = {"EXECUTOR_RUNNER_LEASE": "3"}


@pytest.fixture
def known(client: Client) -> Client:
    return Client(client.settings, registry=hardening_app.registry)


def _copy(client: Client, request_id: str, seconds: float) -> None:
    """Publish one more copy of the invocation's first message, as a broker redelivery would."""
    record = client.store.records.record(request_id)
    message = InvocationMessage(
        payload={"seconds": seconds},
        urn=record.urn,
        enqueued_at=record.enqueued_at,
        deadline=record.deadline,
    )
    entry = client.lookup(client.resolve("hold"))
    client.engine.publisher.invocation(entry, request_id, message)


def _drained(rdb: Any) -> bool:
    return queued(rdb) + rdb.hlen("unacked") == 0


@pytest.mark.parametrize(
    ("pool", "workers", "concurrency", "copies", "seconds"),
    [
        ("prefork", 1, 3, 1, 2.0),
        ("prefork", 1, 4, 3, 3.0),
        ("prefork", 2, 2, 2, 4.0),
        ("solo", 3, 1, 2, 2.0),
    ],
)
def test_copies_of_a_running_invocation_do_not_run(
    known, rdb, start_worker, pool, workers, concurrency, copies, seconds
):
    fleet = [
        start_worker(APP, pool=pool, concurrency=concurrency, env=LEASE) for _ in range(workers)
    ]
    request_id = known.invoke_async("hold", {"seconds": seconds})
    wait_status(known, request_id, "RUNNING")
    for _ in range(copies):
        _copy(known, request_id, seconds)
    record = wait_status(known, request_id, "SUCCESS", timeout=30)
    # A barrier: every copy has been taken, deferred if needed, and taken again.
    wait_for(lambda: _drained(rdb), 30, "every copy of the message to be consumed", 0.1)
    logs = "".join(worker.output() for worker in fleet)
    assert int(rdb.get(f"test:runs:{request_id}")) == 1
    assert record.attempts == 1
    assert known.store.records.record(request_id).crashes == 0
    assert "is running elsewhere" in logs


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_killed_pool_process_is_a_crash_and_runs_again(known, rdb, start_worker, concurrency):
    start_worker(APP, pool="prefork", concurrency=concurrency, env=LEASE)
    request_id = known.invoke_async("hold", {"seconds": 2})
    wait_for(lambda: rdb.get(f"test:pid:{request_id}"), 20, "the run to start")
    os.kill(int(rdb.get(f"test:pid:{request_id}")), signal.SIGKILL)
    record = wait_status(known, request_id, "SUCCESS", timeout=40)
    assert int(rdb.get(f"test:runs:{request_id}")) == 2
    assert record.attempts == 2
    assert known.store.records.record(request_id).crashes == 1


@pytest.mark.parametrize("remaining", [1.0, 2.5])
def test_a_claim_whose_lease_lapsed_counts_as_a_crash(known, rdb, start_worker, remaining):
    """A runner on another host cannot be asked whether it lives; its lease tells."""
    request_id = known.invoke_async("hold", {"seconds": 0.1})
    key = keys.record_key(request_id)
    lease = time.time() + remaining
    rdb.hset(
        key,
        mapping={
            "status": "RUNNING",
            "claimed": 0,
            "attempts": 1,
            "runner": "elsewhere|4242|feed",
            "lease": repr(lease),
        },
    )
    worker = start_worker(APP, pool="prefork", concurrency=2, env=LEASE)
    try:
        record = wait_status(known, request_id, "SUCCESS", timeout=30)
    except AssertionError as exc:
        where = f"queued {queued(rdb)}, unacked {rdb.hlen('unacked')}"
        raise AssertionError(f"{exc}; its message: {where}") from exc
    assert record.attempts == 2, worker.output()
    assert known.store.records.record(request_id).crashes == 1
    assert record.ended_at is not None and record.ended_at >= lease


def test_worker_lost_too_often_still_fails(known, rdb, start_worker):
    """``EXECUTOR_MAX_WORKER_LOST`` still ends an invocation whose runs keep dying."""
    start_worker(APP, pool="prefork", concurrency=1, env={**LEASE, "EXECUTOR_MAX_WORKER_LOST": "2"})
    request_id = known.invoke_async("hold", {"seconds": 30})
    for run in (1, 2):
        wait_for(lambda r=run: int(rdb.get(f"test:runs:{request_id}") or 0) >= r, 30, "a run")
        pid = int(rdb.get(f"test:pid:{request_id}"))
        os.kill(pid, signal.SIGKILL)
    record = wait_status(known, request_id, "FAIL", timeout=40)
    assert "lost 2 times" in record.error_message
