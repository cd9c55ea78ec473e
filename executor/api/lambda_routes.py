"""AWS Lambda's async API over the same engine: the paths, names and errors of botocore's
``lambda`` service model (``2015-03-31``), so ``boto3.client("lambda")`` and ``aws lambda``
work when pointed at ``executor api``.

Every request is verified with SigV4 (``sigv4``) against the access keys of the settings; a key
reaches only the functions of its projects (the account of an ARN is the project). Every refusal
is Lambda's (``lambda_errors``). Served: ``Invoke`` (Event and DryRun; this engine does not run
a function while the caller waits, so RequestResponse is refused), the event invoke config,
reserved concurrency (the function's ``max_instances``), the recursion config (its
``recursive_loop``), and the listing of functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from kombu.exceptions import OperationalError

from executor.api.lambda_errors import SERVICE, LambdaError, invalid, lambda_error, not_found
from executor.api.lambda_wire import (
    ConcurrencyBody,
    EventInvokeConfigBody,
    RecursionBody,
    config_answer,
    function_configuration,
    parse_body,
    updated,
)
from executor.api.signing import HttpRequest
from executor.api.sigv4 import Signer, SigV4Verifier
from executor.core.arn import function_urn
from executor.core.config import AsyncConfig
from executor.core.constants import (
    CONDITION_ZERO_RESERVED,
    DEFAULT_PACKAGE,
    DEFAULT_QUALIFIER,
    UNLIMITED_INSTANCES,
)
from executor.core.errors import ConfigNotFound, ExecutorError
from executor.core.payload import PayloadRefused, read_json
from executor.core.settings import Settings
from executor.core.urn import FunctionURN
from executor.runtime.client import Client
from executor.state.connection import STORE_DOWN

log = logging.getLogger("executor.api.lambda")

EVENT_LIMIT: Final = 1024 * 1024
LEGACY_LIMIT: Final = 256 * 1024
SERVICE_NAME: Final = "lambda"


_UNREACHABLE: Final[tuple[type[Exception], ...]] = (*STORE_DOWN, OperationalError)


class LambdaRoute(APIRoute):
    """A route whose every failure is answered in Lambda's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except LambdaError as exc:
                return exc.response()
            except ExecutorError as exc:
                return lambda_error(exc).response()
            except RequestValidationError as exc:
                return invalid(_validation(exc)).response()
            except _UNREACHABLE as exc:
                message = f"a backing service cannot be reached ({exc}); nothing was accepted"
                return LambdaError(SERVICE, 500, message).response()
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return LambdaError(SERVICE, 500, "internal error; see the server log").response()

        return answer


def _validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc") or ("request",))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


lambda_router = APIRouter(route_class=LambdaRoute, tags=["aws-lambda"])


@dataclass(frozen=True)
class Call:
    """A verified call: the client, the settings, who signed it and its body."""

    client: Client
    settings: Settings
    signer: Signer
    body: bytes

    def urn(self, name: str, qualifier: str | None = None) -> FunctionURN:
        """The function named, which must exist and belong to the signer's projects."""
        urn = function_urn(
            name, qualifier, region=self.settings.region, projects=self.signer.projects
        )
        if urn.project not in self.signer.projects:
            raise LambdaError(
                "AccessDeniedException",
                403,
                f"the access key {self.signer.access_key!r} is not bound to the account "
                f"{urn.project!r}",
            )
        self.client.lookup(urn)  # refuses an unknown function
        return urn


async def verified(request: Request) -> Call:
    body = await request.body()
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    headers: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("utf-8", "replace"))
    wire = HttpRequest(
        method=request.method,
        raw_path=raw_path.decode("utf-8", "replace"),
        query=request.scope.get("query_string", b"").decode("utf-8", "replace"),
        headers=headers,
        body=body,
    )
    settings: Settings = request.app.state.settings
    verifier: SigV4Verifier = request.app.state.sigv4
    return Call(request.app.state.client, settings, verifier.verify(wire), body)


Verified = Annotated[Call, Depends(verified)]
Name = Annotated[str, Query(min_length=1, max_length=256)]
Qualifier = Annotated[str | None, Query(alias="Qualifier", min_length=1, max_length=128)]
FUNCTION = "/functions/{FunctionName}"


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


# -- concurrency and recursion ----------------------------------------------------------------


def _unqualified(call: Call, name: str) -> FunctionURN:
    urn = call.urn(name)
    if urn.qualifier != DEFAULT_QUALIFIER:
        raise invalid("This operation takes an unqualified function name (no version or alias)")
    return urn


@lambda_router.put("/2017-10-31" + FUNCTION + "/concurrency")
def put_concurrency(call: Verified, FunctionName: str) -> JSONResponse:
    """``ReservedConcurrentExecutions`` is the function's ``max_instances``; 0 pauses it."""
    body = parse_body(call.body, ConcurrencyBody)
    urn = _unqualified(call, FunctionName)
    stored = call.client.put_flow_config(str(urn), max_instances=body.ReservedConcurrentExecutions)
    return JSONResponse({"ReservedConcurrentExecutions": stored.flow.max_instances})


@lambda_router.delete("/2017-10-31" + FUNCTION + "/concurrency", status_code=204)
def delete_concurrency(call: Verified, FunctionName: str) -> Response:
    urn = _unqualified(call, FunctionName)
    call.client.put_flow_config(str(urn), max_instances=UNLIMITED_INSTANCES)
    return Response(status_code=204)


@lambda_router.get("/2019-09-30" + FUNCTION + "/concurrency")
def get_concurrency(call: Verified, FunctionName: str) -> JSONResponse:
    urn = _unqualified(call, FunctionName)
    return JSONResponse(_concurrency(call.client, urn))


def _concurrency(client: Client, urn: FunctionURN) -> dict[str, int]:
    instances = client.get_flow_config(str(urn)).flow.max_instances
    return {} if instances == UNLIMITED_INSTANCES else {"ReservedConcurrentExecutions": instances}


RECURSION = "/2024-08-31" + FUNCTION + "/recursion-config"


@lambda_router.put(RECURSION)
def put_recursion_config(call: Verified, FunctionName: str) -> JSONResponse:
    """``Terminate`` keeps the chain guard; ``Allow`` lets the function's chain loop."""
    body = parse_body(call.body, RecursionBody)
    urn = _unqualified(call, FunctionName)
    stored = call.client.put_flow_config(str(urn), recursive_loop=body.RecursiveLoop)
    return JSONResponse({"RecursiveLoop": stored.flow.recursive_loop})


@lambda_router.get(RECURSION)
def get_recursion_config(call: Verified, FunctionName: str) -> JSONResponse:
    urn = _unqualified(call, FunctionName)
    flow = call.client.get_flow_config(str(urn)).flow
    return JSONResponse({"FunctionName": urn.name, "RecursiveLoop": flow.recursive_loop})


# -- functions --------------------------------------------------------------------------------


@lambda_router.get("/2015-03-31/functions")
@lambda_router.get("/2015-03-31/functions/", include_in_schema=False)
def list_functions(
    call: Verified,
    marker: Annotated[str | None, Query(alias="Marker", pattern=r"^[0-9]{1,9}$")] = None,
    max_items: Annotated[int, Query(alias="MaxItems", ge=1, le=10_000)] = 50,
    version: Annotated[Literal["ALL"] | None, Query(alias="FunctionVersion")] = None,
) -> JSONResponse:
    """The functions of the signer's projects (those of the package ``default``): their
    ``$LATEST``, or every version with ``FunctionVersion=ALL``."""
    found = []
    for entry in call.client.list_functions():
        urn = call.client.resolve(entry.urn)
        wanted = version == "ALL" or urn.qualifier == DEFAULT_QUALIFIER
        mine = urn.project in call.signer.projects and urn.package == DEFAULT_PACKAGE
        if mine and wanted:
            found.append(function_configuration(urn, entry.queue, entry.updated_at))
    start = int(marker or 0)
    answer: dict[str, Any] = {"Functions": found[start : start + max_items]}
    if start + max_items < len(found):
        answer["NextMarker"] = str(start + max_items)
    return JSONResponse(answer)


@lambda_router.get("/2015-03-31" + FUNCTION)
def get_function(call: Verified, FunctionName: str, qualifier: Qualifier = None) -> JSONResponse:
    urn = call.urn(FunctionName, qualifier)
    entry = call.client.lookup(urn)
    answer: dict[str, Any] = {
        "Configuration": function_configuration(urn, entry.queue, entry.updated_at)
    }
    concurrency = _concurrency(call.client, urn.with_qualifier(DEFAULT_QUALIFIER))
    if concurrency:
        answer["Concurrency"] = concurrency
    return JSONResponse(answer)
