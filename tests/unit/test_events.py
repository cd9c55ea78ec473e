"""The result event: the exact JSON of the spec, field for field and in order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from executor.core.constants import (
    CONDITION_EVENT_AGE_EXCEEDED,
    CONDITION_RETRIES_EXHAUSTED,
    CONDITION_SUCCESS,
)
from executor.core.events import bounded, build_event, format_timestamp

URN = "urn:fss:cn-north-1:xxxxxxx:function:xxxx:xxxx:latest"
RID = "1167bf8c-87b0-43ab-8f5f-26b16c64f252"


def test_the_spec_example_is_reproduced_byte_for_byte() -> None:
    event = build_event(
        request_id=RID,
        function_urn=URN,
        enqueued_at=1597924800.0,
        condition="",
        invoke_count=0,
        request_payload="",
        response_payload="hello world!",
    )
    assert event.model_dump_json() == (
        '{"timestamp":"2020-08-20T12:00:00.000Z",'
        f'"request_context":{{"request_id":"{RID}","function_urn":"{URN}",'
        '"condition":"","approximate_invoke_count":0},'
        '"request_payload":"",'
        '"response_context":{"status_code":200,"function_error":""},'
        '"response_payload":"hello world!"}'
    )


@pytest.mark.parametrize(
    ("condition", "outcome"),
    [
        (CONDITION_SUCCESS, "success"),
        (CONDITION_RETRIES_EXHAUSTED, "failure"),
        (CONDITION_EVENT_AGE_EXCEEDED, "failure"),
    ],
)
def test_the_condition_picks_the_outcome_and_identity(condition: str, outcome: str) -> None:
    event = build_event(
        request_id="r9",
        function_urn=URN,
        enqueued_at=0,
        condition=condition,
        invoke_count=3,
        request_payload=None,
        status_code=200,
        function_error="" if outcome == "success" else "ValueError: boom",
    )
    assert (event.outcome, event.identity) == (outcome, f"r9:{outcome}")
    body = json.loads(event.model_dump_json())
    assert body["request_context"]["condition"] == condition
    assert body["request_context"]["approximate_invoke_count"] == 3


@pytest.mark.parametrize(
    "payload", [{"a": [1, 2, {"b": None}]}, [1, "two"], "text", 42, 1.5, True, None, "ünïcödé"]
)
def test_payloads_stay_json_values_and_are_not_re_encoded(payload: Any) -> None:
    event = build_event(
        request_id="r",
        function_urn=URN,
        enqueued_at=0,
        condition="",
        invoke_count=1,
        request_payload=payload,
        response_payload=payload,
    )
    body = json.loads(event.model_dump_json())
    assert body["request_payload"] == payload
    assert body["response_payload"] == payload


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (0.0015, "1970-01-01T00:00:00.001Z"),
        (1597924800.999, "2020-08-20T12:00:00.999Z"),
        (1767225599.5, "2025-12-31T23:59:59.500Z"),
    ],
)
def test_timestamps_are_utc_with_milliseconds(epoch: float, text: str) -> None:
    assert format_timestamp(epoch) == text


def test_a_platform_failure_reports_its_status_code() -> None:
    event = build_event(
        request_id="r",
        function_urn=URN,
        enqueued_at=0,
        condition=CONDITION_RETRIES_EXHAUSTED,
        invoke_count=2,
        request_payload={},
        status_code=500,
        function_error="worker lost",
    )
    assert json.loads(event.model_dump_json())["response_context"] == {
        "status_code": 500,
        "function_error": "worker lost",
    }
    assert event.response_payload == ""


@pytest.mark.parametrize(("size", "kept"), [(8, True), (9, True), (10, False)])
def test_bounded_drops_a_value_above_the_limit(size: int, kept: bool) -> None:
    value = "x" * (size - 2)  # JSON adds two quotes
    assert bounded(value, 9) == (value if kept else "")


def test_bounded_counts_bytes_not_characters() -> None:
    assert bounded("é" * 4, 10) == "é" * 4
    assert bounded("é" * 5, 10) == ""
