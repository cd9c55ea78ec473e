"""The flow control endpoints in-process on fakeredis: ``config-max-instance`` and ``flow-config``
with pause and resume, and every refusal leaving the stored config as it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from executor import Client
from executor.api.app import create_api
from executor.api.auth import Authenticator
from executor.state.keys import FLOWS
from tests.support.names import PROJECT, urn

TOKEN = "tok-flow"
HELLO = urn("hello")
BASE = f"/v2/{PROJECT}/fgs/functions"


@pytest.fixture
def web(fake_client: Client) -> TestClient:
    auth = Authenticator({TOKEN: frozenset({PROJECT})}, {})
    web = TestClient(create_api(fake_client, fake_client.settings, authenticator=auth))
    web.headers["X-Auth-Token"] = TOKEN
    return web


def path(function: str, route: str) -> str:
    return f"{BASE}/{function}/{route}"


def stored_row(fake_client: Client, function: str) -> str | None:
    """The raw stored flow config: a refused request must not have written it."""
    row: str | None = fake_client.store.redis.hget(FLOWS, function)  # type: ignore[assignment]
    return row


def test_config_max_instance_put_then_get_answers_functiongraph_fields(
    web: TestClient, fake_client: Client
) -> None:
    put = web.put(path(HELLO, "config-max-instance"), json={"max_instance_num": 7})
    assert put.status_code == 200, put.text
    answer = put.json()
    assert answer["func_urn"] == HELLO
    assert answer["func_name"] == "hello"
    assert answer["namespace"] == PROJECT
    assert answer["package"] == "default"
    assert answer["version"] == "latest"
    assert answer["max_instance_num"] == 7
    assert answer["last_modified"]
    assert web.get(path(HELLO, "config-max-instance")).json() == answer
    assert fake_client.get_flow_config(HELLO).flow.max_instances == 7


def test_config_max_instance_of_a_short_name_and_nothing_stored_is_unlimited(
    web: TestClient, fake_client: Client
) -> None:
    answer = web.get(path("next:latest", "config-max-instance"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["func_urn"] == urn("next")
    assert answer.json()["max_instance_num"] == -1
    assert answer.json()["last_modified"] == ""
    assert stored_row(fake_client, urn("next")) is None


def test_flow_config_change_keeps_the_fields_not_named(web: TestClient) -> None:
    first = web.put(
        path(HELLO, "flow-config"),
        json={"max_instances": 3, "rate_per_second": 2.5, "recursive_loop": "Allow"},
    )
    assert first.status_code == 200, first.text
    assert first.json()["flow"]["rate_per_second"] == 2.5
    changed = web.put(path(HELLO, "flow-config"), json={"max_instances": 9})
    assert changed.status_code == 200, changed.text
    flow = changed.json()["flow"]
    assert (flow["max_instances"], flow["rate_per_second"], flow["recursive_loop"]) == (
        9,
        2.5,
        "Allow",
    )
    removed = web.put(path(HELLO, "flow-config"), json={"rate_per_second": None}).json()["flow"]
    assert removed["rate_per_second"] is None
    assert removed["max_instances"] == 9
    assert removed["recursive_loop"] == "Allow"
    assert web.get(path(HELLO, "flow-config")).json()["flow"] == removed


def test_pause_holds_everything_and_resume_gives_back_the_previous_max(
    web: TestClient, fake_client: Client
) -> None:
    web.put(path(HELLO, "config-max-instance"), json={"max_instance_num": 4})
    paused = web.post(path(HELLO, "flow-config/pause"))
    assert paused.status_code == 200, paused.text
    assert paused.json()["flow"]["max_instances"] == 0
    assert paused.json()["flow"]["paused_from"] == 4
    assert web.get(path(HELLO, "config-max-instance")).json()["max_instance_num"] == 0
    # A second pause must not overwrite the value to give back with 0.
    assert web.post(path(HELLO, "flow-config/pause")).json()["flow"]["paused_from"] == 4
    resumed = web.post(path(HELLO, "flow-config/resume"))
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["flow"]["max_instances"] == 4
    assert resumed.json()["flow"]["paused_from"] is None
    assert fake_client.get_flow_config(HELLO).flow.max_instances == 4


BAD_MAX = [
    {"max_instance_num": -2},
    {"max_instance_num": 100_001},
    {"max_instance_num": "5"},
    {"max_instance_num": True},
    {"max_instance_num": 5.0},
    {"max_instance_num": None},
    {},
    {"max_instance_num": 5, "extra": 1},
]


@pytest.mark.parametrize("body", BAD_MAX)
def test_a_bad_max_instance_num_is_refused_and_changes_nothing(
    web: TestClient, fake_client: Client, body: dict[str, Any]
) -> None:
    fake_client.put_flow_config(HELLO, max_instances=3)
    before = stored_row(fake_client, HELLO)
    refused = web.put(path(HELLO, "config-max-instance"), json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == "FSS.0400"
    assert refused.json()["error_msg"].startswith("invalid body:")
    assert stored_row(fake_client, HELLO) == before
    assert web.get(path(HELLO, "config-max-instance")).json()["max_instance_num"] == 3


BAD_FLOW = [
    '{"max_instances": -2}',
    '{"max_instances": "5"}',
    '{"max_instances": false}',
    '{"max_instances": 1.5}',
    '{"max_instances": null}',
    '{"rate_per_second": 0}',
    '{"rate_per_second": 10000.5}',
    '{"rate_per_second": NaN}',
    '{"rate_per_second": "fast"}',
    '{"rate_per_second": true}',
    '{"recursive_loop": "Forbid"}',
    '{"recursive_loop": null}',
    '{"max_instances": 5, "paused_from": 2}',
    "{}",
    "[]",
    "",
]


@pytest.mark.parametrize("body", BAD_FLOW)
def test_a_bad_flow_config_is_refused_and_changes_nothing(
    web: TestClient, fake_client: Client, body: str
) -> None:
    fake_client.put_flow_config(HELLO, max_instances=3, rate_per_second=2.0)
    before = fake_client.get_flow_config(HELLO)
    refused = web.put(
        path(HELLO, "flow-config"), content=body, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == "FSS.0400"
    assert refused.json()["error_msg"]
    assert fake_client.get_flow_config(HELLO) == before


@pytest.mark.parametrize(
    ("function", "status", "code"),
    [
        (urn("hello", "!prod"), 400, "FSS.1014"),
        ("hello:!prod", 400, "FSS.1014"),
        (urn("ghost"), 404, "FSS.1051"),
        (urn("hello", "prod"), 404, "FSS.1051"),
    ],
)
@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("PUT", "config-max-instance", {"max_instance_num": 2}),
        ("GET", "config-max-instance", None),
        ("PUT", "flow-config", {"max_instances": 2}),
        ("GET", "flow-config", None),
        ("POST", "flow-config/pause", None),
        ("POST", "flow-config/resume", None),
    ],
)
def test_an_alias_or_unknown_function_is_refused_as_the_async_config_routes_refuse_it(
    web: TestClient,
    fake_client: Client,
    function: str,
    status: int,
    code: str,
    method: str,
    route: str,
    body: dict[str, Any] | None,
) -> None:
    refused = web.request(method, path(function, route), json=body)
    assert (refused.status_code, refused.json()["error_code"]) == (status, code), refused.text
    assert refused.json()["error_msg"]
    as_async = web.put(path(function, "async-invoke-config"), json={})
    assert (as_async.status_code, as_async.json()["error_code"]) == (status, code)
    assert fake_client.store.redis.hlen(FLOWS) == 0


def test_the_openapi_document_describes_the_flow_bodies(web: TestClient) -> None:
    document = web.get("/openapi.json").json()
    route = document["paths"]["/v2/{project_id}/fgs/functions/{function_urn}/flow-config"]
    ref = route["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(schema["properties"]) == {"max_instances", "rate_per_second", "recursive_loop"}
    assert schema["additionalProperties"] is False
    max_route = document["paths"][
        "/v2/{project_id}/fgs/functions/{function_urn}/config-max-instance"
    ]
    ref = max_route["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert document["components"]["schemas"][ref.rsplit("/", 1)[-1]]["required"] == [
        "max_instance_num"
    ]
