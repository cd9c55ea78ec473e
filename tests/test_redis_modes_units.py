"""Settings of the three Redis modes, the sharded key layout and its start-up check."""

from __future__ import annotations

import fakeredis
import pytest
from pydantic import ValidationError
from redis.crc import key_slot

from executor import Settings
from executor.core.errors import StoreLayoutMismatch
from executor.runtime.engine import make_celery
from executor.state import keys, scripts
from executor.state.layout import check_layout

SENTINEL_BROKER = "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26380"


def test_sentinel_mode_takes_the_sentinels_of_a_sentinel_broker():
    settings = Settings(
        broker_url=SENTINEL_BROKER, redis_mode="sentinel", redis_sentinel_master="main"
    )
    assert settings.sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26380)]
    options = make_celery(settings).conf.broker_transport_options
    assert options["master_name"] == "main"


def test_explicit_sentinels_win_and_a_sentinel_password_reaches_the_broker():
    settings = Settings(
        broker_url=SENTINEL_BROKER,
        redis_mode="sentinel",
        redis_sentinels="a:1, b:2,c:3",
        redis_sentinel_master="m",
        redis_sentinel_password="pw",
    )
    assert settings.sentinels == [("a", 1), ("b", 2), ("c", 3)]
    assert make_celery(settings).conf.broker_transport_options["sentinel_kwargs"] == {
        "password": "pw"
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"redis_mode": "sentinel", "redis_sentinel_master": "m"}, "EXECUTOR_REDIS_SENTINELS"),
        ({"redis_mode": "sentinel", "redis_sentinels": "a:1"}, "EXECUTOR_REDIS_SENTINEL_MASTER"),
        (
            {"redis_mode": "sentinel", "redis_sentinels": "a", "redis_sentinel_master": "m"},
            "host:port",
        ),
        ({"broker_url": SENTINEL_BROKER}, "EXECUTOR_REDIS_SENTINEL_MASTER"),
        (
            {"redis_mode": "cluster", "broker_url": "amqp://h//"},
            "EXECUTOR_REDIS_URL naming any node",
        ),
        (
            {
                "redis_mode": "cluster",
                "broker_url": "redis://n1:7000/0",
                "redis_url": "redis://n1:7000",
            },
            "no Redis Cluster transport",
        ),
        (
            {
                "redis_mode": "cluster",
                "broker_url": "amqp://h//",
                "redis_url": "redis://n1:7000",
                "redis_wait_replicas": 1,
            },
            "min-replicas-to-write",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused_at_start(values, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


def test_a_cluster_store_with_rabbitmq_or_a_separate_redis_broker_is_accepted():
    Settings(redis_mode="cluster", broker_url="amqp://h//", redis_url="redis://n1:7000")
    Settings(redis_mode="cluster", broker_url="redis://q:6379/0", redis_url="redis://n1:7000")


@pytest.mark.parametrize("request_id", ["a", "0b8e1c9e-3f7d-4a56-9a43-6f0e8f5b1c2d", "x" * 64])
def test_every_key_of_a_transition_shares_the_invocations_slot(request_id):
    shard = keys.shard_of(request_id)
    touched = [
        keys.record_key(request_id),
        keys.history_key(request_id),
        keys.deliveries_key(request_id),
        keys.index_key("urn:fss:r:p:function:default:f:latest", shard),
        keys.active_key("urn:fss:r:p:function:default:g:1", shard),
        *(keys.sharded_for(name, request_id) for name in (keys.DEADLINES, keys.OUTBOX, keys.STATS)),
    ]
    assert len({key_slot(key.encode()) for key in touched}) == 1


def test_shards_spread_over_the_slot_ranges_of_three_masters():
    slots = [key_slot(keys.sharded(keys.STATS, s).encode()) for s in range(keys.SHARDS)]
    per_master = [sum(1 for slot in slots if slot * 3 // 16384 == m) for m in range(3)]
    assert min(per_master) >= keys.SHARDS // 3 - 1
    globals_ = [keys.CATALOGUE, keys.CONFIGS, keys.config_key("u"), keys.DLQ, keys.DLQ_INDEX]
    assert len({key_slot(key.encode()) for key in globals_}) == 1


def test_an_empty_store_is_marked_and_a_marked_one_accepted_again():
    client = fakeredis.FakeRedis(decode_responses=True)
    check_layout(client)
    assert client.get(keys.LAYOUT_KEY) == keys.LAYOUT
    check_layout(client)


@pytest.mark.parametrize("legacy", ["ae:stats", "ae:deadlines", "ae:cfgs"])
def test_a_store_of_the_unsharded_layout_is_refused_untouched(legacy):
    client = fakeredis.FakeRedis(decode_responses=True)
    client.set(legacy, "x") if legacy == "ae:cfgs" else client.hset(legacy, "f", 1)
    with pytest.raises(StoreLayoutMismatch, match="previous, unsharded layout"):
        check_layout(client)
    assert client.get(keys.LAYOUT_KEY) is None


def test_a_store_of_another_sharded_layout_is_refused():
    client = fakeredis.FakeRedis(decode_responses=True)
    client.set(keys.LAYOUT_KEY, "2:64")
    with pytest.raises(StoreLayoutMismatch, match="layout 2:64"):
        check_layout(client)


def test_a_retried_terminal_transition_is_answered_as_the_winner_once_made():
    client = fakeredis.FakeRedis(decode_responses=True)
    rid, urn = "r-1", "urn:fss:local-1:p:function:default:f:latest"
    shard = keys.shard_of(rid)
    client.register_script(scripts.CREATE)(
        keys=[
            keys.record_key(rid),
            keys.history_key(rid),
            keys.index_key(urn, shard),
            keys.active_key(urn, shard),
            keys.sharded_for(keys.DEADLINES, rid),
            keys.sharded_for(keys.STATS, rid),
        ],
        args=[rid, urn, "1.0", "9.0", "[]", "null", "", "{}"],
    )
    finish = client.register_script(scripts.FINISH)
    finish_keys = [
        keys.record_key(rid),
        keys.history_key(rid),
        keys.deliveries_key(rid),
        keys.active_key(urn, shard),
        keys.sharded_for(keys.DEADLINES, rid),
        keys.sharded_for(keys.OUTBOX, rid),
        keys.sharded_for(keys.STATS, rid),
    ]

    def end(status: str, now: str) -> int:
        args = [rid, status, now, "", "", "", "", "", 60, "", "", ""]
        return int(finish(keys=finish_keys, args=args))

    assert end("SUCCESS", "2.5") == 1
    assert end("SUCCESS", "2.5") == 1  # the same call again: its maker hands the event on
    assert end("SUCCESS", "2.6") == 0  # anyone else loses
    assert end("DISCARD", "2.5") == 0
    assert client.hget(keys.sharded_for(keys.STATS, rid), "invocations.success") == "1"
    assert client.llen(keys.history_key(rid)) == 2


@pytest.mark.parametrize(
    "original", ["a", "0b8e1c9e-3f7d-4a56-9a43-6f0e8f5b1c2d", "order-42:charge"]
)
def test_a_redrive_shares_its_originals_slot(original):
    for redrive in (f"{original}.r1", f"{original}.r12", f"{original}.r1.r2"):
        assert keys.shard_of(redrive) == keys.shard_of(original)
        assert key_slot(keys.record_key(redrive).encode()) == key_slot(
            keys.record_key(original).encode()
        )
    child = "c-" + original
    listed = keys.children_key(original, keys.shard_of(child))
    assert key_slot(listed.encode()) == key_slot(keys.record_key(child).encode())
