"""A Redis that fills up, on a private ``redis-server`` with ``maxmemory`` and ``noeviction``.

New invocations are refused before it is full, through every way in (HTTP 503 with the error
body, one line and exit status 1 from the CLI, ``Unavailable`` from Python), and a refused call
leaves nothing behind. The drill fills a small Redis with producers while workers run, then
raises ``maxmemory``: every accepted invocation ends, with its one event, and the workers stay
up (the test restarts any that exits non-zero, as a supervisor would, and reports it).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis

from executor import Client
from executor.core.errors import Unavailable
from executor.state.keys import record_key
from tests.support.api_server import AUTH, CREDENTIALS, ApiServer, refused
from tests.support.core_scenarios import settings_of
from tests.support.drills import APP, DRILL, report
from tests.support.fleet_services import TERMINAL, run_executor, statuses
from tests.support.invocations import FAST, queued
from tests.support.services import RedisServer, Worker, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    started = RedisServer(extra=("--maxmemory-policy", "noeviction")).start()
    yield started
    started.close()


@pytest.fixture
def env(server: RedisServer) -> dict[str, str]:
    server.client.config_set("maxmemory", "0")
    server.client.flushall()
    return {"EXECUTOR_BROKER_URL": server.url, **FAST, **CREDENTIALS}


@pytest.fixture
def rdb(server: RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, decode_responses=True)


def fill_to(rdb: redis.Redis, share: float) -> None:
    """Set maxmemory so that what Redis holds now, 8 MiB of other data included, is ``share``
    of it."""
    pipe = rdb.pipeline(transaction=False)
    for n in range(1024):
        pipe.set(f"other:data:{n}", "x" * 8192)
    pipe.execute()
    readings = [0, 1]

    def settled() -> bool:  # the buffers of the writes above are freed a moment later
        readings.append(int(rdb.info("memory")["used_memory"]))
        return abs(readings[-1] - readings[-2]) < readings[-1] / 100

    wait_for(settled, 10, "used memory to settle", interval=0.2)
    used = readings[-1]
    rdb.config_set("maxmemory", str(int(used / share)))


def test_every_way_in_is_refused_past_the_threshold_and_leaves_nothing(env, rdb):
    from tests.apps.functions import app

    # This process's functions are in the default project; the API's are in the token's.
    client = Client(settings_of({**env, "EXECUTOR_PROJECT_ID": "default"}))
    client.store.catalogue.publish(app.registry.catalogue())
    api = ApiServer(env).start()
    try:
        fill_to(rdb, 0.95)
        before = (sorted(rdb.scan_iter("*")), queued(rdb))

        answer = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, json={"a": 1})
        message = refused(answer, 503, "FSS.0500", "nearly full", "nothing was accepted")
        assert re.search(r"\(9\d% of its maxmemory of \d+\.\d MiB;", message), message

        done = run_executor(
            "invoke", "hello", "--payload", '{"a": 1}', "--app", "tests.apps.functions:app", env=env
        )
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("error FSS.0500: the state store is nearly full")

        with pytest.raises(Unavailable, match="nearly full"):
            client.invoke_async("hello", {"a": 1}, request_id="chosen", delay=5)
        assert (sorted(rdb.scan_iter("*")), queued(rdb)) == before

        # Room again: the very next call is accepted (a reading this close is not cached).
        rdb.config_set("maxmemory", "0")
        answer = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, json={"a": 1})
        assert answer.status_code == 202, answer.text
    finally:
        api.stop()


PRODUCERS = 4
PAD = "x" * 1024
HEADROOM = 8 * 2**20  # maxmemory: what the empty server uses, and this
# Every invocation here ends with an event and a FunctionGraph delivery, which need about as
# much memory again as the invocation itself: a store that holds little else needs this share.
ROOMY = "0.5"


class Producers:
    """Threads invoking ``tick`` until told to stop; they keep what was accepted and refused."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.accepted: list[str] = []
        self.refused: Counter[str] = Counter()
        self.first_refusal: float | None = None
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(PRODUCERS)]

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                self.accepted.append(
                    self.client.invoke_async("tick", {"n": n, "seconds": 0.01, "pad": PAD})
                )
            except Unavailable as exc:
                self.first_refusal = self.first_refusal or time.monotonic()
                self.refused[exc.message.split(" (")[0]] += 1
                time.sleep(0.02)  # a producer told to wait backs off a little

    def __enter__(self) -> Producers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


class Peak(threading.Thread):
    """Samples the server's used memory, for the highest share of maxmemory it reached."""

    def __init__(self, rdb: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.rdb, self.share, self.done = rdb, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            info = self.rdb.info("memory")
            if int(info["maxmemory"]):
                self.share = max(self.share, int(info["used_memory"]) / int(info["maxmemory"]))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fraction", ["0.9", ROOMY])
def test_drill_producers_past_the_threshold_then_memory_raised(
    fraction, server, env, rdb, start_worker
):

    from tests.apps.fleet_functions import DONE, TALLIED

    env = {
        **env,
        **DRILL,
        "EXECUTOR_ORPHAN_GRACE": "3",
        "EXECUTOR_RECONCILE_INTERVAL": "1",
        "EXECUTOR_ADMISSION_MEMORY_FRACTION": fraction,
    }
    client = Client(settings_of(env))
    workers = [start_worker(APP, pool="prefork", concurrency=2, env=env) for _ in range(2)]
    tally = {"destination": "FunctionGraph", "param": {"func_urn": str(client.resolve("tally"))}}
    client.put_async_config(
        "tick", {"destination_config": {"on_success": tally, "on_failure": tally}}
    )
    limit = int(rdb.info("memory")["used_memory"]) + HEADROOM
    rdb.config_set("maxmemory", str(limit))
    peak = Peak(rdb)
    peak.start()
    exits: list[int] = []
    restarted: list[Worker] = []

    def supervise() -> None:
        """Start a worker again when it exits, as systemd's Restart=always would."""
        for n, worker in enumerate(workers):
            if not worker.alive():
                exits.append(int(worker.proc.returncode))  # type: ignore[union-attr]
                workers[n] = Worker(APP, env, pool="prefork", concurrency=2).start(wait=False)
                restarted.append(workers[n])

    started = time.monotonic()
    try:
        with Producers(client) as producers:
            wait_for(lambda: producers.first_refusal is not None, 120, "the first refusal")
            accepted_at_refusal = len(producers.accepted)
            refused_at = time.monotonic()
            while time.monotonic() < refused_at + 3:  # producers keep trying past the threshold
                supervise()
                time.sleep(0.1)
            rdb.config_set("maxmemory", str(limit * 4))
            raised_at, accepted_at_raise = time.monotonic(), len(producers.accepted)
            wait_for(lambda: len(producers.accepted) > accepted_at_raise + 100, 60, "new work")
        accepted = list(producers.accepted)

        def finished() -> bool:
            supervise()
            done = set(statuses(rdb, accepted)) <= TERMINAL
            return done and rdb.hlen(TALLIED) >= len(accepted)

        wait_for(finished, 180, "every accepted invocation to end with its event", interval=0.5)
        alive = all(w.alive() for w in workers)
        oom_lines = sum(w.output().count("OutOfMemoryError") for w in workers)
    finally:
        peak.done.set()
        for worker in restarted:
            worker.kill()
    final = Counter(statuses(rdb, accepted))
    failures = Counter(
        rdb.hget(record_key(rid), "error_message").split(":")[0]
        for rid, status in zip(accepted, statuses(rdb, accepted), strict=True)
        if status != "SUCCESS"
    )
    events = Counter(int(n) for n in rdb.hvals(TALLIED))
    report(
        f"full Redis, EXECUTOR_ADMISSION_MEMORY_FRACTION={fraction}",
        maxmemory_mib=f"{limit / 2**20:.1f}",
        producers=PRODUCERS,
        accepted=len(accepted),
        accepted_before_first_refusal=accepted_at_refusal,
        accepted_after_raise=len(accepted) - accepted_at_raise,
        refused=sum(producers.refused.values()),
        refusal_messages=dict(producers.refused),
        first_refusal_after_s=f"{refused_at - started:.1f}",
        peak_share_of_maxmemory=f"{peak.share:.2f}",
        statuses=dict(final),
        failures=dict(failures),
        lost=sum(n for status, n in final.items() if status not in TERMINAL),
        events_per_invocation=dict(events),
        handlers_completed=rdb.hlen(DONE),
        all_done_after_raise_s=f"{time.monotonic() - raised_at:.1f}",
        worker_exits=exits,
        worker_oom_errors=oom_lines,
    )
    assert sum(final.values()) == len(accepted) and set(final) <= TERMINAL, final
    assert set(rdb.hkeys(TALLIED)) >= set(accepted) and events == {1: rdb.hlen(TALLIED)}
    assert all(code != 0 for code in exits), exits
    assert alive
    if fraction == ROOMY:
        # A threshold that leaves room for what the accepted work adds as it ends (its events
        # and their deliveries): Redis never fills, and no worker stops.
        assert peak.share < 1 and exits == [], (peak.share, exits)
