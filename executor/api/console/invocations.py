"""An invocation's page: its timeline, result event, deliveries and chain; cancel and redrive,
each confirmed first; its payload masked until asked for."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from executor.api.console import scope
from executor.api.console.pages import confirm, function_url, invocation_url, redirect, render
from executor.api.console.route import ClientDep, ConsoleRoute, Form, SignedIn
from executor.api.console.session import Visitor
from executor.api.console.views import (
    can_cancel,
    can_redrive,
    masked_event,
    pretty,
    short_urn,
    timeline,
)
from executor.core.errors import ExecutorError
from executor.core.invocation import Invocation, Status
from executor.runtime.celery.redaction import MASKED
from executor.runtime.client import Client

log = logging.getLogger("executor.console")
router = APIRouter(route_class=ConsoleRoute)


def _related(client: Client, visitor: Visitor, request_ids: list[str]) -> list[dict[str, Any]]:
    """Invocations linked to this one, as far as the visitor's project holds them."""
    found = {i.request_id: i for i in client.store.records.get_many(request_ids)}
    shown = []
    for rid in request_ids:
        record = found.get(rid)
        mine = record is not None and scope.project_of(record.function_urn) == visitor.project
        shown.append(
            {
                "request_id": rid,
                "function": short_urn(record.function_urn) if record and mine else "",
                "status": record.status.value if record and mine else "",
                "mine": mine,
            }
        )
    return shown


def _context(
    client: Client, visitor: Visitor, invocation: Invocation, show: bool
) -> dict[str, Any]:
    shown = show or client.settings.show_payloads
    event = invocation.event if shown else masked_event(invocation.event)
    children = _related(client, visitor, client.children(invocation.request_id))
    waiting = any(c["status"] in (Status.WAIT, Status.RUNNING) for c in children)
    return {
        "visitor": visitor,
        "inv": invocation,
        "function": short_urn(invocation.function_urn),
        "steps": timeline(invocation.history),
        "event": None if event is None else pretty(event),
        "payload": pretty(invocation.payload) if shown else MASKED,
        "shown": shown,
        "children": children,
        "origin": _related(client, visitor, [invocation.origin]) if invocation.origin else [],
        "redrive_of": (
            _related(client, visitor, [invocation.redrive_of]) if invocation.redrive_of else []
        ),
        "can_cancel": can_cancel(invocation) or waiting,
        "can_redrive": can_redrive(invocation),
        "function_link": function_url(invocation.function_urn, "invocations"),
    }


@router.get("/invocations/{request_id}", include_in_schema=False)
def invocation_page(
    request: Request, client: ClientDep, visitor: SignedIn, request_id: str, show: str = ""
) -> Response:
    invocation = scope.invocation(client, visitor, request_id)
    if show == "payload":
        log.info("console: project %s read the payload of %s", visitor.project, request_id)
    context = _context(client, visitor, invocation, show == "payload")
    return render(request, "invocation.html", context)


@router.get("/invocations/{request_id}/live", include_in_schema=False)
def invocation_live(
    request: Request, client: ClientDep, visitor: SignedIn, request_id: str
) -> Response:
    """What changes while it runs (status, timeline, deliveries), fetched again by the page."""
    invocation = scope.invocation(client, visitor, request_id)
    return render(request, "invocation_live.html", _context(client, visitor, invocation, False))


def _checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "yes", "true")


@router.post("/invocations/{request_id}/cancel", include_in_schema=False)
def cancel(
    request: Request, client: ClientDep, visitor: SignedIn, request_id: str, form: Form
) -> Response:
    invocation = scope.invocation(client, visitor, request_id)
    force, recursive = _checked(form, "force"), _checked(form, "recursive")
    here = invocation_url(request_id)
    if form.get("confirmed") != "yes":
        how = " and ".join(w for w, on in (("force", force), ("recursive", recursive)) if on)
        return confirm(
            request,
            visitor,
            "Cancel",
            f"Cancel {request_id} ({invocation.status.value})"
            + (f", {how}" if how else "")
            + "? "
            + ("Running ones are stopped too. " if force else "")
            + ("What it started is cancelled too. " if recursive else "")
            + "A cancelled invocation ends DISCARD.",
            here + "/cancel",
            here,
            fields={"force": "on" if force else "", "recursive": "on" if recursive else ""},
        )
    try:
        done = client.cancel(request_id, force=force, recursive=recursive)
    except ExecutorError as exc:
        if exc.http_status >= 500:
            raise
        return redirect(request, here, f"{exc.code} {exc.message}", error=True)
    log.info("console: project %s cancelled %s", visitor.project, ", ".join(done.cancelled))
    return redirect(request, here, "Cancelled " + ", ".join(done.cancelled) + ".")


@router.post("/invocations/{request_id}/redrive", include_in_schema=False)
def redrive(
    request: Request, client: ClientDep, visitor: SignedIn, request_id: str, form: Form
) -> Response:
    invocation = scope.invocation(client, visitor, request_id)
    here = invocation_url(request_id)
    if form.get("confirmed") != "yes":
        return confirm(
            request,
            visitor,
            "Redrive",
            f"Redrive {request_id} ({invocation.status.value})? It is invoked again with its "
            "payload as a new invocation, numbered on this one.",
            here + "/redrive",
            here,
        )
    try:
        again = client.redrive(request_id)
    except ExecutorError as exc:
        if exc.http_status >= 500:
            raise
        return redirect(request, here, f"{exc.code} {exc.message}", error=True)
    log.info("console: project %s redrove %s as %s", visitor.project, request_id, again)
    return redirect(request, invocation_url(again), f"Redriven as {again}.")
