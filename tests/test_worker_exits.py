"""A worker that cannot go on exits non-zero with the reason, so its supervisor starts it again:
when its start-up hook fails, when the broker refuses what it must write, and when its
consumer takes nothing from queues that hold messages."""

from __future__ import annotations

import pytest

from executor import Client
from executor.core.invocation import Status
from tests.support.fleet_services import run_executor
from tests.support.invocations import wait_status
from tests.support.services import free_port, wait_for

pytestmark = pytest.mark.integration

# Short enough that a message a dead worker held comes back within the test.
HELD = {
    "EXECUTOR_VISIBILITY_TIMEOUT": "10",
    "EXECUTOR_TIME_LIMIT": "4",
    "EXECUTOR_SOFT_TIME_LIMIT": "3",
}


def test_a_worker_whose_start_up_fails_exits_1_with_one_line(env):
    # The broker answers; the state store the catalogue goes to does not.
    gone = {**env, "EXECUTOR_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = run_executor(
        "worker", "--app", "tests.apps.functions:app", "--pool", "solo", env=gone, timeout=60
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if "worker stopping" in line]
    assert len(lines) == 1, done.stderr
    assert "its start-up failed: Unavailable: the state store cannot be reached" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_broker_that_refuses_an_acknowledgement_stops_the_worker_with_status_1(
    pool, env, rdb, client, start_worker
):
    env = {**env, **HELD}
    worker = start_worker(pool=pool, env=env)
    client = Client(client.settings.model_copy(update={"visibility_timeout": 10}))
    request_id = client.invoke_async("slow", {"seconds": 1.5})
    wait_status(client, request_id, "RUNNING")
    # Redis is full while the handler runs: its outcome and the acknowledgement are refused.
    rdb.config_set("maxmemory-policy", "noeviction")
    rdb.config_set("maxmemory", "1")
    try:
        wait_for(lambda: not worker.alive(), 30, "the worker to stop")
    finally:
        rdb.config_set("maxmemory", "0")
    assert worker.proc is not None and worker.proc.returncode == 1, worker.output()[-3000:]
    assert "OutOfMemoryError" in worker.output()

    # Its supervisor starts it again; the message it held comes back and the run ends.
    start_worker(pool=pool, env=env)
    record = wait_status(client, request_id, "SUCCESS", "FAIL", timeout=60)
    assert record.status is Status.SUCCESS, record
    assert int(rdb.get(f"test:runs:{request_id}") or 0) >= 1


@pytest.mark.parametrize(
    ("pool", "app"),
    [
        ("prefork", "tests.apps.stuck_functions:app"),
        ("solo", "tests.apps.stuck_functions:app"),
        # Stuck on its way back from a lost connection: its task consumer lists no queues.
        ("prefork", "tests.apps.stuck_midway_functions:app"),
    ],
)
def test_a_worker_whose_consumer_takes_nothing_from_a_backlog_stops_with_status_1(
    pool, app, env, client, start_worker
):
    stuck = start_worker(app, pool=pool, env={**env, "EXECUTOR_STALL_WINDOW": "2"})
    request_ids = [client.invoke_async("hello", {"name": str(n)}) for n in range(3)]
    wait_for(lambda: not stuck.alive(), 30, "the stuck worker to stop")
    output = stuck.output()
    assert stuck.proc is not None and stuck.proc.returncode == 1, output[-3000:]
    lines = [line for line in output.splitlines() if "worker stopping" in line]
    assert len(lines) == 1, output[-3000:]
    assert "it received no message for 2 s while its queues held 3" in lines[0]

    # Its supervisor starts it again, and what waited runs.
    start_worker(pool=pool, env=env)
    for request_id in request_ids:
        assert wait_status(client, request_id, "SUCCESS").status is Status.SUCCESS
