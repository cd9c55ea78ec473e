"""The HTTP API's wire models: bodies, numeric error codes, times and markers."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from executor.api.wire import (
    AsyncConfigBody,
    CancelRequest,
    InvocationEntry,
    InvocationList,
    decode_json,
    epoch,
    error_number,
    wire_time,
)
from executor.core.config import AsyncConfig
from executor.core.errors import InvalidParameter
from executor.core.invocation import Invocation, InvocationPage, Status


@pytest.mark.parametrize(
    ("code", "number"),
    [
        ("", 0),
        ("Cancelled", 4208),
        ("RetriesExhausted", 4101),
        ("EventAgeExceeded", 4102),
        ("FSS.0500", 500),
        ("FSS.1051", 1051),
        ("FSS.x", 4100),
        ("whatever", 4100),
    ],
)
def test_error_codes_are_numbers_on_the_wire(code: str, number: int) -> None:
    assert error_number(code) == number


def invocation(**changes: object) -> Invocation:
    fields = {
        "request_id": "r1",
        "function_urn": "urn:fss:r1:p1:function:default:f:latest",
        "status": Status.FAIL,
        "enqueued_at": 1597924800.0,
        "deadline": 1597928400.0,
        "started_at": 1597924801.9,
        "ended_at": 1597924803.2,
        "error_code": "RetriesExhausted",
        "error_message": "boom",
    } | changes
    return Invocation.model_validate(fields)


def test_an_invocation_entry_has_the_functiongraph_shape() -> None:
    entry = InvocationEntry.of(invocation())
    assert json.loads(entry.model_dump_json()) == {
        "request_id": "r1",
        "status": "FAIL",
        "error_message": "boom",
        "error_code": 4101,
        "start_time": "2020-08-20T12:00:01",
        "end_time": "2020-08-20T12:00:03",
    }


def test_a_waiting_invocation_starts_at_acceptance_and_has_no_end() -> None:
    entry = InvocationEntry.of(
        invocation(status=Status.WAIT, started_at=None, ended_at=None, error_code="")
    )
    assert (entry.start_time, entry.end_time, entry.error_code) == ("2020-08-20T12:00:00", "", 0)


@pytest.mark.parametrize(("marker", "number"), [("7", 7), (None, None), ("x", None)])
def test_a_list_carries_a_numeric_next_marker(marker: str | None, number: int | None) -> None:
    page = InvocationPage(invocations=(invocation(),), count=1, next_marker=marker)
    listed = InvocationList.of(page)
    assert (listed.count, listed.next_marker) == (1, number)
    assert listed.invocations[0].request_id == "r1"


def test_a_config_body_accepts_the_sdk_log_fields_and_keeps_only_the_policy() -> None:
    body = AsyncConfigBody.model_validate(
        {"max_async_retry_attempts": 2, "log_group_id": "g", "log_stream_name": "s"}
    )
    assert body.policy() == AsyncConfig(max_async_retry_attempts=2)
    with pytest.raises(ValidationError):
        AsyncConfigBody.model_validate({"log_group": "typo"})


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"request_id": "r1"}, True),
        ({"request_id": "r1", "type": "force"}, True),
        ({"request_id": "r1", "type": "recursive"}, True),
        ({"request_id": "r1", "type": "hard"}, False),
        ({"request_id": ""}, False),
        ({"request_id": "x" * 129}, False),
        ({}, False),
        ({"request_id": "r1", "other": 1}, False),
    ],
)
def test_cancel_requests_are_validated(body: dict, ok: bool) -> None:
    if ok:
        assert CancelRequest.model_validate(body).request_id == "r1"
    else:
        with pytest.raises(ValidationError):
            CancelRequest.model_validate(body)


@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"", None), (b"  \n", None), (b'{"a":1}', {"a": 1}), (b"[1]", [1]), (b'"x"', "x")],
)
def test_bodies_decode_as_json(raw: bytes, value: object) -> None:
    assert decode_json(raw) == value


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{bad", "line 1, column 2"),
        (b'{"a":"\xff"}', "not UTF-8"),
        (b"NaN", "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_bodies_that_are_not_json_are_refused_with_a_reason(raw: bytes, words: str) -> None:
    with pytest.raises(InvalidParameter, match=words):
        decode_json(raw)


def test_times_are_utc() -> None:
    from datetime import datetime, timedelta, timezone

    assert wire_time(0) == "1970-01-01T00:00:00"
    assert epoch(None) is None
    assert epoch(datetime(1970, 1, 1, 1)) == 3600
    assert epoch(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 0
