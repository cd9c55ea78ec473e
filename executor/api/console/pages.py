"""How the console answers: templates rendered with the visitor's session, redirects that
carry a notice to the next page, and the headers every page has."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from executor.api.console.session import Session

ROOT: Final = "/console"
# Scripts, styles and images come from the console's own static files, and no page may be
# framed: what a CSRF token does not cover, these headers do.
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(epoch: float | None) -> str:
    """A time as the console shows it: UTC, to the millisecond."""
    if not epoch:
        return ""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def function_url(urn: str, tab: str = "config") -> str:
    return f"{ROOT}/functions/{quote(urn, safe=':')}/{tab}"


def invocation_url(request_id: str) -> str:
    return f"{ROOT}/invocations/{quote(request_id, safe=':')}"


def with_query(path: str, **query: Any) -> str:
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("executor.api.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.globals.update(
        root=ROOT,
        function_url=function_url,
        invocation_url=invocation_url,
        with_query=with_query,
    )
    return env


TEMPLATES = Jinja2Templates(env=_environment())


def session_of(request: Request) -> Session | None:
    found: Session | None = request.state.session
    return found


def keep_session(request: Request, session: Session | None) -> None:
    """Write ``session`` into the cookie of this answer (None signs out)."""
    request.state.session_out = (session,)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """A page; a notice the session carried is shown on it once."""
    session = session_of(request)
    notice = None
    if session is not None and session.notice:
        notice = (session.notice, session.notice_is_error)
        keep_session(request, session.with_notice(""))
    values = {"session": session, "notice": notice, "visitor": None, **(context or {})}
    return TEMPLATES.TemplateResponse(request, template, values, status_code=status)


def redirect(request: Request, url: str, notice: str = "", *, error: bool = False) -> Response:
    """Post/redirect/get: the next page shows ``notice``."""
    session = session_of(request)
    if notice and session is not None:
        keep_session(request, session.with_notice(notice, error=error))
    return RedirectResponse(url, status_code=303)


def confirm(
    request: Request,
    visitor: Any,
    title: str,
    question: str,
    action: str,
    back: str,
    *,
    fields: dict[str, str] | None = None,
    identities: Sequence[str] = (),
) -> Response:
    """The page that asks before an action; its form posts the same fields, confirmed."""
    context = {
        "visitor": visitor,
        "title": title,
        "question": question,
        "action": action,
        "back": back,
        "fields": {k: v for k, v in (fields or {}).items() if v},
        "identities": list(identities),
    }
    return render(request, "confirm.html", context)
