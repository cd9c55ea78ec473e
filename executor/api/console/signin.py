"""Signing in and out: the API's credentials (a token, or an access key and its secret key)
turned into a session of one of the credential's projects."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from executor.api.auth import Principal
from executor.api.console.pages import ROOT, keep_session, redirect, render, session_of
from executor.api.console.route import ConsoleRoute, Form, sessions_of
from executor.api.console.session import Session, SignInRequired
from executor.core.errors import ExecutorError, InvalidParameter

log = logging.getLogger("executor.console")
router = APIRouter(route_class=ConsoleRoute)


def _next(target: object) -> str:
    """Where to go after signing in: a console page, never another site."""
    text = target if isinstance(target, str) else ""
    if text.startswith(f"{ROOT}/") and not text.startswith("//") and "\\" not in text:
        return text
    return f"{ROOT}/functions"


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    return redirect(request, f"{ROOT}/functions")


@router.get("/signin", include_in_schema=False)
def signin_page(request: Request, next: str = "") -> Response:
    session = session_of(request)
    try:
        sessions_of(request).visitor(session)
        return redirect(request, _next(next))
    except SignInRequired:
        pass
    if session is None:
        session = Session.fresh()
        request.state.session = session
        keep_session(request, session)
    return _page(request, next=_next(next))


def _page(
    request: Request, *, next: str, error: str = "", status: int = 200, **typed: str
) -> Response:
    sessions = sessions_of(request)
    context = {
        "next": next,
        "error": error,
        "anonymous": any(p.projects is None for p in sessions.authenticator.principals()),
        "typed": typed,
    }
    return render(request, "signin.html", context, status)


@router.post("/signin", include_in_schema=False)
def signin(request: Request, form: Form) -> Response:
    sessions = sessions_of(request)
    method = str(form.get("method", "token"))
    project = str(form.get("project", "")).strip()
    access_key = str(form.get("access_key", "")).strip()
    try:
        principal = _principal(request, method, form)
        project = project or _only_project(principal)
        signed = sessions.sign_in(principal, project)
    except ExecutorError as exc:
        log.warning("console sign-in refused: %s", exc.message)
        return _page(
            request,
            next=_next(form.get("next")),
            error=f"{exc.code} {exc.message}",
            status=exc.http_status,
            method=method,
            project=project,
            access_key=access_key,
        )
    log.info("console sign-in of %s on project %s", principal.name, project)
    request.state.session = signed
    keep_session(request, signed)
    return redirect(request, _next(form.get("next")), f"Signed in to project {project}.")


def _principal(request: Request, method: str, form: FormData) -> Principal:
    authenticator = sessions_of(request).authenticator
    if method == "access_key":
        return authenticator.check_access_key(
            str(form.get("access_key", "")).strip(), str(form.get("secret_key", ""))
        )
    if method == "anonymous":
        anonymous = [p for p in authenticator.principals() if p.projects is None]
        if not anonymous:
            raise InvalidParameter(
                "this server lets no one in without a credential: sign in with a token or an "
                "access key"
            )
        return anonymous[0]
    return authenticator.check_token(str(form.get("token", "")).strip())


def _only_project(principal: Principal) -> str:
    if principal.projects is not None and len(principal.projects) == 1:
        return next(iter(principal.projects))
    owned = ", ".join(sorted(principal.projects or ()))
    raise InvalidParameter(
        "name the project to work in" + (f": {principal.name} owns {owned}" if owned else "")
    )


@router.post("/signout", include_in_schema=False)
def signout(request: Request) -> Response:
    keep_session(request, None)
    return redirect(request, f"{ROOT}/signin")
