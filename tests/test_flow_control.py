"""Flow control on real workers and a real redis-server: the cap across a fleet, pause and
resume, the rate limit, a worker killed under a cap, aging out while held, and recursion.

Each test prints its figures (``pytest -s`` shows them). RUNNING records are sampled every
100 ms from the state store; the handlers also record the most runs in progress at once.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
import redis

from executor import Client
from executor.core.invocation import Status
from executor.ops.metrics import registry_for
from tests.apps.flow_functions import DONE, ENDED, NOW, PEAK, STARTED
from tests.support.fleet_services import wait_terminal
from tests.support.invocations import wait_status
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.flow_functions:app"
# A killed worker's runs are taken over once their runner's lease lapses (3 s here), and the
# messages it held come back after the visibility timeout (time limits below half of it).
LOST = {
    "EXECUTOR_RUNNER_LEASE": "3",
    "EXECUTOR_VISIBILITY_TIMEOUT": "10",
    "EXECUTOR_TIME_LIMIT": "4",
    "EXECUTOR_SOFT_TIME_LIMIT": "3",
}


class RunningSampler:
    """Counts the RUNNING records of one function every 100 ms, in a thread."""

    def __init__(self, client: Client, function: str) -> None:
        self.client = client
        self.urn = str(client.resolve(function))
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RunningSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        records = self.client.store.records
        while not self._stop.wait(0.1):
            self.samples.append(records.count(self.urn, Status.RUNNING, None, None))

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


def send(client: Client, function: str, n: int, **event: Any) -> list[str]:
    return [client.invoke_async(function, {"n": i, **event}) for i in range(n)]


@pytest.fixture
def workers(start_worker: Any) -> Any:
    def start(count: int, pool: str = "prefork", concurrency: int = 2, **env: str) -> list[Any]:
        return [
            start_worker(APP, pool=pool, concurrency=concurrency, env=env) for _ in range(count)
        ]

    return start


def test_a_cap_of_3_holds_across_4_prefork_workers(
    client: Client, rdb: redis.Redis, workers: Any
) -> None:
    workers(4)
    client.put_flow_config("capped", max_instances=3)
    with RunningSampler(client, "capped") as sampler:
        rids = send(client, "capped", 60, seconds=0.3)
        assert set(wait_terminal(rdb, rids, timeout=120)) == {"SUCCESS"}
    peak = int(rdb.hget(PEAK, "capped") or 0)
    gap = _slot_handoff(rdb, "capped", 3)
    print(
        f"\ncap 3, 4 workers x 2: sampled RUNNING max {sampler.peak} over "
        f"{len(sampler.samples)} samples; handlers in progress at once, max {peak}; a freed "
        f"slot's next start at most {gap:.2f} s after the run before it ended"
    )
    assert gap <= 1.0
    assert sampler.peak <= 3 and peak <= 3
    assert peak == 3  # the cap is used, not merely respected
    held, slots = client.store.flows.counts(str(client.resolve("capped")))
    assert (held, slots) == (0, 0)


def test_the_decorator_default_caps_a_function(
    client: Client, rdb: redis.Redis, workers: Any
) -> None:
    workers(1)
    rids = send(client, "single", 8, seconds=0.2)
    assert set(wait_terminal(rdb, rids, timeout=60)) == {"SUCCESS"}
    assert int(rdb.hget(PEAK, "single") or 0) == 1
    assert client.get_flow_config("single").flow.max_instances == 1


def test_pause_holds_100_waiting_and_resume_runs_them(
    client: Client, rdb: redis.Redis, workers: Any, settings: Any
) -> None:
    workers(1)
    client.pause("capped")
    rids = send(client, "capped", 100)
    urn = str(client.resolve("capped"))
    # The worker is up and has handled what came after them: nothing of "capped" ran.
    wait_status(client, client.invoke_async("free", {}), "SUCCESS", timeout=30)
    assert client.store.flows.counts(urn) == (100, 0)
    assert {client.get_invocation(r).status.value for r in rids} == {"WAIT"}
    assert rdb.zcard(f"{STARTED}:capped") == 0
    throttled = _sample(client, "executor_throttled_total", function=urn, reason="paused")
    assert throttled == 100
    resumed_at = time.time()
    flow = client.resume("capped").flow
    assert flow.max_instances == -1
    assert set(wait_terminal(rdb, rids, timeout=60)) == {"SUCCESS"}
    first = rdb.zrange(f"{STARTED}:capped", 0, 0, withscores=True)[0][1]
    print(
        f"\npause/resume: 100 held while paused, first start {first - resumed_at:.2f} s "
        f"after resume, all 100 SUCCESS"
    )
    assert int(rdb.hget(DONE, "capped") or 0) == 100


def test_pause_keeps_a_cap_for_resume(client: Client, workers: Any) -> None:
    workers(1, pool="solo", concurrency=1)
    client.put_flow_config("capped", max_instances=4)
    assert client.pause("capped").flow.max_instances == 0
    assert client.resume("capped").flow.max_instances == 4


def test_the_rate_limit_bounds_starts_fleet_wide(
    client: Client, rdb: redis.Redis, workers: Any
) -> None:
    window = float(os.environ.get("FLOW_RATE_WINDOW", "10"))
    rate = 20.0
    workers(2)
    client.put_flow_config("capped", rate_per_second=rate)
    rids = send(client, "capped", int(rate * window * 1.5))
    wait_for(lambda: rdb.zcard(f"{STARTED}:capped") > 0, 30, "the first start")
    first = rdb.zrange(f"{STARTED}:capped", 0, 0, withscores=True)[0][1]
    wait_for(lambda: time.time() > first + window + 0.5, window + 5, "the window")
    started = rdb.zcount(f"{STARTED}:capped", first, first + window)
    print(
        f"\nrate {rate:g}/s: {started} started in {window:g} s (want {rate * window:g} "
        f"within 10% plus one second's burst)"
    )
    assert rate * window * 0.9 <= started <= rate * window * 1.1 + rate
    client.put_flow_config("capped", rate_per_second=None)
    assert set(wait_terminal(rdb, rids, timeout=60)) == {"SUCCESS"}


def test_a_worker_killed_under_a_cap_of_2_loses_nothing(
    client: Client, rdb: redis.Redis, workers: Any
) -> None:
    first, _ = workers(2, **LOST)
    client.put_flow_config("capped", max_instances=2)
    with RunningSampler(client, "capped") as sampler:
        rids = send(client, "capped", 200, seconds=0.05)
        wait_for(lambda: int(rdb.hget(DONE, "capped") or 0) >= 50, 60, "50 done")
        first.kill()
        killed_at = time.time()
        final = wait_terminal(rdb, rids, timeout=120)
    done = time.time()
    print(
        f"\nkill -9 under cap 2: {final.count('SUCCESS')}/200 SUCCESS, sampled RUNNING max "
        f"{sampler.peak}, all ended {done - killed_at:.1f} s after the kill"
    )
    assert final.count("SUCCESS") == 200
    assert sampler.peak <= 2
    # A copy of a message held while its invocation ran elsewhere is dropped once taken.
    urn = str(client.resolve("capped"))
    wait_for(lambda: client.store.flows.counts(urn) == (0, 0), 10, "nothing held, no slot")


def test_a_killed_worker_prefetched_messages_run_elsewhere_within_the_lease(
    client: Client, rdb: redis.Redis, workers: Any
) -> None:
    # A visibility timeout far beyond the runner lease: only the gate can bring the messages
    # of the killed worker's buffer back in time, not the broker's restore.
    settings = {**LOST, "EXECUTOR_VISIBILITY_TIMEOUT": "120"}
    lease = float(settings["EXECUTOR_RUNNER_LEASE"])
    (first,) = workers(1, concurrency=1, **settings)
    client.put_flow_config("capped", max_instances=3)
    with RunningSampler(client, "capped") as sampler:
        rids = send(client, "capped", 3, seconds=1.5)
        # One runs, the two others wait in the worker's prefetch buffer, unacknowledged.
        wait_for(lambda: rdb.zcard(f"{STARTED}:capped") == 1, 30, "the first start")
        wait_for(lambda: rdb.hlen("unacked") == 3, 10, "three messages prefetched")
        assert client.store.flows.counts(str(client.resolve("capped"))) == (0, 3)
        first.kill()
        killed_at = time.time()
        # The killed run never left the handler's count of runs in progress.
        rdb.hdel(NOW, "capped")
        rdb.hdel(PEAK, "capped")
        workers(1, concurrency=3, **settings)
        ready_at = time.time()
        final = wait_terminal(rdb, rids, timeout=60)
    started = {rid: rdb.zscore(f"{STARTED}:capped", rid) or 0.0 for rid in rids}
    last_start = max(started.values())
    print(
        f"\nkill -9 with 2 prefetched under cap 3 (runner lease {lease:g} s): {final}, new worker "
        f"ready {ready_at - killed_at:.1f} s after the kill, last start "
        f"{last_start - killed_at:.1f} s after the kill, sampled RUNNING max {sampler.peak}"
    )
    assert final == ["SUCCESS"] * 3
    assert min(started.values()) > killed_at  # all three ran on the new worker
    # Each slot's lease ends at most one lease after the kill; the killed worker held the flow
    # pass, which the new one takes over within a second of its start (its lease lapsed with
    # the runner lease); the new worker, of concurrency 3, then starts all three at once.
    assert last_start <= max(killed_at + lease, ready_at + 1.0) + 2.0
    assert sampler.peak <= 3 and int(rdb.hget(PEAK, "capped") or 0) <= 3
    urn = str(client.resolve("capped"))
    wait_for(lambda: client.store.flows.counts(urn) == (0, 0), 10, "nothing held, no slot")


def test_one_held_past_its_max_age_ends_discard_once(
    client: Client, rdb: redis.Redis, workers: Any
) -> None:
    workers(1, pool="solo", concurrency=1)
    client.put_async_config("capped", {"max_async_event_age_in_seconds": 2})
    client.pause("capped")
    rids = send(client, "capped", 3)
    assert set(wait_terminal(rdb, rids, timeout=30)) == {"DISCARD"}
    for rid in rids:
        record = client.get_invocation(rid)
        assert record.error_code == "EventAgeExceeded"
        assert [h.status.value for h in record.history].count("DISCARD") == 1
    assert client.store.flows.counts(str(client.resolve("capped"))) == (0, 0)
    urn = str(client.resolve("capped"))
    assert (
        _sample(client, "executor_dropped_total", function=urn, condition="EventAgeExceeded") == 3
    )


@pytest.mark.parametrize(("loop", "depths"), [("Terminate", [0]), ("Allow", [0, 1, 2, 3, 4, 5])])
def test_recursive_loop_setting(
    client: Client, rdb: redis.Redis, workers: Any, loop: str, depths: list[int]
) -> None:
    workers(1, pool="solo", concurrency=1, EXECUTOR_MAX_CHAIN_DEPTH="3")
    client.put_flow_config("again", recursive_loop=loop)
    rid = client.invoke_async("again", {"left": 5})
    wait_status(client, rid, "SUCCESS", timeout=30)
    wait_for(lambda: rdb.llen("flow:depths") >= len(depths), 30, "the calls")
    wait_status(client, client.invoke_async("barrier", {}), "SUCCESS", timeout=30)
    assert [int(d) for d in rdb.lrange("flow:depths", 0, -1)] == depths


def _sample(client: Client, name: str, **labels: str) -> float:
    for family in registry_for(client.store, client.celery).collect():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}")


def _slot_handoff(rdb: redis.Redis, name: str, cap: int) -> float:
    """The longest wait from a run's end to the start that took its slot: the k-th start
    after the first ``cap`` needs the k-th end (the cap is full until then)."""
    starts = [t for _, t in rdb.zrange(f"{STARTED}:{name}", 0, -1, withscores=True)]
    ends = [t for _, t in rdb.zrange(f"{ENDED}:{name}", 0, -1, withscores=True)]
    return max(start - end for start, end in zip(starts[cap:], ends, strict=False))
