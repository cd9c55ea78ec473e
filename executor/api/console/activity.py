"""A function's activity tabs: its invocations (filtered, paged, live, and a form to invoke it)
and its charts."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from executor.api.console import scope
from executor.api.console.charts import WINDOWS, DrawnCharts, ages_svg, outcomes_svg, window
from executor.api.console.functions import function_page
from executor.api.console.pages import (
    function_url,
    invocation_url,
    redirect,
    render,
    with_query,
)
from executor.api.console.route import ClientDep, ConsoleRoute, Form, SignedIn
from executor.api.console.session import Visitor
from executor.api.console.views import short_urn
from executor.core.constants import MAX_DELAY
from executor.core.errors import (
    ExecutorError,
    InvalidParameter,
    NotFound,
)
from executor.core.invocation import Status, check_delay
from executor.core.payload import PayloadRefused, read_json
from executor.runtime.client import Client

log = logging.getLogger("executor.console")
router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE: Final = 50
# The time windows of the invocation list, in seconds (None: no bound).
SPANS: Final[dict[str, tuple[str, int | None]]] = {
    "15m": ("last 15 minutes", 900),
    "1h": ("last hour", 3600),
    "24h": ("last 24 hours", 86_400),
    "7d": ("last 7 days", 7 * 86_400),
    "all": ("any time", None),
}
DEFAULT_SPAN: Final = "24h"


# -- invocations --------------------------------------------------------------------------------


def _bound(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(f"{name} must be a UTC time such as 2026-11-29T13:45") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _listing(
    request: Request,
    client: Client,
    visitor: Visitor,
    function: str,
    fragment: bool,
    refused: dict[str, str] | None = None,
) -> Response:
    """The invocations tab; ``refused`` is an invocation the form sent and the engine refused:
    the form is shown open, with what was typed and, beside each field, why."""
    urn, entry = scope.function(client, visitor, function)
    query = request.query_params
    status = query.get("status", "")
    if status and status not in Status.__members__:
        raise InvalidParameter(
            f"status must be one of {', '.join(s.value for s in Status)}, not {status[:20]!r}"
        )
    span = query.get("window", DEFAULT_SPAN)
    if span not in SPANS:
        span = DEFAULT_SPAN
    since, until = _bound(query.get("from", ""), "from"), _bound(query.get("until", ""), "until")
    seconds = SPANS[span][1]
    if since is None and until is None and seconds is not None:
        since = time.time() - seconds
    page = client.list_invocations(
        str(urn),
        status=status or None,
        since=since,
        until=until,
        limit=PAGE_SIZE,
        marker=query.get("marker") or None,
    )
    filters = {
        "status": status,
        "window": span,
        "from": query.get("from", ""),
        "until": query.get("until", ""),
    }
    here = function_url(str(urn), "invocations")
    context = {
        "page": page,
        "filters": filters,
        "spans": SPANS,
        "statuses": list(Status),
        "marker": query.get("marker", ""),
        "newer": with_query(here, **filters) if query.get("marker") else "",
        "older": with_query(here, **filters, marker=page.next_marker) if page.next_marker else "",
        "live": with_query(here + "/rows", **filters, marker=query.get("marker")),
        "payload": query.get("payload", "{}"),
        "delay": "0",
        "invoke_errors": {},
    }
    if fragment:
        return render(request, "invocation_rows.html", context)
    if refused is None:
        return function_page(request, client, visitor, urn, entry, "invocations", context)
    context.update(
        payload=refused["payload"],
        delay=refused["delay"],
        invoke_errors={refused["field"]: refused["error"]},
    )
    return function_page(request, client, visitor, urn, entry, "invocations", context, 400)


@router.get("/functions/{function}/invocations", include_in_schema=False)
def invocations_tab(
    request: Request, client: ClientDep, visitor: SignedIn, function: str
) -> Response:
    return _listing(request, client, visitor, function, fragment=False)


@router.get("/functions/{function}/invocations/rows", include_in_schema=False)
def invocation_rows(
    request: Request, client: ClientDep, visitor: SignedIn, function: str
) -> Response:
    """The rows alone, which the open page fetches again to stay live."""
    return _listing(request, client, visitor, function, fragment=True)


@router.post("/functions/{function}/invoke", include_in_schema=False)
def invoke(
    request: Request, client: ClientDep, visitor: SignedIn, function: str, form: Form
) -> Response:
    urn, _ = scope.function(client, visitor, function)
    text = str(form.get("payload", "")).strip() or "{}"
    delay_text = str(form.get("delay", "")).strip() or "0"
    sent = {"payload": text, "delay": delay_text}
    try:
        payload = read_json(text, "the payload")
    except PayloadRefused as exc:
        return _listing(request, client, visitor, function, False, _refusal(sent, "payload", exc))
    try:
        delay = check_delay(float(delay_text))
    except ValueError:
        wrong = InvalidParameter(f"the delay must be a number of seconds, 0 to {MAX_DELAY}")
        return _listing(request, client, visitor, function, False, _refusal(sent, "delay", wrong))
    except InvalidParameter as exc:
        return _listing(request, client, visitor, function, False, _refusal(sent, "delay", exc))
    try:
        request_id = client.invoke_async(str(urn), payload, delay=delay)
    except ExecutorError as exc:
        if exc.http_status >= 500:
            raise
        return _listing(request, client, visitor, function, False, _refusal(sent, "payload", exc))
    log.info("console: project %s invoked %s: %s", visitor.project, urn, request_id)
    return redirect(
        request, invocation_url(request_id), f"Invoked {short_urn(str(urn))}: {request_id}."
    )


def _refusal(sent: dict[str, str], field: str, exc: ExecutorError) -> dict[str, str]:
    return {**sent, "field": field, "error": f"{exc.code} · {exc.message}"}


# -- charts -------------------------------------------------------------------------------------


@router.get("/functions/{function}/charts", include_in_schema=False)
def charts_tab(request: Request, client: ClientDep, visitor: SignedIn, function: str) -> Response:
    urn, entry = scope.function(client, visitor, function)
    span = window(request.query_params.get("window", "hour"))
    context = {"span": span, "windows": WINDOWS}
    return function_page(request, client, visitor, urn, entry, "charts", context)


CHARTS: Final = ("outcomes", "ages")
# The charts are images: their own inline styles are all they need.
SVG_HEADERS: Final = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


@router.get("/functions/{function}/charts/{name}.svg", include_in_schema=False)
def chart(
    request: Request, client: ClientDep, visitor: SignedIn, function: str, name: str
) -> Response:
    urn, _ = scope.function(client, visitor, function)
    span = window(request.query_params.get("window", "hour"))

    def draw() -> str:
        until = time.time()
        since = until - span.seconds
        if name == "outcomes":
            points = client.outcome_series(str(urn), since=since, until=until, step=span.step)
            return outcomes_svg(points, span)
        ages = client.age_series(str(urn), since=since, until=until, step=span.step)
        return ages_svg(ages, span)

    if name not in CHARTS:
        raise NotFound(f"there is no chart {name!r}: outcomes or ages")
    drawn: DrawnCharts = request.app.state.console_charts
    body = drawn.get((str(urn), name, span.name), span, draw)
    return Response(body, media_type="image/svg+xml", headers=SVG_HEADERS)
