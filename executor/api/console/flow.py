"""A function's "Flow control" tab: its max instances, rate and recursion setting, pause and
resume, and what is held back now.

The form's values go to the same ``Client`` methods as the HTTP API's, so a refused value gets
the API's words and code, shown beside its field, and nothing is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from executor.api.console import scope
from executor.api.console.config_form import Refusal, TypedForm
from executor.api.console.functions import function_page
from executor.api.console.pages import function_url, redirect
from executor.api.console.route import ClientDep, ConsoleRoute, Form, SignedIn
from executor.api.console.session import Visitor
from executor.api.console.views import short_urn
from executor.core.errors import ExecutorError, InvalidParameter
from executor.core.flow import FlowConfig
from executor.core.invocation import Status
from executor.runtime.client import Client

log = logging.getLogger("executor.console")
router = APIRouter(route_class=ConsoleRoute)

FIELDS: Final = ("max_instances", "rate_per_second", "recursive_loop")


@dataclass(frozen=True)
class FlowForm(TypedForm):
    """The "Flow control" form."""

    @classmethod
    def of(cls, flow: FlowConfig) -> FlowForm:
        rate = "" if flow.rate_per_second is None else f"{flow.rate_per_second:g}"
        return cls(
            {
                "max_instances": str(flow.max_instances),
                "rate_per_second": rate,
                "recursive_loop": flow.recursive_loop,
            }
        )

    @classmethod
    def sent(cls, form: Mapping[str, Any]) -> FlowForm:
        return cls({name: str(form.get(name, "")).strip() for name in FIELDS})

    def changes(self) -> dict[str, Any]:
        """The values as ``Client.put_flow_config`` takes them; an empty rate removes it."""
        max_text, rate_text = self.value("max_instances"), self.value("rate_per_second")
        try:
            max_instances = int(max_text) if max_text else -1
        except ValueError:
            raise _refused("max_instances", f"{max_text!r} is not a whole number") from None
        rate: float | EllipsisType | None = None
        if rate_text:
            try:
                rate = float(rate_text)
            except ValueError:
                raise _refused("rate_per_second", f"{rate_text!r} is not a number") from None
        return {
            "max_instances": max_instances,
            "rate_per_second": rate,
            "recursive_loop": self.value("recursive_loop") or "Terminate",
        }

    def refused(self, exc: ExecutorError) -> FlowForm:
        errors = {name: text for name, text in exc.fields.items() if name in FIELDS}
        return FlowForm(self.values, errors, Refusal(exc.code, exc.message))


def _refused(name: str, text: str) -> InvalidParameter:
    return InvalidParameter(f"invalid flow config: {name}: {text}", fields={name: text})


def _flow_page(
    request: Request,
    client: Client,
    visitor: Visitor,
    function: str,
    form: FlowForm | None = None,
    status: int = 200,
) -> Response:
    urn, entry = scope.function(client, visitor, function)
    stored = client.get_flow_config(str(urn))
    held, slots = client.store.flows.counts(str(urn))
    counts = client.count_invocations(str(urn))
    context = {
        "stored": stored,
        "flow": stored.flow,
        "held": held,
        "slots": slots,
        "running": counts[Status.RUNNING],
        "waiting": counts[Status.WAIT],
        "throttled": client.store.flows.throttled(str(urn)),
        "form": form or FlowForm.of(stored.flow),
    }
    return function_page(request, client, visitor, urn, entry, "flow", context, status)


@router.get("/functions/{function}/flow", include_in_schema=False)
def flow_tab(request: Request, client: ClientDep, visitor: SignedIn, function: str) -> Response:
    return _flow_page(request, client, visitor, function)


@router.post("/functions/{function}/flow", include_in_schema=False)
def flow_save(
    request: Request, client: ClientDep, visitor: SignedIn, function: str, form: Form
) -> Response:
    urn, _ = scope.function(client, visitor, function)
    typed = FlowForm.sent(form)
    try:
        client.put_flow_config(str(urn), **typed.changes())
    except InvalidParameter as exc:
        return _flow_page(request, client, visitor, function, typed.refused(exc), exc.http_status)
    log.info("console: project %s stored the flow config of %s", visitor.project, urn)
    return redirect(
        request,
        function_url(str(urn), "flow"),
        f"Saved the flow config of {short_urn(str(urn))}.",
    )


@router.post("/functions/{function}/flow/{action}", include_in_schema=False)
def flow_switch(
    request: Request, client: ClientDep, visitor: SignedIn, function: str, action: str
) -> Response:
    urn, _ = scope.function(client, visitor, function)
    if action == "pause":
        client.pause(str(urn))
        done = "Paused"
    elif action == "resume":
        client.resume(str(urn))
        done = "Resumed"
    else:
        return redirect(
            request, function_url(str(urn), "flow"), f"No action {action!r}.", error=True
        )
    log.info("console: project %s %s %s", visitor.project, done.lower(), urn)
    return redirect(request, function_url(str(urn), "flow"), f"{done} {short_urn(str(urn))}.")
