"""Pure checks of URNs, async config validation, the chain guard, events and backoff."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from executor import AsyncConfig, Settings
from executor.core.backoff import backoff
from executor.core.errors import AliasNotAllowed, CycleDetected, InvalidURN
from executor.core.events import build_event, format_timestamp
from executor.core.guard import ChainBroken, check_call, find_cycle, refuse_cycle
from executor.core.urn import parse_urn

FG = "urn:fss:r1:p1:function:default:{}:latest"


def parse(value: str):
    return parse_urn(value, region="r1", project="p1")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("hello", "urn:fss:r1:p1:function:default:hello:latest"),
        ("hello:v1", "urn:fss:r1:p1:function:default:hello:v1"),
        ("pkg:hello:latest", "urn:fss:r1:p1:function:pkg:hello:latest"),
        (
            "urn:fss:cn-north-1:abc:function:default:f:v2",
            "urn:fss:cn-north-1:abc:function:default:f:v2",
        ),
        (
            "urn:fss:cn-north-1:abc:function:default:f",
            "urn:fss:cn-north-1:abc:function:default:f:latest",
        ),
    ],
)
def test_urns_expand_and_round_trip(given: str, expected: str) -> None:
    assert str(parse(given)) == expected
    assert str(parse(expected)) == expected


@pytest.mark.parametrize(
    "bad", ["", "urn:fss:x", "1abc", "a:b:c:d", "urn:aws:r:p:function:d:f:l", "hel lo"]
)
def test_malformed_urns_are_refused(bad: str) -> None:
    with pytest.raises(InvalidURN):
        parse(bad)


def test_alias_cannot_carry_config() -> None:
    urn = parse("hello:!prod")
    assert urn.is_alias
    with pytest.raises(AliasNotAllowed, match="alias"):
        urn.require_version()


def test_config_defaults_and_wire_shape() -> None:
    config = AsyncConfig()
    assert config.max_async_event_age_in_seconds == 3600
    assert config.max_async_retry_attempts == 1
    assert config.destination_config.on_success is None


def test_param_accepted_as_string_or_object_and_normalised() -> None:
    body = {"destination": "FunctionGraph", "param": {"func_urn": FG.format("a")}}
    as_object = AsyncConfig.model_validate({"destination_config": {"on_success": body}})
    as_string = AsyncConfig.model_validate(
        {"destination_config": {"on_success": {**body, "param": json.dumps(body["param"])}}}
    )
    assert as_object == as_string
    ref = as_object.destination_config.on_success
    assert ref is not None
    assert json.loads(ref.param) == {"func_urn": FG.format("a")}


@pytest.mark.parametrize(
    "body",
    [
        {"max_async_retry_attempts": 4},
        {"max_async_retry_attempts": -1},
        {"max_async_retry_attempts": "1"},
        {"max_async_event_age_in_seconds": 0},
        {"max_async_event_age_in_seconds": 86401},
        {"destination_config": {"on_success": {"destination": "Kafka", "param": "{}"}}},
        {"destination_config": {"on_success": {"destination": "OBS", "param": "{not json"}}},
        {"destination_config": {"on_success": {"destination": "OBS", "param": {"prefix": "x"}}}},
        {
            "destination_config": {
                "on_success": {"destination": "OBS", "param": {"bucket": "b" * 70}}
            }
        },
        {"destination_config": {"on_failure": {"destination": "DIS", "param": {}}}},
        {"destination_config": {"on_failure": {"destination": "SMN", "param": {"topic_urn": "x"}}}},
        {
            "destination_config": {
                "on_failure": {"destination": "FunctionGraph", "param": {"func_urn": "f"}}
            }
        },
        {"unknown_field": 1},
    ],
)
def test_invalid_configs_are_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        AsyncConfig.model_validate(body)


def test_zero_retries_is_distinct_from_unset() -> None:
    assert AsyncConfig.model_validate({"max_async_retry_attempts": 0}).max_async_retry_attempts == 0


def test_guard_refuses_reentry_and_depth() -> None:
    check_call(["a", "b"], "c", max_depth=3)
    with pytest.raises(ChainBroken, match="a -> b -> a"):
        check_call(["a", "b"], "a", max_depth=16)
    with pytest.raises(ChainBroken, match="maximum of 2"):
        check_call(["a", "b"], "c", max_depth=2)


def test_cycle_search_names_the_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges, "a") == ["a", "b", "c", "a"]
    assert find_cycle(edges, "d") is None
    with pytest.raises(CycleDetected, match="a -> b -> c -> a"):
        refuse_cycle(edges, "a")


def test_event_has_the_exact_fields_in_order() -> None:
    event = build_event(
        request_id="r",
        function_urn=FG.format("f"),
        enqueued_at=1597924800.0,
        condition="",
        invoke_count=1,
        request_payload={"a": 1},
        response_payload="hello world!",
    )
    assert json.loads(event.model_dump_json()) == {
        "timestamp": "2020-08-20T12:00:00.000Z",
        "request_context": {
            "request_id": "r",
            "function_urn": FG.format("f"),
            "condition": "",
            "approximate_invoke_count": 1,
        },
        "request_payload": {"a": 1},
        "response_context": {"status_code": 200, "function_error": ""},
        "response_payload": "hello world!",
    }
    assert list(json.loads(event.model_dump_json())) == [
        "timestamp",
        "request_context",
        "request_payload",
        "response_context",
        "response_payload",
    ]
    assert format_timestamp(0.5) == "1970-01-01T00:00:00.500Z"


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    settings = Settings(broker_url="redis://x", retry_backoff_base=1.0, retry_backoff_max=5.0)
    for retry, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (40, 5.0)]:
        samples = [backoff(settings, retry) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1


def test_settings_refuse_limits_near_the_visibility_timeout() -> None:
    with pytest.raises(ValidationError, match="VISIBILITY_TIMEOUT"):
        Settings(
            broker_url="redis://x", visibility_timeout=600, time_limit=400, soft_time_limit=300
        )
