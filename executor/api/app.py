"""The HTTP API: FunctionGraph's async endpoints, served over the same ``Client`` as Python.

Every path is ``/v2/{project_id}/fgs/functions/{function_urn}/...`` as in FunctionGraph, so its
SDKs work unchanged when pointed here. Before routing, ``Gate`` refuses a body above the payload
limit and a caller without a valid credential for the project in the path. Every error is
``{"error_code": "FSS.xxxx", "error_msg": "..."}`` with the status of its ``ExecutorError``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ValidationError

from executor.api.auth import Authenticator
from executor.api.failures import answer_failures
from executor.api.gate import Gate
from executor.api.wire import (
    AsyncConfigBody,
    CancelAnswer,
    CancelRequest,
    ErrorBody,
    Health,
    InvocationEntry,
    InvocationList,
    InvokeAccepted,
    decode_json,
    delay_seconds,
    epoch,
    idempotency_key,
)
from executor.core.config import StoredAsyncConfig
from executor.core.errors import (
    InvalidParameter,
    InvocationNotFound,
)
from executor.core.invocation import Invocation, Status
from executor.core.settings import Settings
from executor.core.urn import parse_urn
from executor.runtime.client import Client
from executor.state.configs import ConfigPage, invalid

log = logging.getLogger("executor.api")

PREFIX = "/v2/{project_id}/fgs/functions/{function_urn}"
MAX_REQUEST_IDS = 10
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in [
        (400, "a parameter or the body is invalid; error_msg names it"),
        (401, "no valid credential"),
        (403, "the credential does not own the project"),
        (404, "no such function, config or invocation"),
        (413, "the body is above the payload limit"),
        (503, "the state store or the broker cannot be reached; nothing was accepted"),
    ]
}
SECURITY = {
    "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
    "signature": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>, "
        "with an X-Sdk-Date header",
    },
}
REF = "#/components/schemas/{model}"
DESCRIPTION = (
    "FunctionGraph's asynchronous invocation endpoints: async configs, asynchronous invocations, "
    "their status and cancellation. Authenticate with X-Auth-Token or an SDK-HMAC-SHA256 "
    'signature. Errors are {"error_code": "FSS.xxxx", "error_msg": "..."}.'
)

ProjectId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
FunctionUrn = Annotated[
    str,
    Path(
        max_length=256,
        description="a function URN (urn:fss:{region}:{project_id}:function:{package}:{name}"
        ":{qualifier}), or a short name such as hello or hello:v1",
    ),
]
Marker = Annotated[
    str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_marker of the previous page")
]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Filter:
    """The query of an invocation listing."""

    status: Status | None
    since: float | None
    until: float | None
    limit: int
    marker: str | None

    def admits(self, record: Invocation) -> bool:
        return (
            (self.status is None or record.status is self.status)
            and (self.since is None or record.enqueued_at >= self.since)
            and (self.until is None or record.enqueued_at <= self.until)
        )


def invocation_filter(
    marker: Marker = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    status: Status | None = None,
    query_begin_time: Annotated[
        datetime | None, Query(description="UTC YYYY-MM-DDTHH:MM:SS, or with an offset")
    ] = None,
    query_end_time: Annotated[datetime | None, Query(description="as query_begin_time")] = None,
) -> Filter:
    since, until = epoch(query_begin_time), epoch(query_end_time)
    if since is not None and until is not None and since > until:
        raise InvalidParameter("query_begin_time must not be after query_end_time")
    return Filter(status=status, since=since, until=until, limit=limit, marker=marker)


def body_of(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that reads the body as JSON, whatever its Content-Type, into ``model``."""

    async def read(request: Request) -> M:
        data = decode_json(await request.body())
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise invalid(exc, "body") from None

    return read


async def event_body(request: Request) -> Any:
    """The event of an invocation; an empty body is the empty event ``{}``."""
    data = decode_json(await request.body())
    return {} if data is None else data


def _request_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


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
    api.add_middleware(
        Gate,
        authenticator=authenticator or Authenticator.from_settings(settings),
        limit=settings.payload_limit,
    )
    answer_failures(api)
    api.include_router(router)
    api.include_router(health_router)
    api.openapi = _openapi(api)  # type: ignore[method-assign]
    return api


def the_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def the_function(request: Request, project_id: ProjectId, function_urn: FunctionUrn) -> str:
    """The full URN named in the path; a short name is expanded within the path's project."""
    settings: Settings = request.app.state.settings
    urn = parse_urn(function_urn, region=settings.region, project=project_id)
    if urn.project != project_id:
        raise InvalidParameter(
            f"{function_urn} belongs to project {urn.project!r}, not to {project_id!r} "
            "named in the path"
        )
    return str(urn)


ClientDep = Annotated[Client, Depends(the_client)]
Function = Annotated[str, Depends(the_function)]
Listing = Annotated[Filter, Depends(invocation_filter)]
router = APIRouter(prefix=PREFIX, responses=ERRORS, tags=["async"])
health_router = APIRouter(tags=["health"])


@health_router.get("/health", response_model=Health, responses={503: ERRORS[503]})
def health(client: ClientDep) -> Health:
    client.store.ping()
    return Health()


@router.put(
    "/async-invoke-config",
    response_model=StoredAsyncConfig,
    openapi_extra=_request_body(AsyncConfigBody),
)
def put_async_config(
    client: ClientDep,
    urn: Function,
    body: Annotated[AsyncConfigBody, Depends(body_of(AsyncConfigBody))],
) -> StoredAsyncConfig:
    return client.put_async_config(urn, body.policy())


@router.get("/async-invoke-config", response_model=StoredAsyncConfig)
def get_async_config(client: ClientDep, urn: Function) -> StoredAsyncConfig:
    return client.get_async_config(urn)


@router.delete("/async-invoke-config", status_code=204, response_class=Response)
def delete_async_config(client: ClientDep, urn: Function) -> Response:
    client.delete_async_config(urn)
    return Response(status_code=204)


@router.get("/async-invoke-configs", response_model=ConfigPage)
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


@router.post("/cancel", response_model=CancelAnswer, openapi_extra=_request_body(CancelRequest))
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


def _openapi(api: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with the bodies that are read by hand and the security schemes."""

    def build() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = get_openapi(
                title=api.title,
                version=api.version,
                description=api.description,
                routes=api.routes,
                separate_input_output_schemas=False,
            )
            components = document.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for model in (AsyncConfigBody, CancelRequest):
                schema = model.model_json_schema(ref_template=REF)
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas[model.__name__] = schema
            components["securitySchemes"] = SECURITY
            document["security"] = [{name: []} for name in SECURITY]
            document["paths"]["/health"]["get"]["security"] = []
            api.openapi_schema = document
        return api.openapi_schema

    return build
