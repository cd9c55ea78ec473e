"""What a visitor can reach: the functions, invocations and dead letters of its own project.

Every page and every action goes through these checks, whatever its URL says. Something of
another project is answered exactly as something that does not exist, so a visitor learns
nothing of other projects by editing URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from executor.api.console.session import Visitor
from executor.core.catalogue import CatalogueEntry
from executor.core.errors import (
    DeadLetterNotFound,
    FunctionNotFound,
    InvalidURN,
    InvocationNotFound,
    NotFound,
)
from executor.core.invocation import Invocation
from executor.core.messages import DeadLetter
from executor.core.urn import FunctionURN, parse_urn
from executor.runtime.client import Client


def project_of(urn: str) -> str:
    try:
        return parse_urn(urn, region="", project="").project
    except InvalidURN:
        return ""


def function_urn(client: Client, visitor: Visitor, text: str) -> FunctionURN:
    """The URN named in a URL (a short name is expanded in the visitor's project), if it is of
    the visitor's project."""
    urn = parse_urn(text, region=client.settings.region, project=visitor.project)
    if urn.project != visitor.project:
        raise FunctionNotFound(_no_function(urn, visitor))
    return urn


def function(client: Client, visitor: Visitor, text: str) -> tuple[FunctionURN, CatalogueEntry]:
    """A function of the visitor's project that a worker or the API's app registered."""
    urn = function_urn(client, visitor, text)
    try:
        return urn, client.lookup(urn)
    except FunctionNotFound:
        raise FunctionNotFound(_no_function(urn, visitor)) from None


def functions(client: Client, visitor: Visitor) -> list[CatalogueEntry]:
    return [e for e in client.list_functions() if project_of(e.urn) == visitor.project]


def invocation(client: Client, visitor: Visitor, request_id: str) -> Invocation:
    missing = InvocationNotFound(
        f"project {visitor.project} has no invocation {request_id!r}: the id is wrong, or the "
        "record passed its retention"
    )
    return _within(visitor, lambda: client.get_invocation(request_id), missing)


def dead_letter(client: Client, visitor: Visitor, identity: str) -> DeadLetter:
    missing = DeadLetterNotFound(
        f"project {visitor.project} has no dead-lettered event {identity!r}: it was sent again "
        "or purged, or the identity is wrong"
    )
    return _within(visitor, lambda: client.dead_letters().get(identity), missing)


Found = TypeVar("Found", Invocation, DeadLetter)


def _within(visitor: Visitor, look: Callable[[], Found], missing: NotFound) -> Found:
    """What ``look`` finds, if it belongs to the visitor's project; else ``missing``."""
    try:
        found = look()
    except NotFound:
        raise missing from None
    if project_of(found.function_urn) != visitor.project:
        raise missing
    return found


def _no_function(urn: FunctionURN, visitor: Visitor) -> str:
    return (
        f"project {visitor.project} has no function {urn}: check the name, or start a worker "
        "that registers it"
    )
