"""The route class of every console page: the session is read before the page and written
after it, a form without the session's CSRF token is refused before the page runs, and a
failure becomes a page that says what to do (not the API's JSON)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from executor.api.console.pages import HEADERS, ROOT, render
from executor.api.console.session import (
    CSRF_FIELD,
    CsrfRefused,
    Sessions,
    SignInRequired,
    Visitor,
)
from executor.core.errors import ExecutorError
from executor.runtime.celery.errors import BrokerUnreachable
from executor.runtime.client import Client
from executor.state.connection import STORE_DOWN

log = logging.getLogger("executor.console")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# Failures of the state store and of the broker: the page says to retry.
UNREACHABLE: tuple[type[Exception], ...] = (*STORE_DOWN, BrokerUnreachable)


def sessions_of(request: Request) -> Sessions:
    found: Sessions = request.app.state.console_sessions
    return found


class ConsoleRoute(APIRoute):
    """An ``APIRoute`` that wraps its page in the console's session, CSRF and error rules."""

    def get_route_handler(self) -> Handler:
        page = super().get_route_handler()

        async def handle(request: Request) -> Response:
            sessions = sessions_of(request)
            request.state.session = sessions.read(request)
            request.state.session_out = None
            try:
                if request.method == "POST":
                    form = await request.form()
                    sessions.check_csrf(request.state.session, form.get(CSRF_FIELD))
                response = await page(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(
                    f"{ROOT}/signin?next={quote(target, safe='')}", status_code=303
                )
            except CsrfRefused:
                log.warning("console form refused: no valid CSRF token (%s)", request.url.path)
                response = failure(
                    request,
                    403,
                    "FSS.0403",
                    "This form was not sent from a page of this console session (its CSRF "
                    "token is missing or wrong); nothing was done. Reload the page and try again.",
                )
            except ExecutorError as exc:
                response = failure(request, exc.http_status, exc.code, exc.message)
            except UNREACHABLE as exc:
                response = failure(
                    request,
                    503,
                    "FSS.0500",
                    f"a backing service cannot be reached ({exc}); nothing was done, retry",
                )
            except RequestValidationError as exc:
                problems = "; ".join(str(e.get("msg", "invalid")) for e in exc.errors())
                response = failure(request, 400, "FSS.0400", f"invalid request: {problems}")
            out = request.state.session_out
            if out is not None:
                sessions.write(response, request, out[0])
            for name, value in HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return handle


def failure(request: Request, status: int, code: str, message: str) -> Response:
    visitor = None
    with contextlib.suppress(SignInRequired):
        visitor = sessions_of(request).visitor(request.state.session)
    return render(
        request, "error.html", {"code": code, "message": message, "visitor": visitor}, status
    )


def signed_in(request: Request) -> Visitor:
    """The dependency of every page behind sign-in."""
    return sessions_of(request).visitor(request.state.session)


def the_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


async def form_of(request: Request) -> FormData:
    return await request.form()


SignedIn = Annotated[Visitor, Depends(signed_in)]
ClientDep = Annotated[Client, Depends(the_client)]
Form = Annotated[FormData, Depends(form_of)]
