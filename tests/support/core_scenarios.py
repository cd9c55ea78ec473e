"""The core scenarios, run against one fleet: shared by the broker and the Redis-mode tests.

Success, retries exhausted, age exceeded, a runtime cycle and a cancel run together: a worker on
another queue first (it publishes the catalogue and runs the reconciler), then a prefork worker
on the default queues.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import redis

from executor import Client, Settings
from tests.support.api_server import AUTH, ApiServer
from tests.support.fleet_services import Flower, http_get, run_executor
from tests.support.invocations import route, wait_status
from tests.support.services import wait_for


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(**{k.removeprefix("EXECUTOR_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]


def run_core_scenarios(
    env: dict[str, str],
    rdb: redis.Redis,
    start_worker: Callable[..., Any],
    events: Callable[..., list[dict[str, Any]]],
    drained: Callable[[], bool],
) -> Client:
    """``drained`` answers whether the broker's invocation queue is empty."""
    client = Client(settings_of(env))
    start_worker(queues="heavy", env=env)
    route(client, "hello", success="sink")
    route(client, "boom", failure="sink", max_async_retry_attempts=2)
    route(client, "slow", failure="sink", max_async_event_age_in_seconds=1)
    route(client, "pong", success="ping")

    # Queued while nothing consumes the default queue: one ages out, one is cancelled.
    aged = client.invoke_async("slow", {"seconds": 0})
    cancelled = client.invoke_async("counted", {})
    assert client.cancel(cancelled).status.value == "DISCARD"

    start_worker(pool="prefork", concurrency=2, env=env)
    succeeded = client.invoke_async("hello", {"name": "ann"})
    failed = client.invoke_async("boom", {})
    client.invoke_async("ping", {"tag": "loop"})

    by_id = {e["request_context"]["request_id"]: e for e in events(3, timeout=30)}
    assert by_id[succeeded]["response_payload"] == {"greeting": "hello ann", "attempt": 1}
    assert by_id[succeeded]["request_context"]["condition"] == ""

    failure = by_id[failed]
    assert failure["request_context"]["condition"] == "RetriesExhausted"
    assert failure["request_context"]["approximate_invoke_count"] == 3
    assert failure["response_context"]["function_error"] == "ValueError: always fails"
    assert rdb.get(f"test:runs:{failed}") == "3"
    assert wait_status(client, failed, "FAIL").condition == "RetriesExhausted"

    assert by_id[aged]["request_context"]["condition"] == "EventAgeExceeded"
    assert by_id[aged]["request_context"]["approximate_invoke_count"] == 0
    assert client.get_invocation(aged).status.value == "DISCARD"
    assert rdb.get(f"test:runs:{aged}") is None

    # ping -> pong -> (pong's destination) ping is dropped: ping is already in the chain.
    wait_for(lambda: client.store.scans.stats().get("cycle_drops") == 1, 20, "the cycle drop")
    assert rdb.get("test:runs:ping:loop") == "1"
    assert rdb.get("test:runs:pong") == "1"

    # The cancelled message was queued before this one; it is skipped, never run.
    after = client.invoke_async("counted", {})
    wait_status(client, after, "SUCCESS")
    wait_for(drained, 10, "the queue to drain")
    assert rdb.get(f"test:runs:{cancelled}") is None
    assert client.get_invocation(cancelled).status.value == "DISCARD"
    return client


# The basic-auth pair of the Flower that ``fleet_on`` starts.
FLOWER = ("ops", "flower-pw")


def fleet_on(env: dict[str, str], start_worker: Any) -> tuple[Client, list[str], str]:
    """A worker, a producer, the API and Flower on the settings ``env``: the producer and the
    API each invoke ``hello`` and it succeeds, Flower shows it and reads the broker's queues,
    and ``executor health`` passes. Returns the producer, both request ids and what health
    printed."""
    api = ApiServer(env).start()
    flower = Flower({**env, "EXECUTOR_FLOWER_BASIC_AUTH": ":".join(FLOWER)})
    try:
        worker = start_worker(pool="prefork", concurrency=2, env=env)
        # The ready hook published the catalogue: a producer that imports no handler finds it.
        client = Client(settings_of(env))
        produced = client.invoke_async("hello", {"name": "producer"})
        answer = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, json={})
        assert answer.status_code == 202, answer.text
        ids = [produced, answer.json()["request_id"]]
        for request_id in ids:
            assert wait_status(client, request_id, "SUCCESS").attempts == 1
        flower.wait_ready()

        def shown() -> bool:
            status, body = http_get(f"{flower.url}/api/task/info/{ids[1]}", FLOWER)
            return status == 200 and json.loads(body).get("state") == "SUCCESS"

        wait_for(shown, 30, "flower to show the invocation", interval=0.3)
        status, body = http_get(f"{flower.url}/api/queues/length", FLOWER)
        assert status == 200, body
        assert "executor.invocations" in {q["name"] for q in json.loads(body)["active_queues"]}
        done = run_executor("health", "--node", worker.hostname, "--timeout", "5", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return client, ids, done.stdout + done.stderr + worker.output()
    finally:
        flower.stop()
        api.stop()
