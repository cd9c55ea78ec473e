"""The state store on a Redis Cluster of 3 masters (the broker on a separate Redis): the core
scenarios, and a fleet that carries on when a master with a replica is killed."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import redis

from executor import Client
from executor.core.errors import Unavailable
from executor.ops.bench.cluster import LocalCluster
from executor.state.connection import connect
from executor.state.keys import SHARDS, shard_of
from tests.apps.fleet_functions import DONE
from tests.support.core_scenarios import run_core_scenarios, settings_of
from tests.support.drills import APP, FAILOVER_DRILL, not_succeeded, report
from tests.support.fleet_services import TERMINAL, statuses
from tests.support.invocations import FAST, queued
from tests.support.services import RedisServer, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    nodes = LocalCluster(masters=3)
    yield nodes
    nodes.close()


@pytest.fixture
def env(cluster: LocalCluster, redis_server: RedisServer) -> dict[str, str]:
    redis.Redis.from_url(redis_server.url).flushall()
    values = {
        "EXECUTOR_BROKER_URL": redis_server.url,
        "EXECUTOR_REDIS_MODE": "cluster",
        "EXECUTOR_REDIS_URL": cluster.url,
        **FAST,
    }
    connect(settings_of(values)).flushall()
    return values


@pytest.fixture
def rdb(env: dict[str, str]) -> redis.Redis:
    return connect(settings_of(env))


def test_core_scenarios_on_a_three_master_cluster(env, rdb, start_worker, events, cluster):
    broker = redis.Redis.from_url(env["EXECUTOR_BROKER_URL"])
    client = run_core_scenarios(env, rdb, start_worker, events, lambda: queued(broker) == 0)
    # One invocation in each shard: the shards' records then sit on every master, and none of
    # the broker's keys does.
    ids: dict[int, str] = {}
    while len(ids) < SHARDS:
        rid = str(uuid.uuid4())
        ids.setdefault(shard_of(rid), rid)
    for rid in ids.values():
        client.invoke_async("hello", {"name": "shard"}, request_id=rid)
    holders = [
        port
        for port in cluster.masters()
        if any(redis.Redis(port=port).scan_iter("ae:*:inv:*", count=1000))
    ]
    assert len(holders) == 3
    assert not any(any(redis.Redis(port=p).scan_iter("_kombu*")) for p in holders)
    page = client.list_invocations("counted")
    assert len(page.invocations) == 2


@pytest.mark.timeout(300)
def test_drill_a_cluster_master_with_a_replica_is_killed(redis_server, start_worker):
    nodes = LocalCluster(masters=3, replicas=1)
    try:
        redis.Redis.from_url(redis_server.url).flushall()
        env = {
            "EXECUTOR_BROKER_URL": redis_server.url,
            "EXECUTOR_REDIS_MODE": "cluster",
            "EXECUTOR_REDIS_URL": nodes.url,
            **FAST,
            **FAILOVER_DRILL,
        }
        rdb = connect(settings_of(env))
        client = Client(settings_of(env))
        start_worker(APP, pool="prefork", concurrency=2, env=env)
        accepted: list[str] = []
        refused: Counter[str] = Counter()
        victim: dict[str, float] = {}

        def produce() -> None:
            for n in range(300):
                if n == 100:
                    victim["port"] = nodes.masters()[0]
                    nodes.kill(int(victim["port"]))
                    victim["at"] = time.monotonic()
                try:
                    accepted.append(client.invoke_async("tick", {"n": n, "seconds": 0.01}))
                except Unavailable as exc:
                    refused[exc.message.split(" (")[0]] += 1

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        wait_for(lambda: "at" in victim, 120, "the producer to reach 100")
        nodes.wait_promoted(int(victim["port"]))
        promoted_after = time.monotonic() - victim["at"]
        producer.join(120)
        wait_for(lambda: set(statuses(rdb, accepted)) <= TERMINAL, 120, "every invocation to end")
        ended = statuses(rdb, accepted)
        final = Counter(ended)
        runs = Counter({rid: int(n) for rid, n in rdb.hgetall(DONE).items()})
        report(
            "cluster master killed",
            produced=300,
            accepted=len(accepted),
            refused=sum(refused.values()),
            finished=final["SUCCESS"],
            run_twice=sum(1 for n in runs.values() if n > 1),
            promoted_after_s=f"{promoted_after:.1f}",
        )
        assert len(accepted) + sum(refused.values()) == 300
        failed = not_succeeded(rdb, accepted, ended)
        assert not failed, failed
        # The fleet carries on: a new invocation on the healed cluster runs.
        after = client.invoke_async("tick", {"n": -1})
        wait_for(lambda: statuses(rdb, [after]) == ["SUCCESS"], 30, "an invocation after")
    finally:
        nodes.close()
