"""Memory of a worker whose invocations fail: a soak with one message in ten failing, run by
the engine and by a plain Celery task raising in the same kind of worker, side by side.

Two prefork workers (one pool process each) start from the same app: one consumes the engine's
invocations, the other a plain Celery task's queue. Both get the same workload; the growth of
each worker's resident memory (main and pool process) from after a warm-up to the end is
printed. The engine's worker may grow at most twice what plain Celery's does, and in fact no
more than it (with 4 MiB of allowance for the resolution of a reading). ``SOAK_INVOCATIONS`` sets the number of messages
of each (2,000 by default; 20,000 for the full soak)::

    SOAK_INVOCATIONS=20000 .venv/bin/pytest -s -m integration tests/test_memory_soak.py
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
import redis
from celery import Celery

from executor import Client, Settings
from executor.core.constants import DELIVERY_QUEUE, INVOCATION_QUEUE
from tests.apps.memory_functions import PLAIN_QUEUE, RAN
from tests.support.fleet_services import tree_rss
from tests.support.services import Worker, wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.memory_functions:app"
INVOCATIONS = int(os.environ.get("SOAK_INVOCATIONS", "2000"))
WARM_UP = 200
FAILING = 10  # one message in ten fails
PAYLOAD = 256
# Readings of resident memory move by a few MiB on their own (arenas, caches filled once).
RESOLUTION = 4 * 2**20


def events(start: int, count: int) -> list[dict[str, object]]:
    return [
        {"n": n, "fail": n % FAILING == 0, "data": "x" * PAYLOAD}
        for n in range(start, start + count)
    ]


class Side:
    """One kind of task: how to send its messages, and the worker that runs them."""

    def __init__(self, kind: str, worker: Worker, send: Callable[[dict[str, object]], None]):
        self.kind, self.worker, self.send = kind, worker, send
        self.sent = 0

    def run(self, rdb: redis.Redis, batch: list[dict[str, object]], timeout: float) -> None:
        for event in batch:
            self.send(event)
        self.sent += len(batch)

        def ran() -> bool:
            return int(rdb.hget(RAN, self.kind) or 0) >= self.sent and rdb.hlen("unacked") == 0

        wait_for(ran, timeout, f"{self.sent} {self.kind} messages to run", interval=0.2)

    def rss(self) -> int:
        assert self.worker.proc is not None
        return tree_rss(self.worker.proc.pid)


@pytest.mark.timeout(600 + INVOCATIONS // 10)
def test_failing_invocations_grow_a_worker_at_most_twice_what_plain_celery_does(
    env, rdb, start_worker
):
    settings = Settings(**{k.removeprefix("EXECUTOR_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    client = Client(settings)
    producer = Celery("soak-producer", broker=env["EXECUTOR_BROKER_URL"], set_as_current=False)
    common = {"pool": "prefork", "concurrency": 1}
    engine = Side(
        "engine",
        # One shared queue, as plain Celery's side has.
        start_worker(
            APP,
            queues=f"{INVOCATION_QUEUE},{DELIVERY_QUEUE}",
            env={"EXECUTOR_FAIR_QUEUES": "0"},
            **common,
        ),
        lambda event: client.invoke_async("soak", event) and None,
    )
    plain = Side(
        "plain",
        start_worker(APP, queues=PLAIN_QUEUE, **common),
        lambda event: producer.send_task("soak.plain", args=[event], queue=PLAIN_QUEUE) and None,
    )
    timeout = 120 + INVOCATIONS / 20
    figures: dict[str, dict[str, float]] = {}
    for side in (engine, plain):
        side.run(rdb, events(0, WARM_UP), timeout)
        before = side.rss()
        started = time.monotonic()
        side.run(rdb, events(WARM_UP, INVOCATIONS), timeout)
        after = side.rss()
        figures[side.kind] = {
            "before_mib": before / 2**20,
            "after_mib": after / 2**20,
            "growth_mib": (after - before) / 2**20,
            "seconds": time.monotonic() - started,
        }
    failed = INVOCATIONS // FAILING
    print(
        f"\n[memory soak] {INVOCATIONS} messages each, {failed} failing, one pool process: "
        + "; ".join(
            f"{kind} {f['before_mib']:.1f} -> {f['after_mib']:.1f} MiB "
            f"({f['growth_mib']:+.1f} MiB, {f['seconds']:.0f} s)"
            for kind, f in figures.items()
        )
    )
    growth = {kind: f["growth_mib"] * 2**20 for kind, f in figures.items()}
    assert growth["engine"] <= 2 * max(growth["plain"], 0) + RESOLUTION, figures
    # A failure of the engine leaves nothing behind (see ``outcome.release``), where plain
    # Celery's keeps its traceback's frames until a full collection: no more growth than it.
    assert growth["engine"] <= max(growth["plain"], 0) + RESOLUTION, figures
