from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from executor import Client, Settings
from tests.support.fleet_services import run_executor
from tests.support.invocations import EVENTS_KEY, FAST
from tests.support.services import RedisServer, Worker

pytest_plugins = [
    "tests.support.destination_services",
    "tests.support.api_server",
    "tests.support.browser_services",
]


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
def client(settings: Settings, redis_server: RedisServer) -> Client:
    """A producer on this test's redis-server (a unit test asking for it is refused there)."""
    return Client(settings)


@pytest.fixture
def rdb(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url, decode_responses=True)


@pytest.fixture
def start_worker(env: dict[str, str]) -> Iterator[Callable[..., Worker]]:
    """Start ``executor worker`` subprocesses; all are stopped after the test."""
    started: list[Worker] = []

    def start(app: str = "tests.apps.functions:app", **kwargs: Any) -> Worker:
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


@pytest.fixture
def run(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the ``executor`` command with this test's settings; assert its exit status."""

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = run_executor(*args, env=env)
        assert (done.returncode == 0) is ok, done.stdout + done.stderr
        return done

    return run
