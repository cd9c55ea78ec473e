"""The one protocol every destination kind implements, and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict


class Param(BaseModel):
    """The decoded ``param`` of a destination; each kind subclasses it."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


@dataclass(frozen=True)
class Delivery:
    """One result event on its way to one destination.

    ``identity`` is stable across repeated deliveries of the same outcome (the request id and
    the outcome), so a destination can overwrite or skip instead of duplicating.
    """

    identity: str
    request_id: str
    outcome: str
    function_urn: str
    event: dict[str, Any]
    param: Param
    chain: tuple[str, ...] = ()
    agency: str | None = None
    attempt: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """A delivery did not happen; ``permanent`` says whether trying again can help."""

    permanent = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemporaryDeliveryError(DeliveryError):
    """The destination is unreachable or busy; the delivery is tried again later."""


class PermanentDeliveryError(DeliveryError):
    """The destination refused the event for good (denied, missing, malformed)."""

    permanent = True


class Destination(Protocol):
    """A destination kind: validates its ``param`` and delivers one event."""

    kind: ClassVar[str]
    param_model: ClassVar[type[Param]]

    def deliver(self, delivery: Delivery) -> None:
        """Hand the event over, or raise a ``DeliveryError``."""
