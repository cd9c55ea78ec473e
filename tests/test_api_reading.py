"""A request reaches the engine only once its whole body has arrived: a body cut short, one
whose framing breaks midway and one that does not arrive in time change nothing in the state
store, over raw sockets against a real ``executor api``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.support.api_server import AUTH, CREDENTIALS, PROJECT, ApiServer
from tests.support.invocations import FAST
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration

READ_TIMEOUT = 2


@pytest.fixture(scope="module")
def api(redis_server: RedisServer) -> Iterator[ApiServer]:
    server = ApiServer(
        {
            "EXECUTOR_BROKER_URL": redis_server.url,
            "EXECUTOR_API_READ_TIMEOUT": str(READ_TIMEOUT),
            **FAST,
            **CREDENTIALS,
        }
    ).start()
    yield server
    server.stop()


def waiting_invocation(api: ApiServer) -> str:
    answer = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, json={"w": 1})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["request_id"])


# Each write, with a body that would change the store were it taken as the whole request.
WRITES: dict[str, tuple[str, str, Any]] = {
    "invoke": ("POST", "invocations-async", lambda _: {"t": 1}),
    "config": ("PUT", "async-invoke-config", lambda _: {"max_async_retry_attempts": 2}),
    "flow": ("PUT", "flow-config", lambda _: {"max_instances": 3}),
    "cancel": ("POST", "cancel", lambda request_id: {"request_id": request_id}),
}


def head(method: str, operation: str, framing: str) -> bytes:
    path = f"/v2/{PROJECT}/fgs/functions/hello/{operation}"
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {AUTH['X-Auth-Token']}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()


def exchange(api: ApiServer, data: bytes, *, half_close: bool) -> bytes:
    """Send ``data``, half-close if told, and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=15) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def answered(answer: bytes, status: int) -> tuple[bytes, dict[str, str]]:
    """The headers and the error body of a refusal with ``status``."""
    line, _, rest = answer.partition(b"\r\n")
    assert line.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    error = json.loads(body)
    assert set(error) == {"error_code", "error_msg"} and error["error_code"] == f"FSS.{status:04d}"
    return headers.lower(), error


def snapshot(rdb: redis.Redis) -> dict[Any, Any]:
    return {key: rdb.dump(key) for key in rdb.scan_iter("*")}


def barrier(api: ApiServer) -> None:
    """A complete request answered after the cut one was taken in: the cut one, had it been
    handed to a route, has been written by now."""
    listed = httpx.get(api.path("hello", "async-invocations"), headers=AUTH)
    assert listed.status_code == 200, listed.text


@pytest.fixture
def write(api: ApiServer, clean: None, rdb: redis.Redis, request: pytest.FixtureRequest) -> Any:
    """The method, operation and body of the write named by the test's parameter, with a
    state store holding what it would change (a waiting invocation, a stored config)."""
    method, operation, body = WRITES[request.param]
    request_id = waiting_invocation(api)
    configured = httpx.put(
        api.path("hello", "async-invoke-config"), headers=AUTH, json={"max_async_retry_attempts": 0}
    )
    assert configured.status_code == 200, configured.text
    return method, operation, json.dumps(body(request_id)).encode()


@pytest.mark.parametrize("write", list(WRITES), indirect=True)
@pytest.mark.parametrize("sent", ["part", "nothing"])
def test_a_body_cut_short_by_a_half_close_changes_nothing(
    api: ApiServer, rdb: redis.Redis, write: Any, sent: str
) -> None:
    method, operation, body = write
    before = snapshot(rdb)
    declared = head(method, operation, f"Content-Length: {len(body) + 100}")
    answer = exchange(api, declared + (body if sent == "part" else b""), half_close=True)
    _, error = answered(answer, 400)
    assert "without sending complete message body" in error["error_msg"]
    barrier(api)
    assert snapshot(rdb) == before


def test_a_whole_request_then_a_half_close_is_answered_with_its_request_id(
    api: ApiServer, clean: None, rdb: redis.Redis
) -> None:
    body = b'{"whole": 1}'
    declared = head("POST", "invocations-async", f"Content-Length: {len(body)}")
    answer = exchange(api, declared + body, half_close=True)
    assert answer.startswith(b"HTTP/1.1 202 "), answer[:300]
    request_id = json.loads(answer.partition(b"\r\n\r\n")[2])["request_id"]
    listed = httpx.get(api.path("hello", "async-invocations"), headers=AUTH).json()
    assert [i["request_id"] for i in listed["invocations"]] == [request_id]


@pytest.mark.parametrize("write", list(WRITES), indirect=True)
def test_a_body_whose_chunk_line_is_bad_changes_nothing(
    api: ApiServer, rdb: redis.Redis, write: Any
) -> None:
    method, operation, body = write
    before = snapshot(rdb)
    chunked = head(method, operation, "Transfer-Encoding: chunked")
    answer = exchange(api, chunked + b"%x\r\n%s\r\nzz\r\n" % (len(body), body), half_close=False)
    assert "illegal chunk header" in answered(answer, 400)[1]["error_msg"]
    barrier(api)
    assert snapshot(rdb) == before


@pytest.mark.parametrize("write", list(WRITES), indirect=True)
@pytest.mark.parametrize(
    "framing", ["declared", "endless chunk"], ids=["content-length", "20-hex-digit-chunk"]
)
def test_a_body_that_does_not_arrive_in_time_is_408_and_changes_nothing(
    api: ApiServer, rdb: redis.Redis, write: Any, framing: str
) -> None:
    method, operation, body = write
    before = snapshot(rdb)
    if framing == "declared":
        data = head(method, operation, f"Content-Length: {len(body) + 1000}") + body
    else:
        data = head(method, operation, "Transfer-Encoding: chunked") + b"F" * 20 + b"\r\n" + body
    answer = exchange(api, data, half_close=False)  # the server closes it, or this times out
    headers, refusal = answered(answer, 408)
    assert b"connection: close" in headers
    assert f"within {READ_TIMEOUT} seconds" in refusal["error_msg"]
    assert "EXECUTOR_API_READ_TIMEOUT" in refusal["error_msg"]
    barrier(api)
    assert snapshot(rdb) == before


@pytest.mark.parametrize(
    "sent", [b"", b"POST /v2/p/fgs/functions/hello/invocations-async HTTP/1.1\r\nHo"]
)
def test_a_connection_whose_request_does_not_come_is_closed(api: ApiServer, sent: bytes) -> None:
    # Nothing to answer yet: the server closes it (else this times out after 15 s).
    assert exchange(api, sent, half_close=False) == b""


@pytest.mark.parametrize("size", [17_000, 70_000])
def test_headers_past_16_kib_in_one_read_are_431_and_change_nothing(
    api: ApiServer, clean: None, rdb: redis.Redis, size: int
) -> None:
    body = b'{"t": 1}'
    framing = f"Content-Length: {len(body)}\r\nX-Big: {'a' * size}"
    answer = exchange(api, head("POST", "invocations-async", framing) + body, half_close=False)
    assert "smaller headers" in answered(answer, 431)[1]["error_msg"]
    barrier(api)
    assert not list(rdb.scan_iter("ae:*:inv:*"))
