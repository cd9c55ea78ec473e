"""The core scenarios on both brokers: Redis, and RabbitMQ with Redis kept as the state store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from executor.core.constants import INVOCATION_QUEUE
from tests.support.core_scenarios import run_core_scenarios
from tests.support.fleet_services import RabbitVhost
from tests.support.invocations import queued

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
    run_core_scenarios(broker_env, rdb, start_worker, events, lambda: queued(rdb) == 0)

    on_rabbit = broker_env["EXECUTOR_BROKER_URL"].startswith("amqp://")
    # With RabbitMQ, Redis holds the state and nothing of the broker's.
    assert bool(rdb.exists(f"_kombu.binding.{INVOCATION_QUEUE}")) is not on_rabbit
