"""One invocation to start, as admission checked it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from executor.core.catalogue import CatalogueEntry


@dataclass(frozen=True)
class Start:
    """One invocation to start, as checked: what it runs, with what, and how it is related.

    ``request_id`` None draws a fresh id; ``delay`` holds it in the due-time index first;
    ``origin`` is the invocation that started it; ``redrive_of`` and ``redrive_number`` number
    a redrive on its original; ``origin_deadline`` is the deadline of a running origin.
    """

    entry: CatalogueEntry
    payload: Any
    payload_json: str
    max_age: int
    chain: tuple[str, ...] = ()
    request_id: str | None = None
    origin: str = ""
    delay: float = 0.0
    redrive_of: str = ""
    redrive_number: int = 0
    traceparent: str = ""
    origin_deadline: float | None = None
