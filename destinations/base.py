"""The one protocol every destination kind implements, what it is given, and its errors.

A destination is handed a ``Delivery`` (the event and where it goes) and a ``DestinationRuntime``
(what it may use of the engine: settings, agencies, markers in the state store, and invoking a
function). The runtime is passed in, never looked up, so a destination can be driven by a test
with a small stub.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import redis

from executor.core.params import Param

if TYPE_CHECKING:
    from executor.core.agency import Agencies
    from executor.core.settings import Settings


@dataclass(frozen=True)
class Delivery:
    """One result event on its way to one destination.

    ``identity`` is stable across repeated deliveries of the same outcome (the request id and
    the outcome), so a destination can overwrite or skip instead of duplicating. ``chain`` is
    the call chain of the invocation that produced the event (without its own function).
    ``traceparent`` is the W3C trace context of this delivery (empty when nothing is traced):
    a destination passes it on where its service carries one.
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
    traceparent: str = ""

    def body(self) -> bytes:
        """The event as compact UTF-8 JSON, byte for byte what every destination receives."""
        return json.dumps(self.event, separators=(",", ":"), ensure_ascii=False).encode()


class DestinationRuntime(Protocol):
    """What the engine lends a destination for one delivery."""

    @property
    def settings(self) -> Settings: ...

    @property
    def agencies(self) -> Agencies: ...

    @property
    def state_url(self) -> str:
        """The redis-py URL of the state store ("" when it is a sentinel master or a cluster):
        where DIS streams go when their agency names no Redis."""
        ...

    def invoke_next(self, function_urn: str, delivery: Delivery, request_id: str) -> str:
        """Invoke ``function_urn`` asynchronously with the event, one hop down the chain."""
        ...

    def claim_marker(self, name: str, value: str, ttl: int) -> bool:
        """Set the marker ``name`` unless it exists; True when this call set it."""
        ...

    def read_marker(self, name: str) -> str | None: ...

    def write_marker(self, name: str, value: str, ttl: int) -> None: ...

    def drop_marker(self, name: str) -> None: ...


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
    """A destination kind: names its ``param`` model and delivers one event."""

    kind: ClassVar[str]
    param_model: ClassVar[type[Param]]

    def deliver(self, delivery: Delivery, runtime: DestinationRuntime) -> None:
        """Hand the event over, or raise a ``DeliveryError``."""


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
