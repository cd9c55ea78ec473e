"""The messages that cross the broker, as typed models.

An ``InvocationMessage`` is the keyword arguments of a function's task; a ``DeliveryJob`` those
of the delivery task. Each is built by one method of the runtime and read back by its task, so
the field names on the wire are written in this module alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, computed_field

from executor.core.config import DestinationRef

_WIRE = ConfigDict(frozen=True, extra="ignore")


class Described(Protocol):
    """What an invocation's message is made of: a new invocation or its stored record."""

    @property
    def urn(self) -> str: ...
    @property
    def chain(self) -> Sequence[str]: ...
    @property
    def enqueued_at(self) -> float: ...
    @property
    def deadline(self) -> float: ...
    @property
    def origin(self) -> str: ...
    @property
    def traceparent(self) -> str: ...


class InvocationMessage(BaseModel):
    """One invocation of one function, as its task receives it.

    With ``in_record`` the payload stays out of the message: the record keeps it, and the
    claim of an attempt reads it from there, so a waiting invocation holds it once.
    """

    model_config = _WIRE

    payload: Any = None
    urn: str = ""
    chain: tuple[str, ...] = ()
    enqueued_at: float = 0.0
    deadline: float = 0.0
    origin: str = ""
    in_record: bool = False
    traceparent: str = ""  # W3C trace context of the producer's span; empty when untraced

    @classmethod
    def of(cls, invocation: Described, payload: Any = None) -> InvocationMessage:
        """The message of ``invocation``; the record keeps the payload, so the message goes
        without it, and ``payload`` is there only to be shown (in task events and logs)."""
        return cls(
            payload=payload,
            urn=invocation.urn,
            chain=tuple(invocation.chain),
            enqueued_at=invocation.enqueued_at,
            deadline=invocation.deadline,
            origin=invocation.origin,
            in_record=True,
            traceparent=invocation.traceparent,
        )

    def kwargs(self) -> dict[str, Any]:
        """The task's keyword arguments on the wire."""
        wire = self.shown()
        if self.in_record:
            del wire["payload"]
            wire["in_record"] = True
        return wire

    def shown(self) -> dict[str, Any]:
        """The arguments with the payload, as task events show them when payloads are shown."""
        shown: dict[str, Any] = {
            "payload": self.payload,
            "urn": self.urn,
            "chain": list(self.chain),
            "enqueued_at": self.enqueued_at,
            "deadline": self.deadline,
            "origin": self.origin,
        }
        if self.traceparent:
            shown["traceparent"] = self.traceparent
        return shown


class DeliveryJob(BaseModel):
    """One result event to hand to one destination.

    ``chain`` is the chain of the invocation that produced the event; ``first_at`` is when the
    first attempt was queued, which fixes the delivery deadline for every later attempt;
    ``token`` names the delivery chain the job belongs to (one chain per event may attempt).
    ``traceparent`` is the trace of the invocation; ``link`` the span of the attempt that
    produced the event (both W3C ``traceparent`` values, empty when untraced).
    """

    model_config = _WIRE

    request_id: str
    outcome: str
    destination: DestinationRef
    event: dict[str, Any]
    chain: tuple[str, ...] = ()
    function_urn: str
    agency: str | None = None
    first_at: float = 0.0
    token: str = ""
    traceparent: str = ""
    link: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def identity(self) -> str:
        """Stable across every attempt of this event: ``<request_id>:<outcome>``."""
        return f"{self.request_id}:{self.outcome}"

    @property
    def kind(self) -> str:
        return self.destination.destination

    def kwargs(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "outcome": self.outcome,
            "destination": self.destination.model_dump(),
            "event": self.event,
            "chain": list(self.chain),
            "function_urn": self.function_urn,
            "agency": self.agency,
            "first_at": self.first_at,
            "token": self.token,
            "traceparent": self.traceparent,
            "link": self.link,
        }


class DeadLetter(DeliveryJob):
    """An event that was not delivered, with why and after how many attempts."""

    reason: str
    attempts: int
    at: float

    def summary(self) -> dict[str, Any]:
        """What a listing shows: everything but the event itself."""
        return {
            "identity": self.identity,
            "function_urn": self.function_urn,
            "destination": self.kind,
            "reason": self.reason,
            "attempts": self.attempts,
            "at": datetime.fromtimestamp(self.at, tz=UTC).isoformat(timespec="seconds"),
        }
