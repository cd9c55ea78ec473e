"""Schema-driven fuzz of the HTTP API: no request generated from its OpenAPI document, valid or
not, may make it answer 500, and a write it refuses changes nothing in the state store."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.support.api_server import PROJECT, TOKEN, ApiServer

pytestmark = pytest.mark.integration

PREFIX = "/v2/{project_id}/fgs/functions/{function_urn}"
OPERATIONS = [
    ("PUT", f"{PREFIX}/async-invoke-config"),
    ("GET", f"{PREFIX}/async-invoke-config"),
    ("DELETE", f"{PREFIX}/async-invoke-config"),
    ("GET", f"{PREFIX}/async-invoke-configs"),
    ("POST", f"{PREFIX}/invocations-async"),
    ("GET", f"{PREFIX}/async-invocations"),
    ("GET", f"{PREFIX}/active-async-invocations"),
    ("POST", f"{PREFIX}/cancel"),
    ("PUT", f"{PREFIX}/config-max-instance"),
    ("GET", f"{PREFIX}/config-max-instance"),
    ("PUT", f"{PREFIX}/flow-config"),
    ("GET", f"{PREFIX}/flow-config"),
    ("POST", f"{PREFIX}/flow-config/pause"),
    ("POST", f"{PREFIX}/flow-config/resume"),
]
BOUNDED = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def document(api: ApiServer) -> dict[str, Any]:
    response = httpx.get(f"{api.url}/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.fixture(scope="module")
def schema(document: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(document)


def test_the_fuzz_covers_every_operation_of_the_document(document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if path != "/health"
    }
    assert documented == set(OPERATIONS)


# With every path parameter fixed, these have neither a query nor a typed body left to break.
NOTHING_TO_BREAK = {
    ("GET", f"{PREFIX}/async-invoke-config"),
    ("DELETE", f"{PREFIX}/async-invoke-config"),
    ("POST", f"{PREFIX}/invocations-async"),
    ("GET", f"{PREFIX}/config-max-instance"),
    ("GET", f"{PREFIX}/flow-config"),
    ("POST", f"{PREFIX}/flow-config/pause"),
    ("POST", f"{PREFIX}/flow-config/resume"),
}


def _variants() -> list[Any]:
    variants = []
    for method, path in OPERATIONS:
        for function in (None, "hello"):
            for mode in GenerationMode:
                if (
                    function
                    and mode is GenerationMode.NEGATIVE
                    and (method, path) in NOTHING_TO_BREAK
                ):
                    continue
                label = f"{method} {path.removeprefix(PREFIX)} {function or 'any'} {mode.value}"
                variants.append(pytest.param(method, path, function, mode, id=label))
    return variants


WRITES = {
    ("PUT", f"{PREFIX}/async-invoke-config"),
    ("DELETE", f"{PREFIX}/async-invoke-config"),
    ("POST", f"{PREFIX}/invocations-async"),
    ("POST", f"{PREFIX}/cancel"),
    ("PUT", f"{PREFIX}/config-max-instance"),
    ("PUT", f"{PREFIX}/flow-config"),
    ("POST", f"{PREFIX}/flow-config/pause"),
    ("POST", f"{PREFIX}/flow-config/resume"),
}


def snapshot(rdb: redis.Redis) -> dict[str, Any]:
    """Every key of the store with its value, read by its type."""
    found: dict[str, Any] = {}
    for key in sorted(rdb.scan_iter("*")):
        kind = rdb.type(key)
        if kind == "string":
            found[key] = rdb.get(key)
        elif kind == "hash":
            found[key] = rdb.hgetall(key)
        elif kind == "list":
            found[key] = rdb.lrange(key, 0, -1)
        elif kind == "set":
            found[key] = sorted(rdb.smembers(key))
        elif kind == "zset":
            found[key] = rdb.zrange(key, 0, -1, withscores=True)
        else:
            found[key] = kind
    return found


@pytest.fixture(scope="module")
def seeded(api: ApiServer, redis_server: Any) -> redis.Redis:
    """A stored config and a waiting invocation, for generated writes to find."""
    rdb = redis.Redis(port=redis_server.port, decode_responses=True)
    headers = {"X-Auth-Token": TOKEN}
    base = f"{api.url}/v2/{PROJECT}/fgs/functions/hello"
    stored = httpx.put(f"{base}/async-invoke-config", headers=headers, json={})
    assert stored.status_code == 200, stored.text
    invoked = httpx.post(f"{base}/invocations-async", headers=headers, json={"n": 1})
    assert invoked.status_code == 202, invoked.text
    return rdb


@pytest.mark.parametrize(("method", "path", "function", "mode"), _variants())
@BOUNDED
@given(data=st.data())
def test_generated_requests_get_no_server_error_and_refused_writes_change_nothing(
    api: ApiServer,
    schema: Any,
    seeded: redis.Redis,
    method: str,
    path: str,
    function: str | None,
    mode: GenerationMode,
    data: st.DataObject,
) -> None:
    # Generated project ids and signatures would all stop at the credential check, which has
    # its own tests: the token's project, and no generated Authorization, let generated values
    # reach the operations themselves.
    fixed = {"project_id": PROJECT} | ({"function_urn": function} if function else {})
    case = data.draw(schema[path][method].as_strategy(mode, path_parameters=fixed))
    if case.headers:
        case.headers.pop("Authorization", None)
    before = snapshot(seeded) if (method, path) in WRITES else None
    response = case.call(base_url=api.url, headers={"X-Auth-Token": TOKEN}, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        assert response.status_code != 401, response.text
        assert set(response.json()) == {"error_code", "error_msg"}
        if before is not None:
            assert snapshot(seeded) == before, (response.status_code, response.text)


def test_health_answers(api: ApiServer) -> None:
    assert httpx.get(f"{api.url}/health").json() == {"status": "ok"}
