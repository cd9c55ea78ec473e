"""``executor api`` in a subprocess on a free loopback port, and helpers to call it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from executor.ops.api_process import ApiProcess
from tests.support.invocations import FAST
from tests.support.services import ROOT, RedisServer

PROJECT = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OTHER_PROJECT = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
TOKEN = "tok-project-main"
OTHER_TOKEN = "tok-project-other"
AK = "HPUAEXAMPLEKEY01"
SK = "sk0123456789abcdefghijklmnopqrstuvwxyzABCD"
OTHER_AK = "HPUAEXAMPLEKEY02"
OTHER_SK = "sk-other-secret-key"

CREDENTIALS = {
    "EXECUTOR_PROJECT_ID": PROJECT,
    "EXECUTOR_API_TOKENS": f"{TOKEN}:{PROJECT},{OTHER_TOKEN}:{OTHER_PROJECT}",
    "EXECUTOR_API_ACCESS_KEYS": f"{AK}:{SK}:{PROJECT},{OTHER_AK}:{OTHER_SK}:{OTHER_PROJECT}",
}


class ApiServer(ApiProcess):
    """``executor api --app functions:app`` from the repository, its log kept for failures."""

    def __init__(
        self, env: Mapping[str, str], *, app: str | None = "tests.apps.functions:app"
    ) -> None:
        path = {"PYTHONPATH": str(ROOT)}
        super().__init__({**env, **path}, app=app, cwd=ROOT)

    def start(self, timeout: float = 30) -> ApiServer:
        super().start(timeout)
        return self

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
        self.log.unlink(missing_ok=True)

    def path(self, function: str, operation: str, project: str = PROJECT) -> str:
        return f"{self.url}/v2/{project}/fgs/functions/{function}/{operation}"


AUTH = {"X-Auth-Token": TOKEN}
HELLO = f"urn:fss:local-1:{PROJECT}:function:default:hello:latest"


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
def api(redis_server: RedisServer) -> Iterator[ApiServer]:
    server = ApiServer({"EXECUTOR_BROKER_URL": redis_server.url, **FAST, **CREDENTIALS}).start()
    yield server
    server.stop()


@pytest.fixture
def clean(env: dict[str, str]) -> None:
    """An empty state store for this test (the ``env`` fixture flushes it)."""
