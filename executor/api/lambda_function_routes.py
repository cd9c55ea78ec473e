"""The Lambda API's function operations: reserved concurrency (the function's
``max_instances``), the recursion config (its ``recursive_loop``), and the listing of functions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from executor.api.lambda_call import FUNCTION, Call, LambdaRoute, Qualifier, Verified
from executor.api.lambda_errors import invalid
from executor.api.lambda_wire import (
    ConcurrencyBody,
    RecursionBody,
    function_configuration,
    parse_body,
)
from executor.core.constants import (
    DEFAULT_PACKAGE,
    DEFAULT_QUALIFIER,
    UNLIMITED_INSTANCES,
)
from executor.core.urn import FunctionURN
from executor.runtime.client import Client

function_router = APIRouter(route_class=LambdaRoute, tags=["aws-lambda"])


# -- concurrency and recursion ----------------------------------------------------------------


def _unqualified(call: Call, name: str) -> FunctionURN:
    urn = call.urn(name)
    if urn.qualifier != DEFAULT_QUALIFIER:
        raise invalid("This operation takes an unqualified function name (no version or alias)")
    return urn


@function_router.put("/2017-10-31" + FUNCTION + "/concurrency")
def put_concurrency(call: Verified, FunctionName: str) -> JSONResponse:
    """``ReservedConcurrentExecutions`` is the function's ``max_instances``; 0 pauses it."""
    body = parse_body(call.body, ConcurrencyBody)
    urn = _unqualified(call, FunctionName)
    stored = call.client.put_flow_config(str(urn), max_instances=body.ReservedConcurrentExecutions)
    return JSONResponse({"ReservedConcurrentExecutions": stored.flow.max_instances})


@function_router.delete("/2017-10-31" + FUNCTION + "/concurrency", status_code=204)
def delete_concurrency(call: Verified, FunctionName: str) -> Response:
    urn = _unqualified(call, FunctionName)
    call.client.put_flow_config(str(urn), max_instances=UNLIMITED_INSTANCES)
    return Response(status_code=204)


@function_router.get("/2019-09-30" + FUNCTION + "/concurrency")
def get_concurrency(call: Verified, FunctionName: str) -> JSONResponse:
    urn = _unqualified(call, FunctionName)
    return JSONResponse(_concurrency(call.client, urn))


def _concurrency(client: Client, urn: FunctionURN) -> dict[str, int]:
    instances = client.get_flow_config(str(urn)).flow.max_instances
    return {} if instances == UNLIMITED_INSTANCES else {"ReservedConcurrentExecutions": instances}


RECURSION = "/2024-08-31" + FUNCTION + "/recursion-config"


@function_router.put(RECURSION)
def put_recursion_config(call: Verified, FunctionName: str) -> JSONResponse:
    """``Terminate`` keeps the chain guard; ``Allow`` lets the function's chain loop."""
    body = parse_body(call.body, RecursionBody)
    urn = _unqualified(call, FunctionName)
    stored = call.client.put_flow_config(str(urn), recursive_loop=body.RecursiveLoop)
    return JSONResponse({"RecursiveLoop": stored.flow.recursive_loop})


@function_router.get(RECURSION)
def get_recursion_config(call: Verified, FunctionName: str) -> JSONResponse:
    urn = _unqualified(call, FunctionName)
    flow = call.client.get_flow_config(str(urn)).flow
    return JSONResponse({"FunctionName": urn.name, "RecursiveLoop": flow.recursive_loop})


# -- functions --------------------------------------------------------------------------------


@function_router.get("/2015-03-31/functions")
@function_router.get("/2015-03-31/functions/", include_in_schema=False)
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


@function_router.get("/2015-03-31" + FUNCTION)
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
