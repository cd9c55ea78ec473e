"""The HTTP API: FunctionGraph's async endpoints, served over the same ``Client`` as Python.

Every path is ``/v2/{project_id}/fgs/functions/{function_urn}/...`` as in FunctionGraph, so its
SDKs work unchanged when pointed here. Before routing, ``Gate`` reads the whole body (a route
never sees one cut short), and refuses headers above 16 KiB, a body above the payload limit or
not in within the read timeout, and a caller without a valid credential for the project in the
path. Every error is
``{"error_code": "FSS.xxxx", "error_msg": "..."}`` with the status of its ``ExecutorError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Response

from executor.api.auth import Authenticator
from executor.api.console import mount_console
from executor.api.deps import (
    ClientDep,
    Filter,
    Function,
    Listing,
    Marker,
    body_of,
    event_body,
)
from executor.api.document import DESCRIPTION, ERRORS, openapi, request_body
from executor.api.failures import answer_failures
from executor.api.flow_routes import flow_router
from executor.api.gate import Gate
from executor.api.lambda_routes import SERVICE_NAME, lambda_router
from executor.api.sigv4 import SigV4Verifier
from executor.api.wire import (
    AsyncConfigBody,
    CancelAnswer,
    CancelRequest,
    ErrorBody,
    Health,
    InvocationEntry,
    InvocationList,
    InvokeAccepted,
    delay_seconds,
    idempotency_key,
)
from executor.core.config import StoredAsyncConfig
from executor.core.errors import InvalidParameter, InvocationNotFound
from executor.core.settings import Settings
from executor.runtime.client import Client
from executor.state.configs import ConfigPage

PREFIX = "/v2/{project_id}/fgs/functions/{function_urn}"
MAX_REQUEST_IDS = 10


def create_api(
    client: Client,
    settings: Settings | None = None,
    *,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The API application; ``executor api`` serves it with uvicorn."""
    settings = settings or client.settings
    api = FastAPI(
        title="async-executor",
        version="0.1.0",
        description=DESCRIPTION,
        separate_input_output_schemas=False,
    )
    api.state.client = client
    api.state.settings = settings
    authenticator = authenticator or Authenticator.from_settings(settings)
    api.add_middleware(
        Gate,
        authenticator=authenticator,
        limit=settings.payload_limit,
        read_timeout=settings.api_read_timeout,
    )
    answer_failures(api)
    api.include_router(router)
    api.include_router(flow_router, prefix=PREFIX)
    api.include_router(health_router)
    api.state.sigv4 = SigV4Verifier(authenticator.access_key, settings.region, SERVICE_NAME)
    # Lambda's clients follow botocore's service model; this document describes the rest.
    api.include_router(lambda_router, include_in_schema=False)
    mount_console(api, settings, authenticator)
    api.openapi = openapi(api)  # type: ignore[method-assign]
    return api


router = APIRouter(prefix=PREFIX, responses=ERRORS, tags=["async"])
health_router = APIRouter(tags=["health"])


@health_router.get("/health", response_model=Health, responses={503: ERRORS[503]})
def health(client: ClientDep) -> Health:
    client.store.ping()
    return Health()


# Which API set a config is the engine's own field: FunctionGraph's answers keep their shape.
HIDDEN = {"record_format"}


@router.put(
    "/async-invoke-config",
    response_model=StoredAsyncConfig,
    response_model_exclude=HIDDEN,
    openapi_extra=request_body(AsyncConfigBody),
)
def put_async_config(
    client: ClientDep,
    urn: Function,
    body: Annotated[AsyncConfigBody, Depends(body_of(AsyncConfigBody))],
) -> StoredAsyncConfig:
    return client.put_async_config(urn, body.policy())


@router.get("/async-invoke-config", response_model=StoredAsyncConfig, response_model_exclude=HIDDEN)
def get_async_config(client: ClientDep, urn: Function) -> StoredAsyncConfig:
    return client.get_async_config(urn)


@router.delete("/async-invoke-config", status_code=204, response_class=Response)
def delete_async_config(client: ClientDep, urn: Function) -> Response:
    client.delete_async_config(urn)
    return Response(status_code=204)


@router.get(
    "/async-invoke-configs",
    response_model=ConfigPage,
    response_model_exclude={"async_invoke_configs": {"__all__": HIDDEN}},
)
def list_async_configs(
    client: ClientDep,
    urn: Function,
    marker: Marker = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> ConfigPage:
    return client.list_async_configs(urn, marker=marker, limit=limit)


@router.post(
    "/invocations-async",
    status_code=202,
    response_model=InvokeAccepted,
    responses={
        409: {
            "model": ErrorBody,
            "description": "the Idempotency-Key names an invocation of another function or "
            "payload (FSS.1409)",
        }
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {}}}}},
)
def invoke_async(
    client: ClientDep,
    urn: Function,
    event: Annotated[Any, Depends(event_body)],
    idempotency: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=66,
            description="the request id to use, 1-64 of [A-Za-z0-9._:-]: the same call again "
            "answers 202 with it and queues nothing; another function or payload answers 409",
        ),
    ] = None,
    delay: Annotated[
        str | None,
        Header(
            alias="X-Executor-Delay",
            max_length=40,
            description="seconds (0-3600) before the invocation may start",
        ),
    ] = None,
) -> InvokeAccepted:
    """Queue one invocation; 202 comes only once it is durably recorded."""
    request_id = client.invoke_async(
        urn, event, request_id=idempotency_key(idempotency), delay=delay_seconds(delay)
    )
    return InvokeAccepted(request_id=request_id)


@router.get("/async-invocations", response_model=InvocationList)
def list_async_invocations(
    client: ClientDep,
    urn: Function,
    query: Listing,
    request_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> InvocationList:
    return _listing(client, urn, query, None if request_id is None else [request_id], False)


@router.get("/active-async-invocations", response_model=InvocationList)
def list_active_async_invocations(
    client: ClientDep,
    urn: Function,
    query: Listing,
    requests: Annotated[
        str | None, Query(max_length=1_300, description="up to 10 request ids, comma-separated")
    ] = None,
) -> InvocationList:
    ids = None
    if requests is not None:
        ids = [rid.strip() for rid in requests.split(",") if rid.strip()]
        if len(ids) > MAX_REQUEST_IDS:
            raise InvalidParameter(f"requests names at most {MAX_REQUEST_IDS} request ids")
    return _listing(client, urn, query, ids, True)


@router.post("/cancel", response_model=CancelAnswer, openapi_extra=request_body(CancelRequest))
def cancel(
    client: ClientDep,
    urn: Function,
    body: Annotated[CancelRequest, Depends(body_of(CancelRequest))],
) -> CancelAnswer:
    """Cancel a waiting invocation; ``"type": "recursive"`` also what it started, and
    ``"force"`` that and running ones. The answer lists every request id cancelled."""
    record = client.get_invocation(body.request_id)
    if record.function_urn != urn:
        raise InvocationNotFound(f"{urn} has no invocation {body.request_id!r}")
    done = client.cancel(body.request_id, force=body.force, recursive=body.recursive)
    return CancelAnswer(**InvocationEntry.of(done).model_dump(), cancelled=done.cancelled)


def _listing(
    client: Client, urn: str, query: Filter, request_ids: Sequence[str] | None, active_only: bool
) -> InvocationList:
    if request_ids is None:
        page = client.list_invocations(
            urn,
            status=query.status,
            since=query.since,
            until=query.until,
            limit=query.limit,
            marker=query.marker,
            active_only=active_only,
        )
        return InvocationList.of(page)
    found = []
    for request_id in request_ids:
        try:
            record = client.get_invocation(request_id)
        except InvocationNotFound:
            continue
        wanted = not (active_only and record.status.terminal)
        if record.function_urn == urn and query.admits(record) and wanted:
            found.append(InvocationEntry.of(record))
    return InvocationList(invocations=tuple(found), count=len(found), next_marker=None)
