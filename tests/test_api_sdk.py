"""Compatibility proof: Huawei Cloud's official FunctionGraph SDK, unchanged, drives the API.

The SDK signs every request with AK/SK (SDK-HMAC-SHA256), percent-encodes the URN in the path
and parses the responses into its own models, so each step below passes only if the server
verifies the signature the way the SDK computes it and answers in the shapes it expects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkfunctiongraph.v2 import (
    AsyncInvokeFunctionRequest,
    CancelAsyncInvocationRequest,
    CancelAsyncInvocationRequestBody,
    DeleteFunctionAsyncInvokeConfigRequest,
    FuncAsyncDestinationConfig,
    FuncDestinationConfig,
    FunctionGraphClient,
    ListActiveAsyncInvocationsRequest,
    ListAsyncInvocationsRequest,
    ListFunctionAsyncInvokeConfigRequest,
    ShowFunctionAsyncInvokeConfigRequest,
    UpdateFunctionAsyncInvokeConfigRequest,
    UpdateFunctionAsyncInvokeConfigRequestBody,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.api_server import AK, HELLO, OTHER_PROJECT, PROJECT, SK, ApiServer
from tests.support.services import Worker

pytestmark = pytest.mark.integration

SINK = f"urn:fss:local-1:{PROJECT}:function:default:sink:latest"
HEAVY = f"urn:fss:local-1:{PROJECT}:function:default:heavy:latest"


def sdk(api: ApiServer, project: str = PROJECT) -> FunctionGraphClient:
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    return (
        FunctionGraphClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(AK, SK, project))
        .with_endpoints([api.url])
        .build()
    )


def until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s: {check}")


def test_official_sdk_manages_configs_invokes_lists_and_cancels(
    api: ApiServer,
    start_worker: Callable[..., Worker],
    events: Callable[..., list[dict[str, Any]]],
) -> None:
    # No worker consumes the heavy queue, so heavy's invocation waits until it is cancelled.
    # One shared queue (fair queues off) keeps heavy's own queue apart from it.
    start_worker(
        env={"EXECUTOR_PROJECT_ID": PROJECT, "EXECUTOR_FAIR_QUEUES": "0"},
        queues="executor.invocations,executor.deliveries",
    )
    client = sdk(api)
    param = json.dumps({"func_urn": SINK})
    body = UpdateFunctionAsyncInvokeConfigRequestBody(
        max_async_event_age_in_seconds=600,
        max_async_retry_attempts=0,
        destination_config=FuncAsyncDestinationConfig(
            on_success=FuncDestinationConfig(destination="FunctionGraph", param=param)
        ),
        enable_async_status_log=True,
    )

    updated = client.update_function_async_invoke_config(
        UpdateFunctionAsyncInvokeConfigRequest(function_urn=HELLO, body=body)
    )
    assert updated.func_urn == HELLO
    assert updated.max_async_retry_attempts == 0
    assert json.loads(updated.destination_config.on_success.param) == {"func_urn": SINK}

    shown = client.show_function_async_invoke_config(
        ShowFunctionAsyncInvokeConfigRequest(function_urn=HELLO)
    )
    assert (shown.max_async_event_age_in_seconds, shown.enable_async_status_log) == (600, True)
    assert shown.destination_config.on_success.destination == "FunctionGraph"
    assert shown.created_time == updated.created_time

    listed = client.list_function_async_invoke_config(
        ListFunctionAsyncInvokeConfigRequest(function_urn=HELLO, limit="10")
    )
    assert listed.count == 1
    assert [c.func_urn for c in listed.async_invoke_configs] == [HELLO]
    assert listed.page_info.current_count == 1

    accepted = client.async_invoke_function(
        AsyncInvokeFunctionRequest(function_urn=HELLO, body={"name": "sdk"})
    )
    assert accepted.status_code == 202
    [event] = events(1)
    assert event["request_context"]["request_id"] == accepted.request_id
    assert event["response_payload"] == {"greeting": "hello sdk", "attempt": 1}

    def finished() -> Any:
        page = client.list_async_invocations(
            ListAsyncInvocationsRequest(
                function_urn=HELLO,
                request_id=accepted.request_id,
                query_begin_time=datetime.now(UTC) - timedelta(minutes=5),
            )
        )
        return page if page.invocations and page.invocations[0].status == "SUCCESS" else None

    [entry] = until(finished).invocations
    assert entry.request_id == accepted.request_id
    assert entry.error_code == 0
    assert isinstance(entry.start_time, datetime)
    assert entry.end_time

    waiting = client.async_invoke_function(
        AsyncInvokeFunctionRequest(function_urn=HEAVY, body={"n": 1})
    ).request_id
    active = client.list_active_async_invocations(
        ListActiveAsyncInvocationsRequest(function_urn=HEAVY, limit="10")
    )
    assert [(i.request_id, i.status) for i in active.invocations] == [(waiting, "WAIT")]

    cancelled = client.cancel_async_invocation(
        CancelAsyncInvocationRequest(
            function_urn=HEAVY,
            body=CancelAsyncInvocationRequestBody(request_id=waiting, type="force"),
        )
    )
    assert cancelled.status_code == 200
    active = client.list_active_async_invocations(
        ListActiveAsyncInvocationsRequest(function_urn=HEAVY, requests=waiting)
    )
    assert active.invocations == []
    discarded = client.list_async_invocations(
        ListAsyncInvocationsRequest(function_urn=HEAVY, status="DISCARD", limit="5")
    )
    assert [(i.request_id, i.error_code) for i in discarded.invocations] == [(waiting, 4208)]

    deleted = client.delete_function_async_invoke_config(
        DeleteFunctionAsyncInvokeConfigRequest(function_urn=HELLO)
    )
    assert deleted.status_code == 204
    with pytest.raises(ClientRequestException) as missing:
        client.show_function_async_invoke_config(
            ShowFunctionAsyncInvokeConfigRequest(function_urn=HELLO)
        )
    assert (missing.value.status_code, missing.value.error_code) == (404, "FSS.0404")


def test_official_sdk_receives_refusals_as_fss_errors(api: ApiServer) -> None:
    client = sdk(api)
    alias = HELLO.replace(":latest", ":!prod")
    with pytest.raises(ClientRequestException) as refused:
        client.update_function_async_invoke_config(
            UpdateFunctionAsyncInvokeConfigRequest(
                function_urn=alias, body=UpdateFunctionAsyncInvokeConfigRequestBody()
            )
        )
    assert (refused.value.status_code, refused.value.error_code) == (400, "FSS.1014")

    with pytest.raises(ClientRequestException) as denied:
        sdk(api, project=OTHER_PROJECT).show_function_async_invoke_config(
            ShowFunctionAsyncInvokeConfigRequest(function_urn=HELLO)
        )
    assert (denied.value.status_code, denied.value.error_code) == (403, "FSS.0403")

    wrong = (
        FunctionGraphClient.new_builder()
        .with_credentials(BasicCredentials(AK, "not-the-secret", PROJECT))
        .with_endpoints([api.url])
        .build()
    )
    with pytest.raises(ClientRequestException) as unsigned:
        wrong.show_function_async_invoke_config(
            ShowFunctionAsyncInvokeConfigRequest(function_urn=HELLO)
        )
    assert (unsigned.value.status_code, unsigned.value.error_code) == (401, "FSS.0401")


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(function=st.text(min_size=1, max_size=30), request_id=st.text(min_size=1, max_size=30))
def test_sdk_signatures_verify_whatever_the_path_and_query_hold(
    api: ApiServer, function: str, request_id: str
) -> None:
    """Arbitrary text in the URN and the query goes through the SDK's encoding and signing;
    the server may refuse the values, but never the signature."""
    request = ListAsyncInvocationsRequest(function_urn=function, request_id=request_id)
    try:
        sdk(api).list_async_invocations(request)
    except ClientRequestException as exc:
        code, message = exc.error_code, exc.error_msg
    else:
        code, message = "", ""
    assert code in {"", "FSS.0400", "FSS.1309", "FSS.0404"}, message
