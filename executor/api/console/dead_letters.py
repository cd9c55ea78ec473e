"""Dead letters of the visitor's project: list, show, resend one or all shown, purge; each
action confirmed first.

The dead-letter store is one for every project, kept by time; a project's entries are picked
from it page by page (it holds events that failed for good, not the stream of invocations).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from executor.api.console import scope
from executor.api.console.pages import ROOT, confirm, redirect, render
from executor.api.console.route import ClientDep, ConsoleRoute, Form, SignedIn
from executor.api.console.session import Visitor
from executor.api.console.views import masked_event, pretty, short_urn
from executor.core.errors import DeadLetterNotFound
from executor.core.messages import DeadLetter
from executor.runtime.client import Client

log = logging.getLogger("executor.console")
router = APIRouter(route_class=ConsoleRoute)

HERE: Final = f"{ROOT}/dead-letters"
SHOWN: Final = 200
_READ: Final = 1000


def project_letters(client: Client, visitor: Visitor) -> tuple[list[DeadLetter], int]:
    """The first ``SHOWN`` dead letters of the project, oldest first, and how many it has."""
    letters = client.dead_letters()
    mine: list[DeadLetter] = []
    total = 0
    offset = 0
    while True:
        page = letters.page(_READ, offset)
        for letter in page:
            if scope.project_of(letter.function_urn) == visitor.project:
                total += 1
                if len(mine) < SHOWN:
                    mine.append(letter)
        if len(page) < _READ:
            return mine, total
        offset += _READ


def _row(letter: DeadLetter) -> dict[str, Any]:
    return {**letter.summary(), "function": short_urn(letter.function_urn)}


@router.get("/dead-letters", include_in_schema=False)
def dead_letter_list(request: Request, client: ClientDep, visitor: SignedIn) -> Response:
    mine, total = project_letters(client, visitor)
    context = {"visitor": visitor, "rows": [_row(letter) for letter in mine], "total": total}
    return render(request, "dead_letters.html", context)


@router.get("/dead-letters/{identity}", include_in_schema=False)
def dead_letter_page(
    request: Request, client: ClientDep, visitor: SignedIn, identity: str, show: str = ""
) -> Response:
    letter = scope.dead_letter(client, visitor, identity)
    shown = show == "payload" or client.settings.show_payloads
    if show == "payload":
        log.info("console: project %s read the dead letter %s", visitor.project, identity)
    context = {
        "visitor": visitor,
        "letter": letter,
        "row": _row(letter),
        "event": pretty(letter.event if shown else masked_event(letter.event)),
        "shown": shown,
    }
    return render(request, "dead_letter.html", context)


def _chosen(client: Client, visitor: Visitor, form: FormData) -> list[str]:
    """The identities named in the form that are dead letters of the project."""
    found = []
    for identity in form.getlist("identity"):
        if not isinstance(identity, str):
            continue
        try:
            found.append(scope.dead_letter(client, visitor, identity).identity)
        except DeadLetterNotFound:
            continue
    return found


def _act(
    request: Request,
    client: Client,
    visitor: Visitor,
    form: FormData,
    verb: str,
) -> Response:
    identities = _chosen(client, visitor, form)
    named = len(form.getlist("identity"))
    if not identities:
        return redirect(
            request, HERE, "FSS.0404 none of those events is in the dead letters now", error=True
        )
    if form.get("confirmed") != "yes":
        what = identities[0] if len(identities) == 1 else f"these {len(identities)} events"
        question = {
            "resend": f"Resend {what} to {'its' if len(identities) == 1 else 'their'} "
            "destination, with a fresh delivery deadline?",
            "purge": f"Purge {what}? They are deleted for good.",
        }[verb]
        title = verb.capitalize()
        return confirm(
            request, visitor, title, question, f"{HERE}/{verb}", HERE, identities=identities
        )
    letters = client.dead_letters()
    if verb == "resend":
        done = len(letters.resend(identities))
        text = f"Resent {done} event{'s' if done != 1 else ''}"
    else:
        done = letters.purge(identities)
        text = f"Purged {done} event{'s' if done != 1 else ''}"
    log.info("console: project %s: %s %s", visitor.project, verb, ", ".join(identities))
    gone = named - len(identities)
    if gone:
        text += f"; {gone} named were no longer there"
    return redirect(request, HERE, text + ".")


@router.post("/dead-letters/resend", include_in_schema=False)
def resend(request: Request, client: ClientDep, visitor: SignedIn, form: Form) -> Response:
    return _act(request, client, visitor, form, "resend")


@router.post("/dead-letters/purge", include_in_schema=False)
def purge(request: Request, client: ClientDep, visitor: SignedIn, form: Form) -> Response:
    return _act(request, client, visitor, form, "purge")
