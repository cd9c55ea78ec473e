"""Refusals of bad input and answers when a backing service is down: each carries its FSS
error body and status, and none is a 500.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from executor.core.constants import PAYLOAD_LIMIT
from tests.support.api_server import (
    AUTH,
    CREDENTIALS,
    HELLO,
    OTHER_PROJECT,
    PROJECT,
    ApiServer,
    refused,
)
from tests.support.services import RedisServer, free_port

pytestmark = pytest.mark.integration


def test_body_at_the_limit_is_accepted_and_durably_recorded(api: ApiServer, clean: None) -> None:
    event = b'"' + b"x" * (PAYLOAD_LIMIT - 2) + b'"'
    response = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, content=event)
    assert response.status_code == 202, response.text
    request_id = response.json()["request_id"]
    listed = httpx.get(
        api.path("hello", "async-invocations"), headers=AUTH, params={"request_id": request_id}
    ).json()
    assert [(i["request_id"], i["status"]) for i in listed["invocations"]] == [(request_id, "WAIT")]


def test_body_over_the_limit_is_413_by_length_and_by_actual_size(api: ApiServer) -> None:
    event = b'"' + b"x" * (PAYLOAD_LIMIT - 1) + b'"'
    url = api.path("hello", "invocations-async")
    refused(httpx.post(url, headers=AUTH, content=event), 413, "FSS.0413", str(PAYLOAD_LIMIT))

    def chunks() -> Iterator[bytes]:
        yield event[: len(event) // 2]
        yield event[len(event) // 2 :]

    chunked = httpx.post(url, headers=AUTH, content=chunks())
    assert "content-length" not in chunked.request.headers
    refused(chunked, 413, "FSS.0413")


@pytest.mark.parametrize(
    ("operation", "method", "body", "words"),
    [
        ("invocations-async", "POST", b'{"name": ', "not valid JSON"),
        ("invocations-async", "POST", b'{"n": NaN}', "NaN"),
        ("invocations-async", "POST", b'{"a": "\xff"}', "UTF-8"),
        ("invocations-async", "POST", b"[" * 100_000 + b"]" * 100_000, "nested"),
        ("async-invoke-config", "PUT", b"{", "not valid JSON"),
        ("async-invoke-config", "PUT", b"[]", "body"),
        ("async-invoke-config", "PUT", b"", "valid dictionary"),
        ("cancel", "POST", b"", "valid dictionary"),
        (
            "async-invoke-config",
            "PUT",
            b'{"max_async_retry_attempts": 4}',
            "max_async_retry_attempts",
        ),
        (
            "async-invoke-config",
            "PUT",
            b'{"max_async_retry_attempts": "1"}',
            "max_async_retry_attempts",
        ),
        (
            "async-invoke-config",
            "PUT",
            b'{"max_async_event_age_in_seconds": 0}',
            "max_async_event_age_in_seconds",
        ),
        (
            "async-invoke-config",
            "PUT",
            b'{"max_async_event_age_in_seconds": 86401}',
            "max_async_event_age_in_seconds",
        ),
        (
            "async-invoke-config",
            "PUT",
            b'{"enable_async_status_log": "yes"}',
            "enable_async_status_log",
        ),
        ("async-invoke-config", "PUT", b'{"retries": 1}', "retries"),
        (
            "async-invoke-config",
            "PUT",
            b'{"destination_config": {"on_failure": {"destination": "OBS", "param": "{\\"bucket\\": 1}"}}}',
            "destination_config.on_failure",
        ),
        (
            "async-invoke-config",
            "PUT",
            b'{"destination_config": {"on_success": {"destination": "FTP", "param": "{}"}}}',
            "destination_config.on_success",
        ),
        ("cancel", "POST", b'{"type": "force"}', "request_id"),
        ("cancel", "POST", b'{"request_id": "r", "type": "gentle"}', "type"),
    ],
)
def test_malformed_or_out_of_range_bodies_are_400_naming_the_field(
    api: ApiServer, operation: str, method: str, body: bytes, words: str
) -> None:
    response = httpx.request(method, api.path("hello", operation), headers=AUTH, content=body)
    refused(response, 400, "FSS.0400", words)


@pytest.mark.parametrize(
    ("operation", "params", "words"),
    [
        ("async-invocations", {"limit": "0"}, "limit"),
        ("async-invocations", {"limit": "501"}, "limit"),
        ("async-invocations", {"limit": "ten"}, "limit"),
        ("async-invocations", {"marker": "-1"}, "marker"),
        ("async-invocations", {"status": "DONE"}, "status"),
        ("async-invocations", {"query_begin_time": "yesterday"}, "query_begin_time"),
        (
            "async-invocations",
            {"query_begin_time": "2024-01-02T00:00:00", "query_end_time": "2024-01-01T00:00:00"},
            "query_begin_time",
        ),
        ("active-async-invocations", {"requests": ",".join(str(i) for i in range(11))}, "requests"),
        ("async-invoke-configs", {"limit": "101"}, "limit"),
        ("async-invoke-configs", {"marker": "first"}, "marker"),
    ],
)
def test_out_of_range_queries_are_400_naming_the_parameter(
    api: ApiServer, operation: str, params: dict[str, str], words: str
) -> None:
    response = httpx.get(api.path("hello", operation), headers=AUTH, params=params)
    refused(response, 400, "FSS.0400", words)


def test_unknown_function_is_404(api: ApiServer, clean: None) -> None:
    invoked = httpx.post(api.path("nosuch", "invocations-async"), headers=AUTH, json={})
    refused(invoked, 404, "FSS.1051", "nosuch")
    configured = httpx.put(api.path("nosuch", "async-invoke-config"), headers=AUTH, json={})
    refused(configured, 404, "FSS.1051", "nosuch")


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_alias_urn_is_refused_on_config_operations(api: ApiServer, method: str) -> None:
    alias = HELLO.replace(":latest", ":!prod")
    response = httpx.request(
        method, api.path(quote(alias, safe=""), "async-invoke-config"), headers=AUTH, json={}
    )
    refused(response, 400, "FSS.1014", "alias")


def test_urn_errors_are_400(api: ApiServer) -> None:
    refused(
        httpx.get(api.path("urn:fss:broken", "async-invoke-config"), headers=AUTH),
        400,
        "FSS.1309",
    )
    elsewhere = HELLO.replace(PROJECT, OTHER_PROJECT)
    refused(
        httpx.get(api.path(elsewhere, "async-invoke-config"), headers=AUTH),
        400,
        "FSS.0400",
        "belongs to project",
    )


def test_missing_config_invocation_and_foreign_cancel_are_404(api: ApiServer, clean: None) -> None:
    refused(httpx.get(api.path("hello", "async-invoke-config"), headers=AUTH), 404, "FSS.0404")
    refused(httpx.delete(api.path("hello", "async-invoke-config"), headers=AUTH), 404, "FSS.0404")
    unknown = httpx.post(api.path("hello", "cancel"), headers=AUTH, json={"request_id": "nope"})
    refused(unknown, 404, "FSS.0404", "nope")
    accepted = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, json={})
    request_id = accepted.json()["request_id"]
    foreign = httpx.post(api.path("sink", "cancel"), headers=AUTH, json={"request_id": request_id})
    refused(foreign, 404, "FSS.0404", request_id)


def test_unknown_paths_and_methods_answer_in_the_error_shape(api: ApiServer) -> None:
    refused(httpx.get(f"{api.url}/v2/{PROJECT}/elsewhere", headers=AUTH), 404, "FSS.0404")
    wrong = httpx.patch(api.path("hello", "cancel"), headers=AUTH)
    refused(wrong, 405, "FSS.0405", "PATCH")
    assert wrong.headers["allow"] == "POST"


BIG = b"7" * 5000


@pytest.mark.parametrize(
    ("operation", "method", "body", "words"),
    [
        ("invocations-async", "POST", b'{"items": [1, ' + BIG + b"]}", "the number at items[1]"),
        ("invocations-async", "POST", BIG, "the number at the top level has 5000 digits"),
        ("invocations-async", "POST", b'{"x": 1e999}', "the number at x is too large"),
        (
            "async-invoke-config",
            "PUT",
            b'{"max_async_retry_attempts": ' + BIG + b"}",
            "the number at max_async_retry_attempts has 5000 digits",
        ),
        ("cancel", "POST", b'{"request_id": ' + BIG + b"}", "the number at request_id"),
    ],
)
def test_a_number_past_the_limits_is_400_naming_where_it_is(
    api: ApiServer, clean: None, rdb, operation: str, method: str, body: bytes, words: str
) -> None:
    response = httpx.request(method, api.path("hello", operation), headers=AUTH, content=body)
    refused(response, 400, "FSS.0400", words, "send it as a string")
    assert not list(rdb.scan_iter("ae:*:inv:*")) and not rdb.keys("ae:{g}:cfg*")


def raw_exchange(api: ApiServer, request: bytes, pause_after: int | None = None) -> bytes:
    """Send ``request`` as it is (optionally in two parts) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as sock:
        if pause_after is None:
            sock.sendall(request)
        else:
            sock.sendall(request[:pause_after])
            time.sleep(0.2)
            sock.sendall(request[pause_after:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def framing_refused(answer: bytes, status: int, *words: str) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)
    assert set(error) == {"error_code", "error_msg"} and error["error_code"] == f"FSS.{status:04d}"
    for word in words:
        assert word in error["error_msg"]


@pytest.mark.parametrize(
    ("framing", "words"),
    [
        (b"Content-Length: abc", ["bad Content-Length"]),
        (b"Content-Length: -1", ["bad Content-Length"]),
        (b"Content-Length: " + b"9" * 30, ["bad Content-Length"]),
        (b"Content-Length: 2\r\nContent-Length: 3", ["conflicting Content-Length"]),
        (b"Transfer-Encoding: gzip", ["Transfer-Encoding"]),
        (b"Bad Header: x\r\nContent-Length: 2", ["illegal header line"]),
    ],
)
def test_the_servers_own_refusals_carry_the_error_body(
    api: ApiServer, framing: bytes, words: list[str]
) -> None:
    path = f"/v2/{PROJECT}/fgs/functions/hello/invocations-async"
    request = f"POST {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {AUTH['X-Auth-Token']}\r\n"
    framing_refused(raw_exchange(api, request.encode() + framing + b"\r\n\r\n{}"), 400, *words)


def test_headers_past_16_kib_are_431_in_the_error_body(api: ApiServer) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17_000 + b"\r\n\r\n"
    framing_refused(raw_exchange(api, request, pause_after=16_500), 431, "smaller headers")


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("X-Auth-Token", 401),
        ("Authorization", 401),
        ("X-Project-Id", 403),
    ],
)
def test_a_write_refused_with_an_8_kib_header_changes_nothing(
    api: ApiServer, clean: None, rdb, header: str, status: int
) -> None:
    url = api.path("hello", "async-invoke-config")
    stored = httpx.put(url, headers=AUTH, json={"max_async_retry_attempts": 1}).json()
    before = {key: rdb.dump(key) for key in rdb.scan_iter("*")}
    big = {**AUTH, header: "x" * 8192}
    answer = httpx.put(url, headers=big, json={"max_async_retry_attempts": 2})
    assert answer.status_code == status, answer.text
    assert {key: rdb.dump(key) for key in rdb.scan_iter("*")} == before
    assert httpx.get(url, headers=AUTH).json() == stored


# -- backing services down ---------------------------------------------------------------------


@pytest.fixture
def dead_everything() -> Iterator[ApiServer]:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    server = ApiServer({"EXECUTOR_BROKER_URL": nowhere, **CREDENTIALS}).start()
    yield server
    server.stop()


def test_unreachable_state_store_is_503_and_never_202(dead_everything: ApiServer) -> None:
    api = dead_everything
    refused(httpx.get(f"{api.url}/health"), 503, "FSS.0500", "cannot be reached")
    invoked = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, json={"a": 1})
    refused(invoked, 503, "FSS.0500", "cannot be reached")
    configured = httpx.put(api.path("hello", "async-invoke-config"), headers=AUTH, json={})
    refused(configured, 503, "FSS.0500")
    refused(httpx.get(api.path("hello", "async-invocations"), headers=AUTH), 503, "FSS.0500")


def test_unreachable_broker_is_503_and_leaves_no_record(
    redis_server: RedisServer, env: dict[str, str]
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = {"EXECUTOR_REDIS_URL": redis_server.url, "EXECUTOR_BROKER_URL": nowhere}
    api = ApiServer({**settings, **CREDENTIALS}).start()
    try:
        invoked = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, json={"a": 1})
        refused(invoked, 503, "FSS.0500", "broker")
        listed = httpx.get(api.path("hello", "async-invocations"), headers=AUTH)
        assert listed.json() == {"invocations": [], "count": 0, "next_marker": None}
    finally:
        api.stop()
