"""Async config validation: every field at and past its bounds, and the param of each kind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from executor.core.config import AsyncConfig, DestinationRef, StoredAsyncConfig
from executor.core.constants import (
    MAX_EVENT_AGE,
    MAX_RETRY_ATTEMPTS,
    MIN_EVENT_AGE,
    MIN_RETRY_ATTEMPTS,
)
from executor.core.params import DISParam, FunctionGraphParam, OBSParam, SMNParam

FG_URN = "urn:fss:r1:p1:function:default:next:latest"


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        (
            "max_async_retry_attempts",
            [MIN_RETRY_ATTEMPTS, 2, MAX_RETRY_ATTEMPTS],
            [MIN_RETRY_ATTEMPTS - 1, MAX_RETRY_ATTEMPTS + 1, "1", 1.0, True, None],
        ),
        (
            "max_async_event_age_in_seconds",
            [MIN_EVENT_AGE, 60, MAX_EVENT_AGE],
            [MIN_EVENT_AGE - 1, MAX_EVENT_AGE + 1, "60", 60.5, None],
        ),
        ("enable_async_status_log", [True, False], ["true", 1, None]),
    ],
)
def test_every_policy_field_is_bound(field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert getattr(AsyncConfig.model_validate({field: value}), field) == value
    for value in bad:
        with pytest.raises(ValidationError) as refused:
            AsyncConfig.model_validate({field: value})
        assert refused.value.errors()[0]["loc"][0] == field, value


@pytest.mark.parametrize(
    ("kind", "param", "model", "expected"),
    [
        ("FunctionGraph", {"func_urn": FG_URN}, FunctionGraphParam, {"func_urn": FG_URN}),
        (
            "OBS",
            {"bucket": "my.bucket-1"},
            OBSParam,
            {"bucket": "my.bucket-1", "prefix": "", "expires": 0},
        ),
        (
            "OBS",
            {"bucket": "abc", "prefix": "/success", "expires": 365},
            OBSParam,
            {"bucket": "abc", "prefix": "/success", "expires": 365},
        ),
        ("DIS", {"stream_name": "s_1.x-2"}, DISParam, {"stream_name": "s_1.x-2"}),
        (
            "SMN",
            {"topic_urn": "urn:smn:cn-north-1:p1:orders"},
            SMNParam,
            {"topic_urn": "urn:smn:cn-north-1:p1:orders"},
        ),
    ],
)
def test_each_kind_takes_its_own_param(
    kind: str, param: dict[str, Any], model: type, expected: dict[str, Any]
) -> None:
    for given in (param, json.dumps(param)):
        ref = DestinationRef.model_validate({"destination": kind, "param": given})
        decoded = ref.decoded()
        assert isinstance(decoded, model)
        assert json.loads(ref.param) == expected
        assert decoded.model_dump() == expected


@pytest.mark.parametrize(
    ("kind", "param", "words"),
    [
        ("FunctionGraph", {}, "func_urn"),
        ("FunctionGraph", {"func_urn": "next"}, "full function URN"),
        ("FunctionGraph", {"func_urn": FG_URN, "extra": 1}, "extra"),
        ("OBS", {"bucket": "AB"}, "bucket must be 3-63"),
        ("OBS", {"bucket": "-abc"}, "bucket must be 3-63"),
        ("OBS", {"bucket": "abc", "expires": 366}, "expires"),
        ("OBS", {"bucket": "abc", "expires": -1}, "expires"),
        ("OBS", {"bucket": "abc", "expires": "5"}, "expires"),
        ("DIS", {"stream_name": ""}, "stream_name"),
        ("DIS", {"stream_name": "a" * 65}, "stream_name"),
        ("DIS", {"stream_name": "has space"}, "stream_name"),
        ("SMN", {"topic_urn": "urn:smn:r:p"}, "topic_urn"),
        ("SMN", {"topic_urn": "arn:aws:sns:r:p:t"}, "topic_urn"),
        ("OBS", "[1, 2]", "must be a JSON object"),
        ("OBS", "{bad", "not valid JSON"),
        ("Kafka", {"topic": "t"}, "destination must be one of FunctionGraph, OBS, DIS, SMN"),
    ],
)
def test_a_param_that_does_not_fit_its_kind_is_refused(kind: str, param: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        DestinationRef.model_validate({"destination": kind, "param": param})


def test_a_param_of_another_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="param of DIS is invalid"):
        DestinationRef.model_validate({"destination": "DIS", "param": {"bucket": "abc"}})


def test_sides_are_independent_and_null_means_none() -> None:
    dis = {"destination": "DIS", "param": {"stream_name": "s"}}
    only_failure = AsyncConfig.model_validate({"destination_config": {"on_failure": dis}})
    assert only_failure.destination_for("success") is None
    ref = only_failure.destination_for("failure")
    assert ref is not None and ref.destination == "DIS"
    assert AsyncConfig.model_validate({"destination_config": None}) == AsyncConfig()
    with pytest.raises(ValidationError, match="on_other"):
        AsyncConfig.model_validate({"destination_config": {"on_other": dis}})


def test_a_stored_config_gives_back_its_policy_alone() -> None:
    stored = StoredAsyncConfig(
        max_async_retry_attempts=0,
        func_urn=FG_URN,
        created_time="2026-01-01T00:00:00+00:00",
        last_modified="2026-01-02T00:00:00+00:00",
    )
    assert stored.policy() == AsyncConfig(max_async_retry_attempts=0)
    assert json.loads(stored.model_dump_json())["func_urn"] == FG_URN


def test_configs_are_frozen() -> None:
    config = AsyncConfig()
    with pytest.raises(ValidationError):
        config.max_async_retry_attempts = 2  # type: ignore[misc]
