"""Every Redis broker URL form Celery documents, read with kombu's parser: where the broker is,
where the state store goes with it, and the one-line refusal of anything else."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from celery import Celery

from executor import Settings
from executor.core.errors import SettingsInvalid
from executor.runtime.celery.broker_url import read_broker
from executor.runtime.celery.engine import make_celery
from executor.runtime.celery.routes import Routes
from executor.state.connection import connect, describe
from executor.state.locations import locate
from executor.state.redis_url import Endpoint

SENTINELS = "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26380;sentinel://10.0.0.3"


def settings(**values: Any) -> Settings:
    return Settings(**values)


@pytest.mark.parametrize(
    ("broker", "store", "endpoint"),
    [
        (
            "redis://127.0.0.1:6379/0",
            "redis://127.0.0.1:6379/0",
            Endpoint("127.0.0.1", 6379, "", 0),
        ),
        ("redis://h", "redis://h:6379/0", Endpoint("h", 6379, "", 0)),
        ("redis://:s3cret@h:7000/4", "redis://:s3cret@h:7000/4", Endpoint("h", 7000, "", 4)),
        ("redis://app:p%40ss@h/2", "redis://app:p%40ss@h:6379/2", Endpoint("h", 6379, "", 2)),
        (
            "rediss://:pw@h:6380/1?ssl_cert_reqs=CERT_REQUIRED&ssl_ca_certs=/etc/ca.pem",
            "rediss://:pw@h:6380/1?ssl_cert_reqs=required&ssl_ca_certs=%2Fetc%2Fca.pem",
            Endpoint("h", 6380, "", 1),
        ),
        (
            "rediss://h:6380/0?ssl_cert_reqs=optional",
            "rediss://h:6380/0?ssl_cert_reqs=optional",
            Endpoint("h", 6380, "", 0),
        ),
        # kombu's default for a rediss:// URL without options: the store gets the same.
        ("rediss://h:6380/0", "rediss://h:6380/0?ssl_cert_reqs=none", Endpoint("h", 6380, "", 0)),
        (
            "redis+socket:///run/redis/redis.sock",
            "unix:///run/redis/redis.sock?db=0",
            Endpoint("", 0, "/run/redis/redis.sock", 0),
        ),
        (
            "redis+socket://:pw@/run/redis.sock?virtual_host=3",
            "unix://:pw@/run/redis.sock?db=3",
            Endpoint("", 0, "/run/redis.sock", 3),
        ),
    ],
)
def test_the_state_store_is_the_database_of_a_redis_broker(broker, store, endpoint):
    found = locate(settings(broker_url=broker))
    assert found.broker.endpoint == endpoint
    assert (found.store.mode, found.store.url) == ("standalone", store)
    assert found.store.endpoint == endpoint
    # The same client redis-py makes for that URL: same server, database and TLS checks.
    kwargs = connect(settings(broker_url=broker)).connection_pool.connection_kwargs
    assert kwargs.get("db", 0) == endpoint.db
    assert kwargs.get("path", "") == endpoint.path


def test_a_rediss_broker_gives_celery_and_flower_its_tls_options():
    url = "rediss://h:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem"
    celery = make_celery(settings(broker_url=url))
    assert celery.conf.broker_use_ssl == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": "/etc/ca.pem",
    }
    kwargs = connect(settings(broker_url=url)).connection_pool.connection_kwargs
    assert (kwargs["ssl_cert_reqs"], kwargs["ssl_ca_certs"]) == ("required", "/etc/ca.pem")


@pytest.mark.parametrize("db", ["", "/0", "/5"])
def test_celerys_multi_sentinel_url_puts_the_store_on_the_same_master(db):
    broker = ";".join(f"{part}{db}" for part in SENTINELS.split(";"))
    found = locate(settings(broker_url=broker, redis_sentinel_master="main"))
    assert found.broker.sentinels == (
        ("10.0.0.1", 26379),
        ("10.0.0.2", 26380),
        ("10.0.0.3", 26379),
    )
    store = found.store
    assert (store.mode, store.master, store.sentinels) == (
        "sentinel",
        "main",
        found.broker.sentinels,
    )
    assert store.db == int(db.strip("/") or 0)
    assert describe(settings(broker_url=broker, redis_sentinel_master="main")) == (
        "sentinel master main via 10.0.0.1:26379,10.0.0.2:26380,10.0.0.3:26379"
    )
    celery = make_celery(settings(broker_url=broker, redis_sentinel_master="main"))
    assert celery.conf.broker_transport_options["master_name"] == "main"
    assert celery.conf.task_publish_retry_policy["max_retries"] > 3


def test_the_sentinel_brokers_password_and_database_reach_the_store_unless_set():
    broker = "sentinel://:master-pw@a:1/2;sentinel://b:2"
    store = locate(settings(broker_url=broker, redis_sentinel_master="m")).store
    assert (store.password, store.db) == ("master-pw", 2)
    store = locate(
        settings(broker_url=broker, redis_sentinel_master="m", redis_password="own", redis_db=0)
    ).store
    assert (store.password, store.db) == ("own", 0)


def test_explicit_sentinels_win_and_a_sentinel_password_reaches_the_broker():
    given = settings(
        broker_url=SENTINELS,
        redis_mode="sentinel",
        redis_sentinels="a:1, b:2,c:3",
        redis_sentinel_master="m",
        redis_sentinel_password="pw",
    )
    assert locate(given).store.sentinels == (("a", 1), ("b", 2), ("c", 3))
    assert make_celery(given).conf.broker_transport_options["sentinel_kwargs"] == {"password": "pw"}


def test_a_sentinel_broker_can_leave_the_state_on_another_redis():
    found = locate(
        settings(broker_url=SENTINELS, redis_sentinel_master="m", redis_url="redis://s:1/0")
    )
    assert (found.store.mode, found.store.url) == ("standalone", "redis://s:1/0")


def test_a_cluster_store_with_rabbitmq_or_a_separate_redis_broker_is_accepted():
    for broker in ("amqp://h//", "redis://q:6379/0", SENTINELS):
        store = locate(
            settings(
                redis_mode="cluster",
                broker_url=broker,
                redis_url="redis://n1:7000",
                redis_sentinel_master="m",
            )
        ).store
        assert (store.mode, store.url) == ("cluster", "redis://n1:7000")


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"broker_url": "unix:///tmp/redis.sock"}, ["EXECUTOR_BROKER_URL", "No such transport"]),
        ({"broker_url": "redis://h:abc/0"}, ["EXECUTOR_BROKER_URL", "Port could not be cast"]),
        ({"broker_url": "redis://h/zero"}, ["EXECUTOR_BROKER_URL", "database must be a number"]),
        ({"broker_url": "redis://h/0?timeout=3"}, ["EXECUTOR_BROKER_URL", "timeout"]),
        ({"broker_url": "redis+tcp://h:1/0"}, ["EXECUTOR_BROKER_URL", "redis+tcp://"]),
        ({"broker_url": "rediss://h/0?ssl_cert_reqs=always"}, ["EXECUTOR_BROKER_URL", "always"]),
        (
            {"broker_url": "sentinel://a:1;sentinel://b:2x", "redis_sentinel_master": "m"},
            ["EXECUTOR_BROKER_URL", "Port could not be cast"],
        ),
        ({"broker_url": SENTINELS}, ["EXECUTOR_REDIS_SENTINEL_MASTER"]),
        ({"broker_url": "amqp://guest@localhost//"}, ["EXECUTOR_REDIS_URL is required", "amqp"]),
        ({"broker_url": "sqs://"}, ["EXECUTOR_REDIS_URL is required"]),
        ({"broker_url": "redis://a/0;redis://b/0"}, ["EXECUTOR_REDIS_URL", "several Redis"]),
        (
            {"broker_url": "redis://h/0", "redis_url": "redis://s/db1"},
            ["EXECUTOR_REDIS_URL", "database must be a number"],
        ),
        (
            {"broker_url": "redis://h/0", "redis_url": "http://s/0"},
            ["EXECUTOR_REDIS_URL=http://s/0", "unix:///path"],
        ),
        (
            {"redis_mode": "sentinel", "redis_sentinel_master": "m"},
            ["EXECUTOR_REDIS_SENTINELS"],
        ),
        ({"redis_mode": "sentinel", "redis_sentinels": "a:1"}, ["EXECUTOR_REDIS_SENTINEL_MASTER"]),
        (
            {"redis_mode": "sentinel", "redis_sentinels": "a", "redis_sentinel_master": "m"},
            ["host:port"],
        ),
        (
            {
                "redis_mode": "cluster",
                "broker_url": "redis://n1:7000/0",
                "redis_url": "redis://n1:7000",
            },
            ["no Redis Cluster transport"],
        ),
    ],
)
def test_anything_else_is_refused_in_one_line_naming_the_setting(values, words):
    with pytest.raises(SettingsInvalid) as refused:
        locate(settings(**values))
    message = refused.value.message
    assert "\n" not in message
    for word in words:
        assert word in message


def test_a_refusal_shows_no_password():
    with pytest.raises(SettingsInvalid) as refused:
        locate(settings(broker_url="redis://:hunter2@h:port/0"))
    assert "hunter2" not in refused.value.message
    assert "redis://***@h:port/0" in refused.value.message


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"redis_mode": "cluster", "broker_url": "amqp://h//"},
            "EXECUTOR_REDIS_URL naming any node",
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
def test_combinations_that_need_no_url_read_are_refused_by_the_settings(values, message):
    with pytest.raises(ValueError, match=message):
        Settings(**values)


def test_the_masked_broker_url_lists_every_sentinel():
    broker = read_broker("sentinel://:pw@a:1;sentinel://:pw@b:2")
    assert broker.masked() == "sentinel://:**@a:1/;sentinel://:**@b:2/"


@pytest.mark.parametrize(
    ("broker", "store", "fused"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", True),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1", False),
        ("redis+socket:///run/r.sock?virtual_host=2", "unix:///run/r.sock?db=2", True),
        ("redis+socket:///run/r.sock", "redis://127.0.0.1:6379/0", False),
        ("sentinel://a:1;sentinel://b:2", "redis://a:1/0", False),
        ("redis://a:1/0;redis://a:2/0", "redis://a:1/0", False),
    ],
)
def test_records_and_messages_are_written_together_only_on_the_same_database(broker, store, fused):
    celery = Celery("t", broker=broker, set_as_current=False)
    celery.conf.update(task_serializer="json", task_default_priority=None)
    target = locate(settings(broker_url=broker, redis_url=store, redis_sentinel_master="m"))
    assert Routes(celery, target.store.endpoint).available() is fused
