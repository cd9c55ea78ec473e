"""A payload is checked once at acceptance, and no message can stop a worker.

Payloads that nest too deeply, are not JSON or hold numbers JSON cannot carry are refused by
the client, the CLI and the HTTP API alike, with nothing recorded. Messages that bypass that
check (published straight to the broker) and handlers that misbehave end their invocation FAIL
with a reason, and the worker goes on with the work queued behind them.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest

from executor import Client
from executor.core.errors import InvalidParameter, PayloadTooLarge
from executor.state.writes import NewInvocation
from tests.apps.hardening_functions import app as hardening_app
from tests.support.api_server import AUTH, ApiServer, refused
from tests.support.fleet_services import run_executor
from tests.support.invocations import wait_status

pytestmark = pytest.mark.integration

APP = "tests.apps.hardening_functions:app"


def nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def nested_text(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def known(client: Client) -> Client:
    """A producer that knows the hardening functions without a worker's catalogue."""
    return Client(client.settings, registry=hardening_app.registry)


def recorded(rdb: Any) -> list[str]:
    return sorted(rdb.scan_iter("ae:*inv:*"))


@pytest.mark.parametrize("depth", [65, 100, 500, 1_000, 100_000])
def test_client_refuses_deep_payloads_without_recursion(known, rdb, depth):
    with pytest.raises(InvalidParameter) as refusal:
        known.invoke_async("echo", nested(depth))
    assert refusal.value.code == "FSS.0400"
    assert "nests deeper than 64 levels" in refusal.value.message
    assert recorded(rdb) == []


@pytest.mark.parametrize("depth", [1, 32, 64])
def test_client_accepts_payloads_up_to_the_limit(known, depth):
    request_id = known.invoke_async("echo", nested(depth))
    assert known.get_invocation(request_id).payload == nested(depth)


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (float("nan"), "nan at the top level is not a JSON number"),
        ({"x": [1.0, float("inf")]}, r"inf at x\[1\] is not a JSON number"),
        ({1: "a"}, "keys must be strings"),
        ({"when": object()}, "object values cannot be sent"),
    ],
)
def test_client_refuses_what_json_cannot_carry(known, rdb, payload, words):
    with pytest.raises(InvalidParameter, match=words):
        known.invoke_async("echo", payload)
    assert recorded(rdb) == []


def test_depth_limit_is_a_setting(known, rdb):
    shallow = Client(known.settings.model_copy(update={"payload_max_depth": 3}))
    shallow = Client(shallow.settings, registry=hardening_app.registry)
    with pytest.raises(InvalidParameter, match="deeper than 3 levels"):
        shallow.invoke_async("echo", nested(4))
    assert shallow.invoke_async("echo", nested(3))


def test_size_limit_still_applies(known, rdb):
    with pytest.raises(PayloadTooLarge):
        known.invoke_async("echo", "x" * known.settings.payload_limit)
    assert recorded(rdb) == []


@pytest.fixture
def cli(env):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_executor(*args, env=env)

    return run


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_cli_refuses_deep_payload_in_one_line(cli, rdb, tmp_path, depth):
    path = tmp_path / "payload.json"
    path.write_text(nested_text(depth))
    done = cli("invoke", "echo", "--app", APP, "--payload", f"@{path}")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error FSS.0400: ")
    assert "deep" in lines[0]
    assert recorded(rdb) == []


@pytest.mark.parametrize(
    ("text", "words"), [("{", "not valid JSON"), ('{"n": Infinity}', "Infinity"), ("", "JSON")]
)
def test_cli_refuses_bad_json_in_one_line(cli, rdb, text, words):
    done = cli("invoke", "echo", "--app", APP, "--payload", text)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error FSS.0400: ") and words in done.stderr
    assert recorded(rdb) == []


def test_cli_reads_a_large_payload_from_a_file(cli, rdb, tmp_path, known):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"blob": "x" * 200_000}))
    done = cli("invoke", "echo", "--app", APP, "--payload", f"@{path}")
    assert done.returncode == 0, done.stderr
    assert len(known.get_invocation(done.stdout.strip()).payload["blob"]) == 200_000


def test_cli_missing_payload_file_is_one_line(cli, tmp_path):
    done = cli("invoke", "echo", "--app", APP, "--payload", f"@{tmp_path / 'none.json'}")
    assert done.returncode == 1
    assert done.stderr.startswith("error FSS.0400: --payload: cannot read")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("EXECUTOR_STATUS_RETENTION", "59", "greater than or equal to 60"),
        ("EXECUTOR_STATUS_RETENTION", "soon", "valid integer"),
        ("EXECUTOR_PAYLOAD_MAX_DEPTH", "0", "greater than or equal to 1"),
        ("EXECUTOR_PAYLOAD_MAX_DEPTH", "500", "less than or equal to 200"),
        ("EXECUTOR_MAX_CHAIN_DEPTH", "0", "greater than or equal to 1"),
    ],
)
@pytest.mark.parametrize(
    "command", [("invocations", "show", "x"), ("worker", "--app", APP), ("api", "--app", APP)]
)
def test_settings_not_allowed_are_one_line_naming_the_variable(
    cli, monkeypatch, variable, value, words, command
):
    monkeypatch.setenv(variable, value)
    done = cli(*command)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"error FSS.0400: {variable}={value} ")
    assert words in lines[0]


@pytest.mark.parametrize("depth", [65, 300, 100_000])
def test_api_refuses_deep_payload(api: ApiServer, clean: None, rdb, depth):
    url = api.path("hello", "invocations-async")
    refused(httpx.post(url, headers=AUTH, content=nested_text(depth)), 400, "FSS.0400", "nest")
    assert recorded(rdb) == []


def _publish_raw(client: Client, function: str, payload_text: str) -> str:
    """Record an invocation and publish a hand-made message for it, as a producer that skips
    every check would: the body is written as text, never encoded by this process."""
    entry = client.lookup(client.resolve(function))
    request_id = str(uuid.uuid4())
    now = time.time()
    client.store.transitions.accept(
        NewInvocation(
            request_id=request_id,
            urn=entry.urn,
            enqueued_at=now,
            deadline=now + 600,
            chain=(),
            payload_json="null",
        )
    )
    kwargs = (
        f'{{"payload": {payload_text}, "urn": "{entry.urn}", "chain": [], '
        f'"enqueued_at": {now!r}, "deadline": {now + 600!r}, "origin": ""}}'
    )
    body = f'[[], {kwargs}, {{"callbacks": null, "errbacks": null, "chain": null, "chord": null}}]'
    template = client.celery.amqp.as_task_v2(request_id, entry.task, args=(), kwargs={})
    with client.celery.producer_or_acquire() as producer:
        producer.publish(
            body,
            exchange="",
            routing_key=entry.queue,
            serializer=None,
            content_type="application/json",
            content_encoding="utf-8",
            headers=template.headers,
            **template.properties,
        )
    return request_id


@pytest.mark.parametrize(
    ("pool", "depth", "words"),
    [
        ("prefork", 65, "nests deeper than 64"),
        ("prefork", 500, "nests deeper than 64"),
        ("prefork", 5_000, "could not be read"),
        ("prefork", 100_000, "could not be read"),
        ("solo", 500, "nests deeper than 64"),
    ],
)
def test_deep_message_ends_fail_and_the_worker_goes_on(known, start_worker, pool, depth, words):
    worker = start_worker(APP, pool=pool, concurrency=1)
    poison = [_publish_raw(known, "echo", nested_text(depth)) for _ in range(2)]
    behind = known.invoke_async("echo", {"n": 1})
    wait_status(known, behind, "SUCCESS", timeout=30)
    for request_id in poison:
        record = wait_status(known, request_id, "FAIL")
        assert words in record.error_message
        assert record.attempts == 0
    assert worker.proc is not None and worker.proc.poll() is None
    assert "Unrecoverable error" not in worker.output()


def test_undecodable_body_ends_fail(known, start_worker):
    start_worker(APP, pool="prefork", concurrency=1)
    broken = _publish_raw(known, "echo", '{"unterminated": ')
    behind = known.invoke_async("echo", {"n": 2})
    wait_status(known, behind, "SUCCESS", timeout=30)
    assert "could not be read" in wait_status(known, broken, "FAIL").error_message


@pytest.mark.parametrize(
    ("function", "words"),
    [
        ("unserializable", "not JSON serializable"),
        ("surrogate", "the result: the text at text ('\\ud800') is not valid Unicode"),
        ("recurse", "RecursionError"),
        ("interrupt", "KeyboardInterrupt"),
        ("leave", "SystemExit"),
    ],
)
@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_misbehaving_handler_ends_fail_with_why(known, start_worker, function, words, pool):
    worker = start_worker(APP, pool=pool, concurrency=1)
    known.put_async_config(function, {"max_async_retry_attempts": 0})
    request_id = known.invoke_async(function, {})
    behind = known.invoke_async("echo", {"n": 3})
    record = wait_status(known, request_id, "FAIL", timeout=30)
    assert words in record.error_message
    assert record.attempts == 1
    wait_status(known, behind, "SUCCESS")
    assert worker.proc is not None and worker.proc.poll() is None
