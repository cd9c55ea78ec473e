"""Every refusal leaves nothing behind: no stored config, no record, no queued message."""

from __future__ import annotations

import pytest

from executor import (
    AliasNotAllowed,
    Client,
    ConfigNotFound,
    CycleDetected,
    FunctionNotFound,
    InvalidParameter,
    InvalidURN,
    PayloadTooLarge,
)
from executor.state.keys import CATALOGUE, LAYOUT_KEY, lock_key
from tests.support.invocations import queued, route

pytestmark = pytest.mark.integration

SINK = "urn:fss:local-1:default:function:default:sink:latest"


@pytest.fixture
def known(client):
    """The test functions are in the catalogue, as a worker publishes it; none consumes."""
    from tests.apps.functions import app

    client.store.catalogue.publish(app.registry.catalogue())
    return client


def nothing_written(rdb) -> bool:
    keys = [
        k
        for k in rdb.keys("ae:*")
        if k not in (CATALOGUE, LAYOUT_KEY) and not k.startswith(lock_key(""))
    ]
    return not keys and queued(rdb) == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"max_async_retry_attempts": 5}, "max_async_retry_attempts"),
        ({"max_async_event_age_in_seconds": 0}, "max_async_event_age_in_seconds"),
        ({"max_async_event_age_in_seconds": 90000}, "max_async_event_age_in_seconds"),
        (
            {"destination_config": {"on_success": {"destination": "MQ", "param": "{}"}}},
            "destination must be one of",
        ),
        (
            {"destination_config": {"on_success": {"destination": "OBS", "param": "{"}}},
            "not valid JSON",
        ),
        ({"destination_config": {"on_failure": {"destination": "OBS", "param": "{}"}}}, "bucket"),
        (
            {
                "destination_config": {
                    "on_failure": {"destination": "FunctionGraph", "param": {"func_urn": "nope"}}
                }
            },
            "func_urn",
        ),
        (
            {
                "destination_config": {
                    "on_failure": {"destination": "DIS", "param": {"stream": "s"}}
                }
            },
            "stream",
        ),
    ],
)
def test_bad_configs_are_refused_and_not_stored(known, rdb, body, fragment):
    with pytest.raises(InvalidParameter, match=fragment):
        known.put_async_config("hello", body)
    assert nothing_written(rdb)


def test_alias_config_is_refused(known, rdb):
    with pytest.raises(AliasNotAllowed, match="alias"):
        known.put_async_config("hello:!prod", {})
    with pytest.raises(AliasNotAllowed):
        known.get_async_config("hello:!prod")
    assert nothing_written(rdb)


def test_config_for_unknown_function_is_refused(known, rdb):
    with pytest.raises(FunctionNotFound, match="no worker has registered"):
        known.put_async_config("ghost", {})
    assert nothing_written(rdb)


def test_cycle_of_function_destinations_is_refused_and_named(known, rdb):
    route(known, "hello", success="pong")
    route(known, "pong", failure="counted")
    before = known.configs.all()
    with pytest.raises(CycleDetected) as caught:
        route(known, "counted", success="hello")
    message = caught.value.message
    assert (
        "default:counted -> " in message
        and "default:hello -> " in message
        and "default:pong" in message
    )
    assert known.configs.all() == before
    with pytest.raises(CycleDetected):
        route(known, "hello", success="hello")


def test_config_round_trip_and_listing(known):
    stored = known.put_async_config("hello", {"max_async_retry_attempts": 0})
    assert stored.max_async_retry_attempts == 0
    assert stored.func_urn == str(known.resolve("hello"))
    assert known.get_async_config("hello") == stored
    page = known.list_async_configs("hello")
    assert page.count == 1 and page.async_invoke_configs[0].func_urn == stored.func_urn
    known.delete_async_config("hello")
    with pytest.raises(ConfigNotFound, match="no async configuration"):
        known.get_async_config("hello")


@pytest.mark.parametrize(
    ("function", "payload", "error"),
    [
        ("hello", {"blob": "x" * (256 * 1024)}, PayloadTooLarge),
        ("hello", {"not": {1, 2}}, InvalidParameter),
        ("hello", float("nan"), InvalidParameter),
        ("ghost", {}, FunctionNotFound),
        ("urn:fss:bad", {}, InvalidURN),
    ],
)
def test_bad_invocations_enqueue_nothing(known, rdb, function, payload, error):
    with pytest.raises(error):
        known.invoke_async(function, payload)
    assert nothing_written(rdb)


def test_producer_without_workers_knows_no_function(settings, rdb):
    with pytest.raises(FunctionNotFound, match="start a worker"):
        Client(settings).invoke_async("hello", {})
    assert nothing_written(rdb)


def test_broker_down_means_nothing_recorded(known, settings, rdb):
    broken = Client(
        settings.model_copy(
            update={"broker_url": "redis://127.0.0.1:1/0", "redis_url": settings.broker_url}
        )
    )
    broken.celery.conf.broker_connection_max_retries = 0
    broken.celery.conf.broker_transport_options = {"max_retries": 0}
    with pytest.raises(Exception, match="nothing was queued"):
        broken.invoke_async("hello", {})
    assert nothing_written(rdb)
