"""Every refusal of the HTTP API: credentials, bad input and unreachable backing services.

Each answer must carry its FSS error body and status; none may be a 500.
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
from api_server import (
    AK,
    CREDENTIALS,
    OTHER_AK,
    OTHER_PROJECT,
    OTHER_SK,
    OTHER_TOKEN,
    PROJECT,
    SK,
    TOKEN,
    ApiServer,
)
from conftest import FAST
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from services import ROOT, RedisServer, free_port

from executor.constants import PAYLOAD_LIMIT

pytestmark = pytest.mark.integration

AUTH = {"X-Auth-Token": TOKEN}
HELLO = f"urn:fss:local-1:{PROJECT}:function:default:hello:latest"


@pytest.fixture(scope="module")
def api(redis_server: RedisServer) -> Iterator[ApiServer]:
    server = ApiServer({"EXECUTOR_BROKER_URL": redis_server.url, **FAST, **CREDENTIALS}).start()
    yield server
    server.stop()


@pytest.fixture
def clean(env: dict[str, str]) -> None:
    """An empty state store for this test (the ``env`` fixture flushes it)."""


def refused(response: httpx.Response, status: int, code: str, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}
    assert body["error_code"] == code
    for word in words:
        assert word in body["error_msg"]
    return str(body["error_msg"])


class Signed:
    """Requests signed by the official SDK's signer, which a test may then tamper with."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api

    def request(
        self,
        method: str,
        operation: str,
        *,
        function: str = HELLO,
        query: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
        ak: str = AK,
        sk: str = SK,
        project: str = PROJECT,
        date: datetime | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, dict[str, str]]:
        path = f"/v2/{project}/fgs/functions/{quote(function, safe='')}/{operation}"
        fields = {"Content-Type": "application/json", **(headers or {})}
        if date is not None:
            fields["X-Sdk-Date"] = date.strftime("%Y%m%dT%H%M%SZ")
        request = SdkRequest(
            method=method,
            schema="http",
            host=f"127.0.0.1:{self.api.port}",
            resource_path=path,
            query_params=list(query),
            header_params=fields,
            body=body,
        )
        Signer(BasicCredentials(ak, sk)).sign(request)
        return request.url, dict(request.header_params)

    def send(
        self, method: str, operation: str, *, send_body: bytes | None = None, **kw: Any
    ) -> httpx.Response:
        url, headers = self.request(method, operation, **kw)
        body = kw.get("body", b"") if send_body is None else send_body
        return httpx.request(method, url, headers=headers, content=body)


@pytest.fixture(scope="module")
def signed(api: ApiServer) -> Signed:
    return Signed(api)


# -- credentials -------------------------------------------------------------------------------


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
    now = datetime.now(UTC)
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
            {"date": now - timedelta(minutes=16)}, 401, "FSS.0401", "15 minutes", id="date-old"
        ),
        pytest.param(
            {"date": now + timedelta(minutes=16)}, 401, "FSS.0401", "15 minutes", id="date-ahead"
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


# -- bad input ---------------------------------------------------------------------------------


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
    refused(httpx.patch(api.path("hello", "cancel"), headers=AUTH), 405, "FSS.0405", "PATCH")


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


# -- anonymous access and secrets from files ---------------------------------------------------


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
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
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
