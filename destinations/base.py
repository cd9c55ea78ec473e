"""The one protocol every destination kind implements, and the errors it raises."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import redis
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from executor.client import Client


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

    def body(self) -> bytes:
        """The event as compact UTF-8 JSON, byte for byte what every destination receives."""
        return json.dumps(self.event, separators=(",", ":"), ensure_ascii=False).encode()


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


def runtime() -> Client:
    """The running app's client: its settings, agencies and state store."""
    # Imported late: the executor package imports this one while it loads.
    from executor.client import current_client

    return current_client()


@contextmanager
def redis_errors(what: str) -> Iterator[None]:
    """Redis failures as delivery errors: refused credentials and commands are permanent,
    except a replica mid-failover and a full memory, which pass."""
    try:
        yield
    except redis.ReadOnlyError as exc:
        raise TemporaryDeliveryError(f"{what}: {exc}") from exc
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        if str(exc).startswith("OOM"):
            raise TemporaryDeliveryError(f"{what}: {exc}") from exc
        raise PermanentDeliveryError(f"{what}: {exc}") from exc
    except redis.RedisError as exc:
        raise TemporaryDeliveryError(f"{what}: {exc}") from exc
