"""The core scenarios on both brokers: Redis, and RabbitMQ with Redis kept as the state store.

Success, retries exhausted, age exceeded, a runtime cycle and a cancel run together against one
fleet per broker: a worker on another queue first (it publishes the catalogue and runs the
reconciler), then a prefork worker on the default queues.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import route, wait_status
from fleet_services import RabbitVhost
from services import wait_for

from executor import Client, Settings
from executor.core.constants import INVOCATION_QUEUE
from executor.state.keys import STATS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def rabbit() -> Iterator[RabbitVhost]:
    if not RabbitVhost.available():
        pytest.fail(
            "RabbitMQ does not answer on 127.0.0.1:5672: start it with 'rabbitmq-server "
            "-detached' (.ci/run does) and retry"
        )
    vhost = RabbitVhost().create()
    yield vhost
    vhost.delete()


@pytest.fixture(params=["redis", "amqp"])
def broker_env(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, str]:
    if request.param == "redis":
        return env
    vhost: RabbitVhost = request.getfixturevalue("rabbit")
    return {
        **env,
        "EXECUTOR_BROKER_URL": vhost.url,
        "EXECUTOR_REDIS_URL": env["EXECUTOR_BROKER_URL"],
    }


def test_core_scenarios(broker_env, rdb, start_worker, events):
    client = Client(
        Settings(**{k.removeprefix("EXECUTOR_").lower(): v for k, v in broker_env.items()})  # type: ignore[arg-type]
    )
    start_worker(queues="heavy", env=broker_env)
    route(client, "hello", success="sink")
    route(client, "boom", failure="sink", max_async_retry_attempts=2)
    route(client, "slow", failure="sink", max_async_event_age_in_seconds=1)
    route(client, "pong", success="ping")

    # Queued while nothing consumes the default queue: one ages out, one is cancelled.
    aged = client.invoke_async("slow", {"seconds": 0})
    cancelled = client.invoke_async("counted", {})
    assert client.cancel(cancelled).status.value == "DISCARD"

    start_worker(pool="prefork", concurrency=2, env=broker_env)
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
    wait_for(lambda: rdb.hget(STATS, "cycle_drops") == "1", 20, "the cycle drop")
    assert rdb.get("test:runs:ping:loop") == "1"
    assert rdb.get("test:runs:pong") == "1"

    # The cancelled message was queued before this one; it is skipped, never run.
    after = client.invoke_async("counted", {})
    wait_status(client, after, "SUCCESS")
    wait_for(lambda: rdb.llen(INVOCATION_QUEUE) == 0, 10, "the queue to drain")
    assert rdb.get(f"test:runs:{cancelled}") is None
    assert client.get_invocation(cancelled).status.value == "DISCARD"

    on_rabbit = broker_env["EXECUTOR_BROKER_URL"].startswith("amqp://")
    # With RabbitMQ, Redis holds the state and nothing of the broker's.
    assert bool(rdb.exists(f"_kombu.binding.{INVOCATION_QUEUE}")) is not on_rabbit
