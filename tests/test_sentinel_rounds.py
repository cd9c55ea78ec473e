"""A worker after a Sentinel failover, several rounds (``SENTINEL_ROUNDS``, 4 by default):
one prefork worker on Celery's multi-sentinel broker URL, 300 invocations, the master killed
with SIGKILL after 100 and left down (``tests/test_redis_drills.py`` starts it again as a
replica; here each round has a group of its own, so the next one does not depend on it).

The worker is not supervised while it may come back by itself: every invocation must end,
run by it after the failover. A worker that cannot consume again must exit (the stall watch,
``EXECUTOR_STALL_WINDOW``); only then does the drill start it again, as a supervisor would,
and the invocations must run after that restart. A worker that stays up without consuming
fails the round, and so does one whose worker drops messages as having no record (they wait
for the reconciler to send them again). Each round prints how it recovered (``pytest -s``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from typing import Any

import pytest

from executor import Client
from executor.core.errors import Unavailable
from executor.state.connection import connect
from tests.support.core_scenarios import settings_of
from tests.support.drills import APP, FAILOVER_DRILL, report
from tests.support.fleet_services import TERMINAL, statuses
from tests.support.invocations import FAST
from tests.support.services import wait_for
from tests.support.topologies import SentinelGroup

pytestmark = pytest.mark.integration

ROUNDS = int(os.environ.get("SENTINEL_ROUNDS", "4"))
INVOCATIONS = 300
KILL_AT = 100
STALL_WINDOW = 15
# Past this, a worker still up beside invocations left waiting is stuck: the stall watch
# (window, warm shutdown grace, a look every window/6) would have ended it by then.
STUCK_AFTER = 60


def produce(client: Client, accepted: list[str], kill: Any) -> None:
    """Send every invocation, waiting through the failover: each one is accepted once."""
    for n in range(INVOCATIONS):
        if n == KILL_AT:
            kill()
        while True:
            try:
                accepted.append(client.invoke_async("tick", {"n": n, "seconds": 0.01}))
                break
            except Unavailable:
                time.sleep(0.2)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("round_", range(1, ROUNDS + 1))
def test_a_worker_consumes_again_after_a_sentinel_failover(round_, start_worker):
    group = SentinelGroup()
    try:
        env = {
            **group.env(explicit=False),
            **FAST,
            **FAILOVER_DRILL,
            "EXECUTOR_ORPHAN_GRACE": "3",
            "EXECUTOR_RECONCILE_INTERVAL": "1",
            "EXECUTOR_STALL_WINDOW": str(STALL_WINDOW),
        }
        run_round(round_, group, env, start_worker)
    finally:
        group.close()


def run_round(round_: int, group: SentinelGroup, env: dict[str, str], start_worker: Any) -> None:
    rdb = connect(settings_of(env))
    client = Client(settings_of(env))
    worker = start_worker(APP, pool="prefork", concurrency=2, env=env)
    accepted: list[str] = []
    killed: dict[str, float] = {}

    def kill() -> None:
        killed["port"] = group.kill_master()
        killed["at"] = time.monotonic()

    producer = threading.Thread(target=produce, args=(client, accepted, kill), daemon=True)
    producer.start()
    wait_for(lambda: "port" in killed, 120, f"the producer to reach {KILL_AT}")
    promoted = group.wait_failover(int(killed["port"]))
    producer.join(120)
    assert len(accepted) == INVOCATIONS

    exits: list[int | None] = []
    stuck_since = time.monotonic()
    while not set(statuses(rdb, accepted)) <= TERMINAL:
        code = worker.proc.poll()
        if code is not None:
            # The worker gave up consuming and exited: a supervisor starts it again.
            exits.append(code)
            worker = start_worker(APP, pool="prefork", concurrency=2, env=env)
            stuck_since = time.monotonic()
        elif time.monotonic() - stuck_since > STUCK_AFTER:
            waiting = Counter(statuses(rdb, accepted))
            log = worker.output()
            watch = re.findall(r".*(?:stall watch|received no message).*", log)
            pytest.fail(
                f"round {round_}: the worker stayed up and consumed nothing for "
                f"{STUCK_AFTER} s after the failover: {dict(waiting)}; stall watch: {watch}\n"
                f"{log[-8000:]}"
            )
        time.sleep(0.2)
    final = Counter(statuses(rdb, accepted))
    redriven = client.store.scans.stats().get("orphans_redriven", 0)
    skipped = len(re.findall(r"skipping missing message", worker.output()))
    report(
        f"sentinel failover round {round_}",
        accepted=len(accepted),
        finished=final["SUCCESS"],
        promoted_port=promoted,
        recovered="by itself" if not exits else "exit and restart",
        worker_exits=exits,
        after_failover_s=f"{time.monotonic() - killed['at']:.1f}",
        skipped_as_missing=skipped,
        redriven_lost_messages=redriven,
    )
    # Every invocation ended (none left WAIT). The two runs the worker's processes may have had
    # under way when the master died can lose their outcome with the master's last writes and
    # end otherwise; every other one succeeds.
    assert set(final) <= TERMINAL and sum(final.values()) == INVOCATIONS, final
    assert final["SUCCESS"] >= INVOCATIONS - 2, final
    # No message is dropped by a worker that finds no record for it (which left a run's worth
    # WAIT until the reconciler sent them again). A message the broker handed out just before
    # the master died, whose unacknowledged entry never reached the replica, is found again by
    # the reconciler: at most what the worker can have taken at once (2 processes, prefetch 4).
    assert skipped == 0, (redriven, skipped)
    assert redriven <= 8, (redriven, skipped)
