"""Schema-driven fuzz of the HTTP API: no request generated from its OpenAPI document, valid or
not, may make it answer 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from api_server import PROJECT, TOKEN, ApiServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

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


@pytest.mark.parametrize(("method", "path", "function", "mode"), _variants())
@BOUNDED
@given(data=st.data())
def test_generated_requests_get_no_server_error(
    api: ApiServer,
    schema: Any,
    method: str,
    path: str,
    function: str | None,
    mode: GenerationMode,
    data: st.DataObject,
) -> None:
    # Generated project ids would all stop at the credential check, which has its own tests;
    # the token's project lets generated values reach the operations themselves.
    fixed = {"project_id": PROJECT} | ({"function_urn": function} if function else {})
    case = data.draw(schema[path][method].as_strategy(mode, path_parameters=fixed))
    response = case.call(base_url=api.url, headers={"X-Auth-Token": TOKEN}, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
    if response.content:
        assert "error_code" in response.json() or response.status_code < 400


def test_health_answers(api: ApiServer) -> None:
    assert httpx.get(f"{api.url}/health").json() == {"status": "ok"}
