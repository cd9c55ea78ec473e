"""Who may call the HTTP API: tokens, AK/SK signatures, anonymous access, secrets in files.

Each refusal must carry its FSS error body and a 401 or 403.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.api_server import (
    AUTH,
    HELLO,
    OTHER_AK,
    OTHER_PROJECT,
    OTHER_SK,
    OTHER_TOKEN,
    PROJECT,
    TOKEN,
    ApiServer,
    Signed,
    refused,
)
from tests.support.services import ROOT, RedisServer, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def signed(api: ApiServer) -> Signed:
    return Signed(api)


def test_token_bound_to_the_project_is_let_in(api: ApiServer, clean: None) -> None:
    response = httpx.get(api.path("hello", "async-invoke-configs"), headers=AUTH)
    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.parametrize(
    ("headers", "status", "code", "words"),
    [
        ({}, 401, "FSS.0401", ("credentials are required",)),
        ({"X-Auth-Token": "not-a-token"}, 401, "FSS.0401", ("X-Auth-Token is not valid",)),
        ({"X-Auth-Token": OTHER_TOKEN}, 403, "FSS.0403", (PROJECT,)),
        ({**AUTH, "X-Project-Id": OTHER_PROJECT}, 403, "FSS.0403", ("X-Project-Id",)),
    ],
    ids=["none", "unknown-token", "other-projects-token", "project-header-mismatch"],
)
def test_tokens_refused(
    api: ApiServer, headers: dict[str, str], status: int, code: str, words: tuple[str, ...]
) -> None:
    response = httpx.get(api.path("hello", "async-invoke-configs"), headers=headers)
    refused(response, status, code, *words)


def test_request_signed_by_the_sdk_signer_is_let_in(signed: Signed, clean: None) -> None:
    body = b'{"max_async_retry_attempts": 2}'
    response = signed.send("PUT", "async-invoke-config", body=body)
    assert response.status_code == 200, response.text
    assert response.json()["max_async_retry_attempts"] == 2
    listed = signed.send("GET", "async-invoke-configs", query=(("limit", "5"), ("marker", "0")))
    assert listed.json()["count"] == 1


def test_signature_within_the_replay_window_is_let_in(signed: Signed) -> None:
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    response = signed.send("GET", "async-invoke-configs", date=ten_minutes_ago)
    assert response.status_code == 200, response.text


def tampered_cases() -> list[Any]:
    body = b'{"max_async_retry_attempts": 1}'
    return [
        pytest.param({"sk": "wrong-secret"}, 401, "FSS.0401", "does not match", id="wrong-sk"),
        pytest.param({"ak": "UNKNOWNKEY"}, 401, "FSS.0401", "not known", id="unknown-ak"),
        pytest.param(
            {"method": "PUT", "body": body, "send_body": body.replace(b"1", b"3")},
            401,
            "FSS.0401",
            "does not match",
            id="body-changed",
        ),
        pytest.param(
            {"query": (("limit", "5"),), "send_query": "limit=6"},
            401,
            "FSS.0401",
            "does not match",
            id="query-changed",
        ),
        pytest.param(
            {"send_function": "sink"}, 401, "FSS.0401", "does not match", id="path-changed"
        ),
        pytest.param(
            {"skew": timedelta(minutes=-16)}, 401, "FSS.0401", "15 minutes", id="date-old"
        ),
        pytest.param(
            {"skew": timedelta(minutes=16)}, 401, "FSS.0401", "15 minutes", id="date-ahead"
        ),
        pytest.param(
            {"ak": OTHER_AK, "sk": OTHER_SK}, 403, "FSS.0403", PROJECT, id="other-projects-key"
        ),
        pytest.param(
            {"headers": {"X-Project-Id": OTHER_PROJECT}},
            403,
            "FSS.0403",
            "X-Project-Id",
            id="project-header-mismatch",
        ),
        pytest.param(
            {"scheme": "SDK-HMAC-SM3"}, 401, "FSS.0401", "not supported", id="other-algorithm"
        ),
        pytest.param(
            {"unsigned": "x-sdk-date"}, 401, "FSS.0401", "must cover", id="date-not-signed"
        ),
    ]


@pytest.mark.parametrize(("change", "status", "code", "words"), tampered_cases())
def test_signatures_refused(
    api: ApiServer, signed: Signed, change: dict[str, Any], status: int, code: str, words: str
) -> None:
    change = dict(change)
    method = change.pop("method", "GET")
    operation = "async-invoke-config" if method == "PUT" else "async-invoke-configs"
    send_body = change.pop("send_body", change.get("body", b""))
    send_query = change.pop("send_query", None)
    send_function = change.pop("send_function", None)
    scheme = change.pop("scheme", None)
    unsigned = change.pop("unsigned", None)
    if "skew" in change:
        # Taken from the clock when the request is signed: the test may run long after collection.
        change["date"] = datetime.now(UTC) + change.pop("skew")
    url, headers = signed.request(method, operation, **change)
    if send_query is not None:
        url = url.split("?")[0] + "?" + send_query
    if send_function is not None:
        url = url.replace(quote(HELLO, safe=""), send_function)
    if scheme is not None:
        headers["Authorization"] = headers["Authorization"].replace("SDK-HMAC-SHA256", scheme)
    if unsigned is not None:
        signed_part = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
        remaining = ";".join(h for h in signed_part.split(";") if h != unsigned)
        headers["Authorization"] = headers["Authorization"].replace(signed_part, remaining)
    response = httpx.request(method, url, headers=headers, content=send_body)
    refused(response, status, code, words)


@pytest.fixture(scope="module")
def open_api(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("secrets")
    tokens, keys = folder / "tokens", folder / "keys"
    tokens.write_text(f"# one per line\nfile-token:{PROJECT}\nfile-other:{OTHER_PROJECT}\n")
    keys.write_text(f"FILEAK:file-secret:{PROJECT}\n")
    server = ApiServer(
        {
            "EXECUTOR_BROKER_URL": redis_server.url,
            "EXECUTOR_PROJECT_ID": PROJECT,
            "EXECUTOR_API_ANONYMOUS": "true",
            "EXECUTOR_API_TOKENS_FILE": str(tokens),
            "EXECUTOR_API_ACCESS_KEYS_FILE": str(keys),
        }
    ).start()
    yield server
    server.stop()


def test_anonymous_access_only_when_enabled_and_secrets_from_files(
    open_api: ApiServer, clean: None
) -> None:
    url = open_api.path("hello", "async-invoke-configs")
    assert httpx.get(url).status_code == 200
    assert httpx.get(url, headers={"X-Auth-Token": "file-token"}).status_code == 200
    refused(httpx.get(url, headers={"X-Auth-Token": TOKEN}), 401, "FSS.0401")
    refused(httpx.get(url, headers={"X-Auth-Token": "file-other"}), 403, "FSS.0403")
    file_signed = Signed(open_api).send(
        "GET", "async-invoke-configs", ak="FILEAK", sk="file-secret"
    )
    assert file_signed.status_code == 200, file_signed.text
    bad = Signed(open_api).send("GET", "async-invoke-configs", ak="FILEAK", sk="guess")
    refused(bad, 401, "FSS.0401")


def test_the_api_will_not_start_without_any_credential(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    entry = "from executor.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", entry, "api", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "EXECUTOR_API_TOKENS" in done.stderr
