"""The Lambda API in-process on fakeredis: requests signed by botocore's own SigV4 signer and
sent to the app, each refusal checked for Lambda's error type and for what it left stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from executor import Client
from executor.api.app import create_api
from executor.api.auth import Authenticator
from executor.api.console.views import masked_event
from executor.core.agency import Agencies, Agency, OBSAccess, SQSAccess
from executor.core.events import build_event
from executor.core.lambda_record import lambda_record, rendered
from executor.core.registry import FunctionSpec, Registry
from executor.core.urn import parse_urn
from tests.support.names import PROJECT, REGION, urn
from tests.support.sigv4 import AK, HOST, SK, signed

OTHER_AK, OTHER_SK, OTHER_PROJECT = "AKIDOTHER", "other-secret", "p2"
ARN = f"arn:aws:lambda:{REGION}:{PROJECT}:function"


@pytest.fixture
def fake_client(make_client: Any) -> Client:
    """hello's agency grants OBS and SQS."""
    writer = Agency(name="writer", obs=OBSAccess(), sqs=SQSAccess())
    made: Client = make_client(agencies=Agencies({"writer": writer}))
    return made


@pytest.fixture
def web(fake_client: Client) -> TestClient:
    auth = Authenticator(
        {}, {AK: (SK, frozenset({PROJECT})), OTHER_AK: (OTHER_SK, frozenset({OTHER_PROJECT}))}
    )
    return TestClient(create_api(fake_client, fake_client.settings, authenticator=auth))


def call(web: TestClient, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    url, headers = signed(method, path, raw, **kw)
    return web.request(method, url, content=raw, headers=headers)


def queued(fake_client: Client) -> int:
    return sum(fake_client.count_invocations(urn("hello")).values())


def config_path(function: str) -> str:
    return f"/2019-09-25/functions/{quote(function, safe='')}/event-invoke-config"


def refused(response: Any, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == error_type
    body = response.json()
    assert body["Type"] in {"User", "Server"}
    return str(body["message"])


def test_event_invoke_by_name_partial_and_full_arn_queues_one_invocation_each(
    web: TestClient, fake_client: Client
) -> None:
    ids = []
    for name in ("hello", f"{PROJECT}:function:hello", f"{ARN}:hello", f"{ARN}:hello:$LATEST"):
        path = f"/2015-03-31/functions/{quote(name, safe='')}/invocations"
        answer = call(web, "POST", path, {"n": 1}, headers={"X-Amz-Invocation-Type": "Event"})
        assert answer.status_code == 202, answer.text
        assert answer.content == b""
        ids.append(answer.headers["x-amzn-RequestId"])
    for rid in ids:
        record = fake_client.get_invocation(rid)
        assert record.function_urn == urn("hello")
        assert record.payload == {"n": 1}


def test_dry_run_answers_204_and_queues_nothing(web: TestClient, fake_client: Client) -> None:
    path = "/2015-03-31/functions/hello/invocations"
    answer = call(web, "POST", path, {}, headers={"X-Amz-Invocation-Type": "DryRun"})
    assert answer.status_code == 204
    assert queued(fake_client) == 0


def test_request_response_is_refused_and_queues_nothing(
    web: TestClient, fake_client: Client
) -> None:
    answer = call(web, "POST", "/2015-03-31/functions/hello/invocations", {})
    assert "asynchronously" in refused(answer, 400, "InvalidParameterValueException")
    assert queued(fake_client) == 0


def test_unknown_function_and_other_project_are_refused(web: TestClient) -> None:
    invoke = {"X-Amz-Invocation-Type": "Event"}
    missing = call(web, "POST", "/2015-03-31/functions/nobody/invocations", {}, headers=invoke)
    refused(missing, 404, "ResourceNotFoundException")
    other = f"arn:aws:lambda:{REGION}:{OTHER_PROJECT}:function:hello"
    answer = call(
        web,
        "POST",
        f"/2015-03-31/functions/{quote(other, safe='')}/invocations",
        {},
        headers=invoke,
    )
    refused(answer, 403, "AccessDeniedException")


def test_payload_above_the_limit_names_the_engine_setting(
    make_client: Any,
) -> None:
    fake_client = make_client(payload_limit=1000)
    auth = Authenticator({}, {AK: (SK, frozenset({PROJECT}))})
    web = TestClient(create_api(fake_client, fake_client.settings, authenticator=auth))
    answer = call(
        web,
        "POST",
        "/2015-03-31/functions/hello/invocations",
        {"x": "y" * 2000},
        headers={"X-Amz-Invocation-Type": "Event"},
    )
    assert "EXECUTOR_PAYLOAD_LIMIT" in refused(answer, 413, "RequestTooLargeException")
    assert queued(fake_client) == 0


def test_put_get_update_list_delete_event_invoke_config(
    web: TestClient, fake_client: Client
) -> None:
    body = {
        "MaximumRetryAttempts": 1,
        "MaximumEventAgeInSeconds": 120,
        "DestinationConfig": {
            "OnSuccess": {"Destination": f"{ARN}:next"},
            "OnFailure": {"Destination": "arn:aws:s3:::failed-events"},
        },
    }
    put = call(web, "PUT", config_path("hello"), body)
    assert put.status_code == 200, put.text
    answer = put.json()
    assert answer["FunctionArn"] == f"{ARN}:hello:$LATEST"
    assert answer["MaximumRetryAttempts"] == 1
    assert answer["MaximumEventAgeInSeconds"] == 120
    assert answer["DestinationConfig"] == {
        "OnSuccess": {"Destination": f"{ARN}:next:$LATEST"},
        "OnFailure": {"Destination": "arn:aws:s3:::failed-events"},
    }
    assert isinstance(answer["LastModified"], float)
    stored = fake_client.get_async_config("hello")
    assert stored.record_format == "Lambda"
    assert stored.destination_config.on_success is not None
    assert stored.destination_config.on_success.destination == "FunctionGraph"

    post = call(web, "POST", config_path("hello"), {"MaximumRetryAttempts": 0})
    assert post.status_code == 200, post.text
    assert post.json()["MaximumRetryAttempts"] == 0
    assert post.json()["MaximumEventAgeInSeconds"] == 120
    assert post.json()["DestinationConfig"] == answer["DestinationConfig"]

    assert call(web, "GET", config_path("hello")).json() == post.json()
    listing = call(web, "GET", config_path("hello") + "/list", query="MaxItems=1").json()
    assert listing["FunctionEventInvokeConfigs"] == [post.json()]
    assert "NextMarker" not in listing

    assert call(web, "DELETE", config_path("hello")).status_code == 204
    refused(call(web, "GET", config_path("hello")), 404, "ResourceNotFoundException")
    refused(call(web, "DELETE", config_path("hello")), 404, "ResourceNotFoundException")


@pytest.mark.parametrize(
    "body",
    [
        {"MaximumRetryAttempts": 3},
        {"MaximumRetryAttempts": -1},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21601},
        {"MaximumRetryAttempts": "2"},
        {"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:s3:::bucket"}}},
        {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:events:r1:p1:event-bus/x"}}},
        {"DestinationConfig": {"OnFailure": {"Destination": "not-an-arn"}}},
    ],
)
def test_values_outside_lambdas_limits_are_refused_and_store_nothing(
    web: TestClient, fake_client: Client, body: dict[str, Any]
) -> None:
    refused(call(web, "PUT", config_path("hello"), body), 400, "InvalidParameterValueException")
    refused(call(web, "GET", config_path("hello")), 404, "ResourceNotFoundException")


def test_a_functiongraph_config_reads_through_lambda_as_stored(
    web: TestClient, fake_client: Client
) -> None:
    fake_client.put_async_config(
        "next", {"max_async_retry_attempts": 3, "max_async_event_age_in_seconds": 5}
    )
    answer = call(web, "GET", config_path("next")).json()
    assert answer["MaximumRetryAttempts"] == 3
    assert answer["MaximumEventAgeInSeconds"] == 5
    assert fake_client.get_async_config("next").record_format == "FunctionGraph"


def test_functiongraph_answers_keep_their_fields(web: TestClient, fake_client: Client) -> None:
    call(web, "PUT", config_path("next"), {"MaximumRetryAttempts": 1})
    auth = Authenticator({"tok": frozenset({PROJECT})}, {})
    fg = TestClient(create_api(fake_client, fake_client.settings, authenticator=auth))
    got = fg.get(
        f"/v2/{PROJECT}/fgs/functions/{urn('next')}/async-invoke-config",
        headers={"X-Auth-Token": "tok"},
    )
    assert got.status_code == 200, got.text
    assert "record_format" not in got.json()
    refused_body = fg.put(
        f"/v2/{PROJECT}/fgs/functions/{urn('next')}/async-invoke-config",
        headers={"X-Auth-Token": "tok"},
        json={"record_format": "Lambda"},
    )
    assert refused_body.status_code == 400


def test_concurrency_and_recursion_config_are_the_flow_config(
    web: TestClient, fake_client: Client
) -> None:
    assert call(web, "GET", "/2019-09-30/functions/hello/concurrency").json() == {}
    put = call(
        web, "PUT", "/2017-10-31/functions/hello/concurrency", {"ReservedConcurrentExecutions": 4}
    )
    assert put.json() == {"ReservedConcurrentExecutions": 4}
    assert fake_client.get_flow_config("hello").flow.max_instances == 4
    assert call(web, "GET", "/2019-09-30/functions/hello/concurrency").json() == put.json()
    assert call(web, "DELETE", "/2017-10-31/functions/hello/concurrency").status_code == 204
    assert fake_client.get_flow_config("hello").flow.max_instances == -1
    refused(
        call(
            web,
            "PUT",
            "/2017-10-31/functions/hello/concurrency",
            {"ReservedConcurrentExecutions": -1},
        ),
        400,
        "InvalidParameterValueException",
    )

    path = "/2024-08-31/functions/hello/recursion-config"
    assert call(web, "GET", path).json() == {"FunctionName": "hello", "RecursiveLoop": "Terminate"}
    assert call(web, "PUT", path, {"RecursiveLoop": "Allow"}).json() == {"RecursiveLoop": "Allow"}
    assert fake_client.get_flow_config("hello").flow.recursive_loop == "Allow"
    refused(
        call(web, "PUT", path, {"RecursiveLoop": "Maybe"}), 400, "InvalidParameterValueException"
    )


def test_functions_list_and_get(web: TestClient) -> None:
    listing = call(web, "GET", "/2015-03-31/functions/").json()
    names = [f["FunctionName"] for f in listing["Functions"]]
    assert names == ["hello", "next", "strict"]
    page = call(web, "GET", "/2015-03-31/functions/", query="MaxItems=2").json()
    assert [f["FunctionName"] for f in page["Functions"]] == ["hello", "next"]
    rest = call(web, "GET", "/2015-03-31/functions/", query=f"Marker={page['NextMarker']}").json()
    assert [f["FunctionName"] for f in rest["Functions"]] == ["strict"]
    got = call(web, "GET", "/2015-03-31/functions/hello").json()
    assert got["Configuration"]["FunctionArn"] == f"{ARN}:hello"
    assert got["Configuration"]["Version"] == "$LATEST"
    other = call(web, "GET", "/2015-03-31/functions/", key=(OTHER_AK, OTHER_SK)).json()
    assert other["Functions"] == []


# -- SigV4 ------------------------------------------------------------------------------------

INVOKE = "/2015-03-31/functions/hello/invocations"
EVENT = {"X-Amz-Invocation-Type": "Event"}


def test_wrong_secret_stale_date_and_tampered_body_are_refused_and_queue_nothing(
    web: TestClient, fake_client: Client
) -> None:
    body = b'{"n":1}'
    wrong = call(web, "POST", INVOKE, body, key=(AK, "not-the-secret"), headers=EVENT)
    refused(wrong, 403, "InvalidSignatureException")
    stale = call(
        web, "POST", INVOKE, body, headers=EVENT, at=datetime.now(UTC) - timedelta(minutes=6)
    )
    refused(stale, 403, "InvalidSignatureException")
    url, headers = signed("POST", INVOKE, body, headers=EVENT)
    tampered = web.post(url, content=b'{"n":2}', headers=headers)
    refused(tampered, 403, "InvalidSignatureException")
    unknown = call(web, "POST", INVOKE, body, key=("AKIDNOBODY", SK), headers=EVENT)
    refused(unknown, 403, "UnrecognizedClientException")
    unsigned = web.post(f"http://{HOST}{INVOKE}", content=body, headers=EVENT)
    refused(unsigned, 403, "MissingAuthenticationTokenException")
    assert queued(fake_client) == 0


def test_a_date_within_five_minutes_is_accepted(web: TestClient) -> None:
    answer = call(
        web, "POST", INVOKE, b"{}", headers=EVENT, at=datetime.now(UTC) - timedelta(minutes=4)
    )
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    ("changes", "word"),
    [({"region": "us-east-1"}, "region"), ({"service": "s3"}, "service")],
)
def test_a_scope_of_another_region_or_service_is_refused(
    web: TestClient, changes: dict[str, str], word: str
) -> None:
    answer = call(web, "POST", INVOKE, b"{}", headers=EVENT, **changes)
    assert word in refused(answer, 403, "InvalidSignatureException")


def test_a_content_hash_that_is_not_the_bodys_is_refused(web: TestClient) -> None:
    answer = call(
        web,
        "POST",
        INVOKE,
        b"{}",
        headers={**EVENT, "X-Amz-Content-SHA256": "0" * 64},
    )
    assert "X-Amz-Content-SHA256" in refused(answer, 403, "InvalidSignatureException")


def test_a_signature_that_leaves_out_the_date_header_is_refused(web: TestClient) -> None:
    url, headers = signed("POST", INVOKE, b"{}", headers=EVENT)
    authorization = headers["Authorization"]
    parts = dict(p.split("=", 1) for p in authorization.split(" ", 1)[1].split(", "))
    names = [n for n in parts["SignedHeaders"].split(";") if n != "x-amz-date"]
    headers["Authorization"] = authorization.replace(parts["SignedHeaders"], ";".join(names))
    answer = web.post(url, content=b"{}", headers=headers)
    assert "x-amz-date" in refused(answer, 403, "InvalidSignatureException")


# -- the record -------------------------------------------------------------------------------


def test_lambda_record_of_a_failure_and_functiongraph_event_unchanged() -> None:
    event = build_event(
        request_id="r-1",
        function_urn=urn("hello"),
        enqueued_at=1_600_000_000.5,
        condition="RetriesExhausted",
        invoke_count=3,
        request_payload={"n": 1},
        function_error="ValueError: always fails",
    )
    assert rendered(event, "FunctionGraph") == event.model_dump_json()
    assert lambda_record(event) == {
        "version": "1.0",
        "timestamp": "2020-09-13T12:26:40.500Z",
        "requestContext": {
            "requestId": "r-1",
            "functionArn": f"{ARN}:hello:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"n": 1},
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {"errorType": "ValueError", "errorMessage": "always fails"},
    }
    success = build_event(
        request_id="r-2",
        function_urn=urn("hello", "v1"),
        enqueued_at=0,
        condition="",
        invoke_count=1,
        request_payload={},
        response_payload={"ok": True},
    )
    record = lambda_record(success)
    assert record["requestContext"]["condition"] == "Success"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "v1"}
    assert record["responsePayload"] == {"ok": True}


def test_the_console_masks_the_payloads_of_lambdas_record() -> None:
    record = {"version": "1.0", "requestPayload": {"card": 1}, "responsePayload": {"ok": 1}}
    assert masked_event(record) == {
        "version": "1.0",
        "requestPayload": "<masked>",
        "responsePayload": "<masked>",
    }


def test_the_api_that_last_wrote_the_config_chooses_the_record(
    web: TestClient, fake_client: Client
) -> None:
    assert call(web, "PUT", config_path("next"), {"MaximumRetryAttempts": 1}).status_code == 200
    assert fake_client.get_async_config("next").record_format == "Lambda"
    auth = Authenticator({"tok": frozenset({PROJECT})}, {})
    fg = TestClient(create_api(fake_client, fake_client.settings, authenticator=auth))
    put = fg.put(
        f"/v2/{PROJECT}/fgs/functions/{urn('next')}/async-invoke-config",
        headers={"X-Auth-Token": "tok"},
        json={"max_async_retry_attempts": 3},
    )
    assert put.status_code == 200, put.text
    assert fake_client.get_async_config("next").record_format == "FunctionGraph"
    assert call(web, "POST", config_path("next"), {}).status_code == 200
    assert fake_client.get_async_config("next").record_format == "Lambda"
    assert fake_client.get_async_config("next").max_async_retry_attempts == 3


def test_functions_list_shows_latest_unless_every_version_is_asked(
    web: TestClient, registry: Registry
) -> None:
    registry.add(
        FunctionSpec(
            urn=parse_urn(urn("hello", "v1"), region=REGION, project=PROJECT),
            handler=lambda payload, context: payload,
            queue="q-hello",
        )
    )
    latest = call(web, "GET", "/2015-03-31/functions/").json()["Functions"]
    assert [(f["FunctionName"], f["Version"]) for f in latest] == [
        ("hello", "$LATEST"),
        ("next", "$LATEST"),
        ("strict", "$LATEST"),
    ]
    every = call(web, "GET", "/2015-03-31/functions/", query="FunctionVersion=ALL").json()
    assert ("hello", "v1") in [(f["FunctionName"], f["Version"]) for f in every["Functions"]]
    got = call(web, "GET", "/2015-03-31/functions/hello", query="Qualifier=v1").json()
    assert got["Configuration"]["FunctionArn"] == f"{ARN}:hello:v1"


def test_the_older_invoke_async_queues_and_answers_its_status(
    web: TestClient, fake_client: Client
) -> None:
    answer = call(web, "POST", "/2014-11-13/functions/hello/invoke-async", {"n": 3})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"Status": 202}
    assert fake_client.get_invocation(answer.headers["x-amzn-RequestId"]).payload == {"n": 3}


def test_reserved_concurrency_zero_sends_lambda_invocations_to_on_failure(
    web: TestClient, fake_client: Client
) -> None:
    config = {"DestinationConfig": {"OnFailure": {"Destination": f"{ARN}:next"}}}
    assert call(web, "PUT", config_path("hello"), config).status_code == 200
    zero = {"ReservedConcurrentExecutions": 0}
    assert call(web, "PUT", "/2017-10-31/functions/hello/concurrency", zero).status_code == 200
    answer = call(web, "POST", INVOKE, {"n": 1}, headers=EVENT)
    assert answer.status_code == 202, answer.text
    record = fake_client.get_invocation(answer.headers["x-amzn-RequestId"])
    assert record.status.value == "FAIL"
    assert record.attempts == 0
    assert record.error_code == "ZeroReservedConcurrency"
    stored = fake_client.store.records.record(record.request_id)
    assert stored is not None
    event = stored.event()
    assert event is not None
    assert event["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert event["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in event
    # Invocations from elsewhere wait for the pause to end, as they always did.
    waiting = fake_client.invoke_async("hello", {"n": 2})
    assert fake_client.get_invocation(waiting).status.value == "WAIT"
