"""What the API's endpoints are given: the client, the function named in the path, a listing's
query and a body read as JSON whatever its Content-Type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, ValidationError

from executor.api.wire import decode_json, epoch
from executor.core.errors import InvalidParameter
from executor.core.invocation import Invocation, Status
from executor.core.settings import Settings
from executor.core.urn import parse_urn
from executor.runtime.client import Client
from executor.state.configs import invalid

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
