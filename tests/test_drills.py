"""Reliability drills on real processes: a worker killed, Redis restarted, a deep backlog, a
worker stopped mid-run. Each prints its figures (``pytest -s`` shows them).

The drills shorten the visibility timeout to 10 s (time limits below half of it, as the
settings require) and the outbox grace to 3 s, so that messages a dead worker held, and events
it never handed on, come back within the drill.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from executor import Client, Settings
from executor.core.errors import Unavailable
from tests.apps.fleet_functions import AGENCIES, DONE, STARTED
from tests.support.drills import APP, DRILL, GRACE, VISIBILITY, not_succeeded, report
from tests.support.fleet_services import TERMINAL, RssSampler, statuses, wait_terminal
from tests.support.invocations import UNACKED, drained, queued
from tests.support.services import RedisServer, stat, wait_for

pytestmark = pytest.mark.integration


def client_for(env: dict[str, str]) -> Client:
    values = {k.removeprefix("EXECUTOR_").lower(): v for k, v in env.items()}
    return Client(Settings(**values))  # type: ignore[arg-type]


def counts(rdb: redis.Redis, key: str) -> Counter[str]:
    return Counter({rid: int(n) for rid, n in rdb.hgetall(key).items()})


@pytest.fixture
def drill_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    agencies = tmp_path / "agencies.toml"
    agencies.write_text(AGENCIES)
    return {**env, **DRILL, "EXECUTOR_AGENCY_FILE": str(agencies)}


def test_drill_1_kill_9_a_prefork_worker_with_300_in_flight(drill_env, rdb, start_worker):
    client = client_for(drill_env)
    first = start_worker(APP, pool="prefork", concurrency=2, env=drill_env)
    stream = {"destination": "DIS", "param": json.dumps({"stream_name": "drill-1"})}
    client.put_async_config("emit", {"destination_config": {"on_success": stream}})

    ids = [client.invoke_async("emit", {"n": n, "seconds": 0.02}) for n in range(300)]
    wait_for(lambda: rdb.hlen(DONE) >= 60, 60, "a fifth of the invocations to finish")
    first.kill()
    done_at_kill = rdb.hlen(DONE)
    held_at_kill = rdb.hlen(UNACKED)
    running_at_kill = sum(int(n) for n in rdb.hvals(STARTED)) - sum(int(n) for n in rdb.hvals(DONE))
    # What the dead worker held comes back once the visibility timeout has passed.
    time.sleep(VISIBILITY + 1)
    started = time.monotonic()
    start_worker(APP, pool="prefork", concurrency=2, env=drill_env)

    statuses = wait_terminal(rdb, ids, 120)
    wait_for(lambda: drained(rdb) and rdb.xlen("drill-1") >= len(ids), 60, "the deliveries")
    recovery = time.monotonic() - started
    entries = Counter(fields["id"] for _, fields in rdb.xrange("drill-1"))
    completions = counts(rdb, DONE)
    starts = counts(rdb, STARTED)
    report(
        "drill 1: kill -9",
        invocations=len(ids),
        done_before_kill=done_at_kill,
        unacked_at_kill=held_at_kill,
        interrupted_mid_run=running_at_kill,
        started_twice=sum(starts.values()) - len(ids),
        completed_twice=sum(completions.values()) - len(ids),
        stream_entries=sum(entries.values()),
        repeated_deliveries=stat(rdb, "delivery|DIS|delivered") - len(ids),
        recovery_seconds=f"{recovery:.1f}",
    )
    assert statuses == ["SUCCESS"] * len(ids)
    assert entries == Counter({f"{rid}:success": 1 for rid in ids})
    assert set(completions) == set(ids)


def test_drill_2_restart_redis_with_aof_mid_run(env, start_worker):
    server = RedisServer(appendonly=True).start()
    try:
        drill_env = {
            **env,
            **DRILL,
            "EXECUTOR_BROKER_URL": server.url,
            "EXECUTOR_ORPHAN_GRACE": "3",
        }
        run_redis_restart(server, drill_env, start_worker)
    finally:
        server.close()


def run_redis_restart(server: RedisServer, drill_env: dict[str, str], start_worker: Any) -> None:
    rdb = redis.Redis.from_url(server.url, decode_responses=True)
    client = client_for(drill_env)
    worker = start_worker(APP, pool="prefork", concurrency=2, env=drill_env)
    accepted: list[str] = []
    refusals: Counter[str] = Counter()
    stop = threading.Event()

    def produce() -> None:
        n = 0
        while not stop.is_set() and len(accepted) < 400:
            try:
                accepted.append(client.invoke_async("tick", {"n": n, "seconds": 0.01}))
                n += 1
            except Unavailable as exc:
                refusals[exc.message.split(" (")[0]] += 1
                time.sleep(0.1)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: len(accepted) >= 100, 60, "100 accepted invocations")
        server.stop()
        down_at = len(accepted)
        time.sleep(1)
        server.start()
        restarted = time.monotonic()
        producer.join(120)
    finally:
        stop.set()
        producer.join(10)

    # Act as the worker's supervisor (systemd, Kubernetes): Celery 5.7 sometimes dies on the
    # lost connection (kombu's channel close after a broker restart), and is started again.
    worker_restarts = 0
    deadline = time.monotonic() + 90
    while not set(statuses(rdb, accepted)) <= TERMINAL and time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            worker_restarts += 1
            worker = start_worker(APP, pool="prefork", concurrency=2, env=drill_env)
        time.sleep(0.2)
    final = statuses(rdb, accepted)
    recovery = time.monotonic() - restarted
    completions = counts(rdb, DONE)
    report(
        "drill 2: redis restart",
        accepted=len(accepted),
        accepted_before_stop=down_at,
        refused_while_down=sum(refusals.values()),
        refusal_messages=dict(refusals),
        redriven_lost_messages=stat(rdb, "orphans_redriven"),
        worker_restarts=worker_restarts,
        completed_twice=sum(completions.values()) - len(completions),
        all_terminal_seconds_after_restart=f"{recovery:.1f}",
    )
    failed = not_succeeded(rdb, accepted, final)
    assert not failed, failed
    assert set(accepted) <= set(completions)


@pytest.mark.timeout(300)
def test_drill_3_a_backlog_of_20000_then_workers(env, rdb, start_worker):
    # A worker on another queue publishes the catalogue; nothing consumes the backlog yet.
    start_worker(APP, queues="heavy", env=DRILL).stop()
    total, producers = 20_000, 4
    ids: list[list[str]] = [[] for _ in range(producers)]

    def produce(slot: int) -> None:
        own = client_for({**env, **DRILL})
        ids[slot] = [own.invoke_async("tick", {"n": n}) for n in range(slot, total, producers)]

    started = time.monotonic()
    threads = [threading.Thread(target=produce, args=(slot,)) for slot in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queued_in = time.monotonic() - started
    backlog = queued(rdb)

    with RssSampler() as memory:
        started = time.monotonic()
        for _ in range(2):
            worker = start_worker(APP, pool="prefork", concurrency=2, env=DRILL)
            memory.watch(worker.proc.pid)  # type: ignore[union-attr]
        baseline = memory.sample()
        everything = [rid for chunk in ids for rid in chunk]
        statuses_ = wait_terminal(rdb, everything, 240)
        drained_in = time.monotonic() - started
    report(
        "drill 3: backlog",
        invocations=len(everything),
        queued_seconds=f"{queued_in:.1f}",
        backlog_before_workers=backlog,
        workers="2 prefork x 2 processes",
        processed_seconds=f"{drained_in:.1f}",
        per_second=f"{len(everything) / drained_in:.0f}",
        rss_at_start_mib=f"{baseline / 2**20:.0f}",
        peak_rss_mib=f"{memory.peak / 2**20:.0f}",
    )
    assert backlog == total
    assert Counter(statuses_) == {"SUCCESS": total}
    assert memory.peak < 1024 * 2**20


def test_drill_4_sigterm_one_of_two_workers_on_different_queues(env, rdb, start_worker):
    client = client_for({**env, **DRILL})
    start_worker(APP, queues="invocations,deliveries", env=DRILL)
    heavy = start_worker(APP, pool="prefork", concurrency=2, queues="heavy", env=DRILL)
    # Each heavy invocation hands its event to tick, which the other worker runs.
    client.put_async_config(
        "crunch",
        {
            "destination_config": {
                "on_success": {
                    "destination": "FunctionGraph",
                    "param": {"func_urn": str(client.resolve("tick"))},
                }
            }
        },
    )
    ids = [client.invoke_async("crunch", {"n": n, "seconds": 0.3}) for n in range(60)]
    wait_for(
        lambda: sum(n is not None for n in rdb.hmget(DONE, ids)) >= 15,
        60,
        "a quarter of the heavy invocations",
    )
    seen: list[str] = []

    def one_running() -> bool:
        seen[:] = statuses(rdb, ids)
        return "RUNNING" in seen

    wait_for(one_running, 10, "a heavy invocation to be running")
    running = seen.count("RUNNING")
    asked = time.monotonic()
    # As Kubernetes does: SIGTERM to the main process, SIGKILL if it outlasts its grace period.
    heavy.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    try:
        heavy.proc.wait(GRACE)  # type: ignore[union-attr]
        escalated = False
    except subprocess.TimeoutExpired:
        heavy.kill()
        escalated = True
    shutdown = time.monotonic() - asked
    restored = sum(int(n) for n in re.findall(r"Restoring (\d+) unacknowledged", heavy.output()))
    unacked_after, queued_after = rdb.hlen(UNACKED), rdb.llen("heavy")
    unfinished_after = sum(1 for status in statuses(rdb, ids) if status == "RUNNING")

    start_worker(APP, pool="prefork", concurrency=2, queues="heavy", env=DRILL)
    assert Counter(wait_terminal(rdb, ids, 90)) == {"SUCCESS": len(ids)}
    wait_for(lambda: rdb.hlen(DONE) == 2 * len(ids), 60, "the destinations' ticks")
    completions, starts = counts(rdb, DONE), counts(rdb, STARTED)
    report(
        "drill 4: SIGTERM",
        heavy_invocations=len(ids),
        running_at_sigterm=running,
        warm_shutdown_seconds=f"{shutdown:.1f}",
        escalated_to_sigkill=escalated,
        restored_to_queue_at_shutdown=restored,
        left_running=unfinished_after,
        queued_after_shutdown=queued_after,
        started_twice=sum(starts.values()) - len(starts),
        completed_twice=sum(completions.values()) - len(completions),
    )
    assert unfinished_after == 0
    if not escalated:
        assert heavy.proc.returncode == 0  # type: ignore[union-attr]
        assert unacked_after == 0
        assert restored > 0
    assert set(completions.values()) == {1}
    assert len(completions) == 2 * len(ids)
