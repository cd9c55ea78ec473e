"""Failover drills on real Redis topologies. Each prints its figures (``pytest -s`` shows them).

Sentinel: 1 master, 1 replica, 3 sentinels hold both the broker and the state store, named by
Celery's ``sentinel://...;sentinel://...`` broker URL alone; 500
invocations are produced while the master is killed with SIGKILL mid-way, and the killed server
is started again once a replica took over (as its supervisor would), joining as a replica.
Accepted means the producer got a request id back; lost means such an id later had no record
or never ended. With ``EXECUTOR_REDIS_WAIT_REPLICAS=1`` new invocations are refused while the
promoted master has no replica yet.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
import redis

from executor import Client
from executor.core.errors import Unavailable
from executor.state.connection import connect
from tests.apps.fleet_functions import DONE
from tests.support.core_scenarios import settings_of
from tests.support.drills import APP, FAILOVER_DRILL, report
from tests.support.fleet_services import TERMINAL, statuses
from tests.support.invocations import FAST
from tests.support.services import wait_for
from tests.support.topologies import SentinelGroup

pytestmark = pytest.mark.integration

PRODUCED = 500
KILL_AT = 150


def produce(
    client: Client, accepted: list[str], refused: Counter[str], killed: Any, clock: list[float]
) -> None:
    clock.append(time.monotonic())
    for n in range(PRODUCED):
        if n == KILL_AT:
            clock.append(time.monotonic())
            killed()
        try:
            accepted.append(client.invoke_async("tick", {"n": n, "seconds": 0.01}))
        except Unavailable as exc:
            refused[exc.message.split(" (")[0]] += 1


@pytest.mark.timeout(300)
@pytest.mark.parametrize("wait_replicas", [0, 1])
def test_drill_sentinel_master_sigkilled_mid_run(wait_replicas, start_worker):
    group = SentinelGroup()
    try:
        env = {
            # Celery's multi-sentinel URL alone: the mode and the sentinels come from it.
            **group.env(explicit=False),
            **FAST,
            **FAILOVER_DRILL,
            "EXECUTOR_ORPHAN_GRACE": "3",
            "EXECUTOR_RECONCILE_INTERVAL": "1",
            "EXECUTOR_REDIS_WAIT_REPLICAS": str(wait_replicas),
        }
        run_sentinel_failover(group, env, start_worker, wait_replicas)
    finally:
        group.close()


def run_sentinel_failover(
    group: SentinelGroup, env: dict[str, str], start_worker: Any, wait_replicas: int
) -> None:
    rdb: redis.Redis = connect(settings_of(env))
    client = Client(settings_of(env))
    worker = start_worker(APP, pool="prefork", concurrency=2, env=env)
    accepted: list[str] = []
    refused: Counter[str] = Counter()
    failover: dict[str, float] = {}

    def kill() -> None:
        failover["port"] = group.kill_master()
        failover["at"] = time.monotonic()

    started = time.monotonic()
    clock: list[float] = []
    producer = threading.Thread(
        target=produce, args=(client, accepted, refused, kill, clock), daemon=True
    )
    producer.start()
    promoted = group.wait_failover(int(wait_for_key(failover, "port")))
    promoted_after = time.monotonic() - failover["at"]
    rejoined = group.restart(int(failover["port"]))
    rejoined_after = time.monotonic() - failover["at"]
    producer.join(180)
    produced_in = time.monotonic() - started

    # Act as the worker's supervisor: a worker that dies on the lost broker is started again.
    worker_restarts = 0
    deadline = time.monotonic() + 120
    while not set(statuses(rdb, accepted)) <= TERMINAL and time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            worker_restarts += 1
            worker = start_worker(APP, pool="prefork", concurrency=2, env=env)
        time.sleep(0.2)
    final = Counter(statuses(rdb, accepted))
    runs = Counter({rid: int(n) for rid, n in rdb.hgetall(DONE).items()})
    lost = sum(n for status, n in final.items() if status not in TERMINAL)
    report(
        f"sentinel failover, EXECUTOR_REDIS_WAIT_REPLICAS={wait_replicas}",
        produced=PRODUCED,
        accepted=len(accepted),
        refused=sum(refused.values()),
        refusal_messages=dict(refused),
        finished=final["SUCCESS"],
        lost=lost,
        run_twice=sum(1 for n in runs.values() if n > 1),
        promoted_port=promoted,
        promoted_after_s=f"{promoted_after:.1f}",
        old_master_rejoined_after_s=f"{rejoined_after:.1f}" if rejoined else "not in 60 s",
        ms_per_invoke_before_kill=f"{(clock[1] - clock[0]) * 1000 / KILL_AT:.2f}",
        produce_seconds=f"{produced_in:.1f}",
        redriven_lost_messages=client.store.scans.stats().get("orphans_redriven", 0),
        worker_restarts=worker_restarts,
    )
    assert len(accepted) + sum(refused.values()) == PRODUCED
    assert lost == 0, final
    if wait_replicas:
        # Every id returned was on the replica before it was returned: none may be missing.
        assert final == {"SUCCESS": len(accepted)}, final


def wait_for_key(found: dict[str, float], key: str) -> float:
    wait_for(lambda: key in found, 120, f"the producer to reach {KILL_AT}")
    return found[key]
