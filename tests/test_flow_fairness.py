"""Fair dispatch with a queue per function (the default, ``EXECUTOR_FAIR_QUEUES``): a few invocations of one
function start promptly behind another function's backlog on one worker, where plain Celery
with one queue starts them after the whole backlog. ``FAIR_BACKLOG`` sets the backlog's size
(3,000 here; the README's figure is for 20,000)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest
import redis

from executor import Client, FunctionApp, Settings
from executor.core.catalogue import function_queue
from tests.apps.plain_fairness import DELAYS, QUEUE, make
from tests.support.fleet_services import wait_terminal
from tests.support.services import ROOT, wait_for

pytestmark = pytest.mark.integration

BACKLOG = int(os.environ.get("FAIR_BACKLOG", "3000"))
URGENT = 50


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _app_module_producer(settings: Settings) -> Client:
    """A producer that registered the functions itself, as one importing the app module."""
    app = FunctionApp(settings)
    for name in ("free", "urgent"):
        app.function(name)(lambda event, context: event)
    return app.client


@pytest.mark.parametrize("producer", ["plain", "app-module"])
def test_a_function_behind_another_backlog_starts_within_2_s(
    client: Client, settings: Settings, rdb: redis.Redis, start_worker, env, producer
) -> None:
    # Default settings on the worker and the producer: a queue per function.
    start_worker("tests.apps.flow_functions:app", pool="prefork", concurrency=2)
    if producer == "app-module":
        client = _app_module_producer(settings)
    bulk_queue = function_queue(client.resolve("free"))
    assert client.lookup(client.resolve("free")).queue == bulk_queue
    for n in range(BACKLOG):
        client.invoke_async("free", {"n": n})
    rids = [client.invoke_async("urgent", {"n": n}) for n in range(URGENT)]
    assert set(wait_terminal(rdb, rids, timeout=60)) == {"SUCCESS"}
    left = rdb.llen(bulk_queue)
    delays = []
    for rid in rids:
        record = client.store.records.record(rid)
        assert record is not None and record.started_at is not None
        delays.append(record.started_at - record.enqueued_at)
    ours = p95(delays)

    plain = _plain_celery(rdb, env) if producer == "plain" else None
    print(
        f"\nfairness, {BACKLOG} waiting of one function, {URGENT} of another sent after them "
        f"from the {producer} producer, 1 prefork worker x 2: p95 start delay {ours:.2f} s with "
        f"default settings ({left} of the backlog still queued then)"
        + (f"; plain Celery on one queue {plain:.2f} s" if plain is not None else "")
    )
    assert ours <= 2.0
    assert left > 0  # they started ahead of the backlog, not after it


def _plain_celery(rdb: redis.Redis, env: dict[str, str]) -> float:
    """The same run on plain Celery with one queue: the p95 delay of the urgent tasks."""
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.apps.plain_fairness",
            "worker",
            "--pool",
            "prefork",
            "-c",
            "2",
            "-Q",
            QUEUE,
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sender = make(env["EXECUTOR_BROKER_URL"])

    def send(task: str) -> None:
        sender.send_task(task, args=[time.time()], queue=QUEUE)

    try:
        send("plain.urgent")
        wait_for(lambda: rdb.llen(DELAYS) == 1, 30, "the plain worker")
        rdb.delete(DELAYS)
        for _ in range(BACKLOG):
            send("plain.bulk")
        for _ in range(URGENT):
            send("plain.urgent")
        wait_for(lambda: rdb.llen(DELAYS) == URGENT, 300, "the plain urgent tasks")
        return p95([float(d) for d in rdb.lrange(DELAYS, 0, -1)])
    finally:
        worker.kill()
        worker.wait(10)
