from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fleet_services import run_executor
from services import RedisServer, Worker, wait_for

from executor import Client, Settings
from executor.core.constants import DELIVERY_QUEUE, INVOCATION_QUEUE

pytest_plugins = ["destination_services", "api_server", "browser_services"]

EVENTS_KEY = "test:events"
# Where kombu's Redis transport keeps the messages a worker took and has not acknowledged yet.
UNACKED = "unacked"

FAST = {
    "EXECUTOR_RETRY_BACKOFF_BASE": "0.05",
    "EXECUTOR_RETRY_BACKOFF_MAX": "0.4",
    "EXECUTOR_RECONCILE_INTERVAL": "0.5",
    "EXECUTOR_RECONCILE_GRACE": "0.5",
    "EXECUTOR_CONFIG_CACHE_TTL": "0.2",
}


# Fixtures that start a process; a test that uses one belongs to the integration layer.
PROCESS_FIXTURES = frozenset({"redis_server", "start_worker", "moto", "api"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        started = PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if started and item.get_closest_marker("integration") is None:
            raise pytest.UsageError(
                f"{item.nodeid} starts a process ({', '.join(sorted(started))}) but is not "
                "marked integration: add 'pytestmark = pytest.mark.integration' to its file"
            )


@pytest.fixture(autouse=True)
def _no_process_in_unit_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast layer starts no process: refuse one at the call, naming the test."""
    if request.node.get_closest_marker("integration") is not None:
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError(
            f"{request.node.nodeid} started a process; mark it integration or use fakeredis"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(os, "posix_spawn", refuse, raising=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def env(redis_server: RedisServer) -> dict[str, str]:
    """Settings of this test, as environment variables for worker subprocesses."""
    redis.Redis.from_url(redis_server.url).flushall()
    return {"EXECUTOR_BROKER_URL": redis_server.url, **FAST}


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings(**{k.removeprefix("EXECUTOR_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]


@pytest.fixture
def client(settings: Settings) -> Client:
    return Client(settings)


@pytest.fixture
def rdb(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url, decode_responses=True)


@pytest.fixture
def start_worker(env: dict[str, str]) -> Iterator[Callable[..., Worker]]:
    """Start ``executor worker`` subprocesses; all are stopped after the test."""
    started: list[Worker] = []

    def start(app: str = "functions:app", **kwargs: Any) -> Worker:
        extra_env = kwargs.pop("env", {})
        worker = Worker(app, {**env, **extra_env}, **kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
        # Shown by pytest only when the test failed.
        print(f"--- worker {worker.hostname} ---\n{worker.output()[-6000:]}")


@pytest.fixture
def events(rdb: redis.Redis) -> Callable[..., list[dict[str, Any]]]:
    """Wait for result events that the ``sink`` test function received."""

    def wait(count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rdb.llen(EVENTS_KEY) >= count:
                break
            time.sleep(0.05)
        return [json.loads(e) for e in rdb.lrange(EVENTS_KEY, 0, -1)]

    return wait


def route(
    client: Client,
    function: str,
    *,
    success: str | None = None,
    failure: str | None = None,
    **policy: Any,
) -> None:
    """Store ``function``'s async config with FunctionGraph destinations to other functions."""
    side: dict[str, Any] = {}
    if success:
        side["on_success"] = {
            "destination": "FunctionGraph",
            "param": {"func_urn": str(client.resolve(success))},
        }
    if failure:
        side["on_failure"] = {
            "destination": "FunctionGraph",
            "param": {"func_urn": str(client.resolve(failure))},
        }
    client.put_async_config(function, {**policy, "destination_config": side})


def wait_status(client: Client, request_id: str, *statuses: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        record = client.get_invocation(request_id)
        if record.status.value in statuses:
            return record
        time.sleep(0.05)
    raise AssertionError(
        f"{request_id} still {record.status if record else None}, wanted {statuses}"
    )


def drained(rdb: redis.Redis) -> bool:
    """No message waits in a queue, and no worker holds one (running, or due for a retry)."""
    return rdb.llen(INVOCATION_QUEUE) + rdb.llen(DELIVERY_QUEUE) + rdb.hlen(UNACKED) == 0


def barrier(client: Client, rdb: redis.Redis, timeout: float = 20.0) -> None:
    """Return once everything queued so far has been handled, to assert what did not happen.

    A follow-up invocation on the invocation queue must end first (a worker takes that queue's
    messages in order), and then no message may wait in a queue or be held by a worker.
    """
    rid = client.invoke_async("barrier")
    wait_status(client, rid, "SUCCESS", timeout=timeout)
    wait_for(lambda: drained(rdb), timeout, "the queues to drain")


@pytest.fixture
def run(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the ``executor`` command with this test's settings; assert its exit status."""

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = run_executor(*args, env=env)
        assert (done.returncode == 0) is ok, done.stdout + done.stderr
        return done

    return run
