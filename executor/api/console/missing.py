"""Any other console path: a page that says so, for a visitor who is signed in (the sign-in
page, for one who is not), rather than the API's JSON."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from executor.api.console.pages import ROOT
from executor.api.console.route import ConsoleRoute, SignedIn
from executor.core.errors import NotFound

router = APIRouter(route_class=ConsoleRoute)


@router.get("/{path:path}", include_in_schema=False)
def missing(request: Request, visitor: SignedIn, path: str) -> Response:
    raise NotFound(f"there is no console page at {ROOT}/{path}: start from {ROOT}/functions")
