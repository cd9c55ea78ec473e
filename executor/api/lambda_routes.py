"""AWS Lambda's async API over the same engine: the paths, names and errors of botocore's
``lambda`` service model (``2015-03-31``), so ``boto3.client("lambda")`` and ``aws lambda``
work when pointed at ``executor api``.

Every request is verified with SigV4 (``sigv4``) against the access keys of the settings; a key
reaches only the functions of its projects (the account of an ARN is the project). Every refusal
is Lambda's (``lambda_errors``). Served: ``Invoke`` (Event and DryRun; this engine does not run
a function while the caller waits, so RequestResponse is refused), the event invoke config,
reserved concurrency (the function's ``max_instances``), the recursion config (its
``recursive_loop``), and the listing of functions (those three in ``lambda_function_routes``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse

from executor.api.lambda_call import FUNCTION, Call, LambdaRoute, Qualifier, Verified
from executor.api.lambda_errors import LambdaError, invalid, not_found
from executor.api.lambda_function_routes import function_router
from executor.api.lambda_wire import EventInvokeConfigBody, config_answer, parse_body, updated
from executor.core.config import AsyncConfig
from executor.core.constants import CONDITION_ZERO_RESERVED
from executor.core.errors import ConfigNotFound
from executor.core.payload import PayloadRefused, read_json
from executor.core.urn import FunctionURN

EVENT_LIMIT: Final = 1024 * 1024
LEGACY_LIMIT: Final = 256 * 1024
SERVICE_NAME: Final = "lambda"

lambda_router = APIRouter(route_class=LambdaRoute, tags=["aws-lambda"])


# -- invoke -----------------------------------------------------------------------------------


@lambda_router.post("/2015-03-31" + FUNCTION + "/invocations", status_code=202)
def invoke(
    call: Verified,
    FunctionName: str,
    qualifier: Qualifier = None,
    invocation_type: Annotated[
        str, Header(alias="X-Amz-Invocation-Type", max_length=32)
    ] = "RequestResponse",
) -> Response:
    """``Event`` queues the invocation (202, its id in ``x-amzn-RequestId``); ``DryRun``
    makes the same checks and queues nothing (204)."""
    if invocation_type not in ("Event", "DryRun"):
        raise invalid(
            f"InvocationType {invocation_type[:32]!r} is not served: this engine runs functions "
            "asynchronously. Send InvocationType 'Event' (the request id comes back in the "
            "x-amzn-RequestId header) or 'DryRun'"
        )
    limit = min(EVENT_LIMIT, call.settings.payload_limit)
    payload = _payload(call, limit)
    urn = call.urn(FunctionName, qualifier)
    if invocation_type == "DryRun":
        return Response(status_code=204)
    request_id = call.client.invoke_async(str(urn), payload)
    if call.client.get_flow_config(str(urn)).flow.paused:
        # Lambda's reserved concurrency 0: the event goes to on-failure at once, unretried
        # (it was held back by the pause meanwhile, so nothing ran it).
        call.client.engine.lifecycle.refuse_waiting(
            request_id,
            CONDITION_ZERO_RESERVED,
            "the function's reserved concurrency is 0: the event was not run",
        )
    return Response(status_code=202, headers={"x-amzn-RequestId": request_id})


@lambda_router.post("/2014-11-13" + FUNCTION + "/invoke-async", status_code=202)
def invoke_async(call: Verified, FunctionName: str) -> Response:
    """The older ``InvokeAsync``: 202 with ``{"Status": 202}``."""
    payload = _payload(call, min(LEGACY_LIMIT, call.settings.payload_limit))
    request_id = call.client.invoke_async(str(call.urn(FunctionName)), payload)
    return JSONResponse({"Status": 202}, 202, headers={"x-amzn-RequestId": request_id})


def _payload(call: Call, limit: int) -> Any:
    if len(call.body) > limit:
        why = "" if limit == EVENT_LIMIT else " (EXECUTOR_PAYLOAD_LIMIT of this server)"
        raise LambdaError(
            "RequestTooLargeException",
            413,
            f"Request must be smaller than {limit} bytes{why} for an asynchronous invocation; "
            f"this one is {len(call.body)} bytes",
        )
    if not call.body.strip():
        return {}
    try:
        return read_json(call.body, "the payload")
    except PayloadRefused as exc:
        raise LambdaError("InvalidRequestContentException", 400, exc.message) from None


# -- event invoke config ----------------------------------------------------------------------

CONFIG = "/2019-09-25" + FUNCTION + "/event-invoke-config"


def _no_config(urn: FunctionURN) -> LambdaError:
    return not_found(
        f"The function {urn.name} (version {urn.qualifier}) doesn't have an EventInvokeConfig"
    )


def _store(call: Call, urn: FunctionURN, *, update: bool) -> JSONResponse:
    body = parse_body(call.body, EventInvokeConfigBody)
    try:
        existing: AsyncConfig | None = call.client.get_async_config(str(urn)).policy()
    except ConfigNotFound:
        existing = None
    if update and existing is None:
        raise _no_config(urn)
    config = updated(
        existing if update else None, body, region=call.settings.region, project=urn.project
    )
    if existing is not None:
        # The engine's own status log setting, which Lambda cannot name, carries over.
        config = config.model_copy(
            update={"enable_async_status_log": existing.enable_async_status_log}
        )
    stored = call.client.put_async_config(str(urn), config)
    return JSONResponse(config_answer(stored, region=call.settings.region))


@lambda_router.put(CONFIG)
def put_event_invoke_config(
    call: Verified, FunctionName: str, qualifier: Qualifier = None
) -> JSONResponse:
    """Replace the config: every field not given takes Lambda's default."""
    return _store(call, call.urn(FunctionName, qualifier), update=False)


@lambda_router.post(CONFIG)
def update_event_invoke_config(
    call: Verified, FunctionName: str, qualifier: Qualifier = None
) -> JSONResponse:
    """Change the fields given; the others keep their values."""
    return _store(call, call.urn(FunctionName, qualifier), update=True)


@lambda_router.get(CONFIG)
def get_event_invoke_config(
    call: Verified, FunctionName: str, qualifier: Qualifier = None
) -> JSONResponse:
    urn = call.urn(FunctionName, qualifier)
    try:
        stored = call.client.get_async_config(str(urn))
    except ConfigNotFound:
        raise _no_config(urn) from None
    return JSONResponse(config_answer(stored, region=call.settings.region))


@lambda_router.delete(CONFIG, status_code=204)
def delete_event_invoke_config(
    call: Verified, FunctionName: str, qualifier: Qualifier = None
) -> Response:
    urn = call.urn(FunctionName, qualifier)
    try:
        call.client.delete_async_config(str(urn))
    except ConfigNotFound:
        raise _no_config(urn) from None
    return Response(status_code=204)


@lambda_router.get(CONFIG + "/list")
def list_event_invoke_configs(
    call: Verified,
    FunctionName: str,
    marker: Annotated[str | None, Query(alias="Marker", pattern=r"^[0-9]{1,9}$")] = None,
    max_items: Annotated[int, Query(alias="MaxItems", ge=1, le=50)] = 50,
) -> JSONResponse:
    """Every version's config of the function, ``MaxItems`` at a time."""
    urn = call.urn(FunctionName)
    page = call.client.list_async_configs(str(urn), marker=marker, limit=max_items)
    following = page.page_info.get("next_marker")
    answer: dict[str, Any] = {
        "FunctionEventInvokeConfigs": [
            config_answer(stored, region=call.settings.region)
            for stored in page.async_invoke_configs
        ]
    }
    if following is not None:
        answer["NextMarker"] = str(following)
    return JSONResponse(answer)


lambda_router.include_router(function_router)
