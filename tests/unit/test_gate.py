"""The API's gate hands a route a body only once all of it has arrived, in time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from executor.api.auth import Authenticator
from executor.api.gate import Gate
from executor.core.errors import SettingsInvalid
from executor.core.settings import Settings, load_settings

PATH = "/v2/p1/fgs/functions/hello/invocations-async"


def run_gate(
    messages: list[dict[str, Any]], *, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Pass one request through the gate: what the application behind it was given as the
    body (one entry per call), and what was sent back to the client."""
    handed: list[bytes] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        handed.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client sends nothing more
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    authenticator = Authenticator.from_settings(Settings(api_anonymous=True))
    gate = Gate(app, authenticator=authenticator, limit=1000, read_timeout=0.2)
    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": headers or [],
    }
    asyncio.run(gate(scope, receive, send))
    return handed, sent


def part(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


DISCONNECT = {"type": "http.disconnect"}


def refusal(sent: list[dict[str, Any]]) -> tuple[int, dict[str, str], dict[str, Any]]:
    start, body = sent[0], sent[1]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body["body"])


def test_a_body_in_parts_is_handed_on_whole() -> None:
    handed, sent = run_gate([part(b'{"t"', True), part(b":1}", False)])
    assert handed == [b'{"t":1}'] and sent[0]["status"] == 202


@pytest.mark.parametrize(
    "messages",
    [[DISCONNECT], [part(b'{"t":1}', True), DISCONNECT], [part(b"", True), DISCONNECT]],
    ids=["nothing", "a-part", "an-empty-part"],
)
def test_a_body_that_ends_in_a_disconnect_reaches_no_route(messages: list[Any]) -> None:
    handed, sent = run_gate(messages)
    assert handed == [] and sent == []


@pytest.mark.parametrize("messages", [[], [part(b'{"t":1}', True)]], ids=["nothing", "a-part"])
def test_a_body_that_stops_arriving_is_408_and_closes(messages: list[Any]) -> None:
    handed, sent = run_gate(messages)
    assert handed == []
    status, headers, error = refusal(sent)
    assert (status, error["error_code"]) == (408, "FSS.0408")
    assert headers["connection"] == "close"
    assert "EXECUTOR_API_READ_TIMEOUT" in error["error_msg"]


@pytest.mark.parametrize(("size", "status"), [(16_000, 202), (16_400, 431)])
def test_headers_are_measured_even_when_they_arrived_whole(size: int, status: int) -> None:
    headers = [(b"x-big", b"a" * size)]
    handed, sent = run_gate([part(b"{}", False)], headers=headers)
    assert sent[0]["status"] == status
    if status == 431:
        _, fields, error = refusal(sent)
        assert error["error_code"] == "FSS.0431" and fields["connection"] == "close"
        assert handed == []


@pytest.mark.parametrize("value", ["0", "-1", "soon", "3601"])
def test_a_read_timeout_that_is_not_a_positive_number_of_seconds_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("EXECUTOR_API_READ_TIMEOUT", value)
    with pytest.raises(SettingsInvalid, match="EXECUTOR_API_READ_TIMEOUT"):
        load_settings()
