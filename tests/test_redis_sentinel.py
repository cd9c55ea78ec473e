"""The state store and the broker on a Redis Sentinel group: the core scenarios, and a client
that follows the sentinels to the promoted replica when the master dies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from executor import Client
from executor.core.constants import INVOCATION_QUEUE
from executor.core.errors import Unavailable
from executor.state.connection import connect
from executor.state.keys import record_key
from tests.support.api_server import CREDENTIALS
from tests.support.core_scenarios import fleet_on, run_core_scenarios, settings_of
from tests.support.invocations import FAST, queued, wait_status
from tests.support.topologies import MASTER_NAME, SentinelGroup

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    topology = SentinelGroup()
    yield topology
    topology.close()


@pytest.fixture
def env(group: SentinelGroup) -> dict[str, str]:
    group.flush()
    return {**group.env(), **FAST}


@pytest.fixture
def rdb(env: dict[str, str]) -> redis.Redis:
    return connect(settings_of(env))


def test_core_scenarios_on_sentinel(env, rdb, start_worker, events):
    client = run_core_scenarios(env, rdb, start_worker, events, lambda: queued(rdb) == 0)
    # Both live on the master the sentinels name: the broker's queues and the records.
    assert rdb.exists(f"_kombu.binding.{INVOCATION_QUEUE}")
    assert client.store.url.startswith(f"sentinel master {MASTER_NAME} via 127.0.0.1:")


def test_the_documented_multi_sentinel_url_alone_serves_workers_producers_api_and_flower(
    group, rdb, start_worker
):
    env = {**group.env(explicit=False), **FAST, **CREDENTIALS}
    client, ids, shown = fleet_on(env, start_worker)
    assert client.store.url == f"sentinel master {MASTER_NAME} via {group.addresses}"
    assert [rdb.hget(record_key(rid), "status") for rid in ids] == ["SUCCESS"] * 2
    # Health names the broker with every sentinel of the list.
    assert all(address in shown for address in group.addresses.split(","))


def test_wait_replicas_confirms_each_new_invocation(env, rdb, start_worker, group):
    replica = redis.Redis(port=group.replicas[0].port, decode_responses=True)
    client = Client(settings_of({**env, "EXECUTOR_REDIS_WAIT_REPLICAS": "1"}))
    start_worker(env=env)
    request_id = client.invoke_async("hello", {"name": "bo"})
    # WAIT returned before the id did: the replica holds the record already.
    assert replica.hget(record_key(request_id), "urn") == str(client.resolve("hello"))
    assert wait_status(client, request_id, "SUCCESS").attempts == 1


def test_more_replicas_than_exist_refuses_and_leaves_nothing(env, rdb, start_worker):
    client = Client(
        settings_of(
            {**env, "EXECUTOR_REDIS_WAIT_REPLICAS": "2", "EXECUTOR_REDIS_WAIT_TIMEOUT": "0.2"}
        )
    )
    start_worker(env=env)
    Client(settings_of(env)).resolve("hello")
    with pytest.raises(Unavailable, match=r"only 1 of 2 Redis replicas confirmed"):
        client.invoke_async("hello", {"name": "cy"})
    assert not list(rdb.scan_iter("ae:*:inv:*"))
    assert queued(rdb) == 0
