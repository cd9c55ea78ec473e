"""The function list, a function's page around its tabs, and its "Async configuration" tab."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from executor.api.console import scope
from executor.api.console.config_form import VERSION, ConfigForm
from executor.api.console.pages import (
    confirm,
    function_url,
    redirect,
    render,
)
from executor.api.console.route import ClientDep, ConsoleRoute, Form, SignedIn
from executor.api.console.session import Visitor
from executor.api.console.tabs import BY_NAME, TABS
from executor.api.console.views import HOUR, config_line, function_row, short_urn
from executor.core.catalogue import CatalogueEntry
from executor.core.config import DEFAULT_CONFIG
from executor.core.errors import (
    AliasNotAllowed,
    ConfigNotFound,
    ExecutorError,
    FunctionNotFound,
    InvalidURN,
)
from executor.core.invocation import Status
from executor.core.urn import FunctionURN, parse_urn
from executor.runtime.client import Client

log = logging.getLogger("executor.console")
router = APIRouter(route_class=ConsoleRoute)


@router.get("/functions", include_in_schema=False)
def function_list(request: Request, client: ClientDep, visitor: SignedIn) -> Response:
    since = time.time() - HOUR
    stored = {urn: config.policy() for urn, config in client.configs.all().items()}
    rows = [
        function_row(entry, stored.get(entry.urn), client.count_invocations(entry.urn, since=since))
        for entry in scope.functions(client, visitor)
    ]
    return render(
        request, "functions.html", {"visitor": visitor, "rows": rows, "statuses": list(Status)}
    )


def function_page(
    request: Request,
    client: Client,
    visitor: Visitor,
    urn: FunctionURN,
    entry: CatalogueEntry | None,
    tab: str,
    context: dict[str, Any],
    status: int = 200,
) -> Response:
    values = {
        "visitor": visitor,
        "urn": str(urn),
        "short": short_urn(str(urn)),
        "entry": entry,
        "tabs": TABS,
        "tab": BY_NAME[tab],
        **context,
    }
    return render(request, "function.html", values, status)


# -- the async configuration ----------------------------------------------------------------------


def _config_page(
    request: Request,
    client: Client,
    visitor: Visitor,
    urn: FunctionURN,
    form: ConfigForm | None = None,
    status: int | None = None,
) -> Response:
    """The config tab: what is stored, the agency, and the form (``form`` when one was
    refused). An alias or a version no worker registered shows why beside the version."""
    context: dict[str, Any] = {"stored": None, "effective": "", "agency": "", "grants": []}
    context.update(from_default=False, agency_defined=False)
    try:
        urn.require_version()
        urn, entry = scope.function(client, visitor, str(urn))
    except (AliasNotAllowed, FunctionNotFound) as exc:
        blank = ConfigForm.of(DEFAULT_CONFIG, urn.qualifier).refused(exc, at=[VERSION])
        context["form"] = form or blank
        return function_page(
            request, client, visitor, urn, None, "config", context, status or exc.http_status
        )
    try:
        stored = client.get_async_config(str(urn))
    except ConfigNotFound:
        stored = None
    effective = stored.policy() if stored else entry.default_config or DEFAULT_CONFIG
    agency = client.engine.agencies.get(entry.agency) if entry.agency else None
    context.update(
        stored=stored,
        effective=config_line(effective),
        from_default=stored is None and entry.default_config is not None,
        agency=entry.agency or "",
        grants=sorted(agency.grants) if agency else [],
        agency_defined=agency is not None,
        form=form or ConfigForm.of(effective, urn.qualifier),
    )
    return function_page(request, client, visitor, urn, entry, "config", context, status or 200)


@router.get("/functions/{function}/config", include_in_schema=False)
def config_tab(request: Request, client: ClientDep, visitor: SignedIn, function: str) -> Response:
    return _config_page(request, client, visitor, scope.function_urn(client, visitor, function))


@router.post("/functions/{function}/config", include_in_schema=False)
def config_save(
    request: Request, client: ClientDep, visitor: SignedIn, function: str, form: Form
) -> Response:
    urn = scope.function_urn(client, visitor, function)
    typed = ConfigForm.sent(form)
    try:
        target = parse_urn(f"{urn.function}:{typed.version}", region="", project="")
    except InvalidURN as exc:
        refused = typed.refused(exc, at=[VERSION])
        return _config_page(request, client, visitor, urn, refused, exc.http_status)
    try:
        client.put_async_config(str(target), typed.body())
    except ExecutorError as exc:
        if exc.http_status >= 500:
            raise
        # The target's own URN was checked above: an invalid URN is a FunctionGraph target's.
        at = typed.bad_urns() if isinstance(exc, InvalidURN) else []
        if isinstance(exc, AliasNotAllowed | FunctionNotFound):
            at = [VERSION]
        refused = typed.refused(exc, at=at)
        return _config_page(request, client, visitor, urn, refused, exc.http_status)
    log.info("console: project %s stored the async config of %s", visitor.project, target)
    return redirect(
        request,
        function_url(str(target)),
        f"Saved the async configuration of {short_urn(str(target))}.",
    )


@router.post("/functions/{function}/config/delete", include_in_schema=False)
def config_delete(
    request: Request, client: ClientDep, visitor: SignedIn, function: str, form: Form
) -> Response:
    urn, _ = scope.function(client, visitor, function)
    if form.get("confirmed") != "yes":
        return confirm(
            request,
            visitor,
            "Delete",
            f"Delete the async configuration of {short_urn(str(urn))}? Its invocations then "
            "follow the function's defaults.",
            function_url(str(urn), "config/delete"),
            function_url(str(urn)),
        )
    client.delete_async_config(str(urn))
    log.info("console: project %s deleted the async config of %s", visitor.project, urn)
    return redirect(
        request,
        function_url(str(urn)),
        f"Deleted the async configuration of {short_urn(str(urn))}.",
    )
