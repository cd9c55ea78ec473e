"""Stand-ins for the broker, the destination runtime and the delivery task in the unit layer.

Each records what it was asked to do, and can be told to fail, so a test can check both what
the engine sent and what it left behind when sending failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from destinations import Delivery
from executor.core.agency import Agencies
from executor.core.catalogue import CatalogueEntry
from executor.core.messages import DeliveryJob, InvocationMessage
from executor.core.settings import Settings


@dataclass(frozen=True)
class Published:
    entry: CatalogueEntry
    request_id: str
    message: InvocationMessage
    retries: int


class RecordingPublisher:
    """A ``Publisher`` that keeps messages instead of sending them; ``fail`` makes it raise."""

    def __init__(self) -> None:
        self.invocations: list[Published] = []
        self.deliveries: list[DeliveryJob] = []
        self.fail: Exception | None = None

    def invocation(
        self, entry: CatalogueEntry, request_id: str, message: InvocationMessage, retries: int = 0
    ) -> None:
        if self.fail is not None:
            raise self.fail
        self.invocations.append(Published(entry, request_id, message, retries))

    def fused(
        self,
        entry: CatalogueEntry,
        request_id: str,
        message: InvocationMessage,
        origin: object = None,
        retries: int = 0,
    ) -> None:
        """Never fused: these tests see every message go through ``invocation``."""
        return None

    def delivery(self, job: DeliveryJob) -> None:
        if self.fail is not None:
            raise self.fail
        self.deliveries.append(job)


class RecordingCelery:
    """The two things a ``Client`` asks of Celery: ``send_task`` and ``control.revoke``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.revoked: list[tuple[str, dict[str, Any]]] = []
        self.control = self

    def send_task(self, name: str, **options: Any) -> None:
        self.sent.append((name, options))

    def revoke(self, task_id: str, **options: Any) -> None:
        self.revoked.append((task_id, options))


@dataclass
class StubRuntime:
    """A ``DestinationRuntime``: records the invocations a destination asks for."""

    settings: Settings
    agencies: Agencies = field(default_factory=Agencies)
    calls: list[tuple[str, Delivery, str]] = field(default_factory=list)
    fail: Exception | None = None
    markers: dict[str, str] = field(default_factory=dict)
    state_url: str = ""

    def invoke_next(self, function_urn: str, delivery: Delivery, request_id: str) -> str:
        self.calls.append((function_urn, delivery, request_id))
        if self.fail is not None:
            raise self.fail
        return request_id

    def claim_marker(self, name: str, value: str, ttl: int) -> bool:
        if name in self.markers:
            return False
        self.markers[name] = value
        return True

    def read_marker(self, name: str) -> str | None:
        return self.markers.get(name)

    def write_marker(self, name: str, value: str, ttl: int) -> None:
        self.markers[name] = value

    def drop_marker(self, name: str) -> None:
        self.markers.pop(name, None)


class RetryRequested(Exception):
    """What ``StubTask.retry`` returns for the caller to raise, as Celery's ``Retry`` is."""


@dataclass
class StubTask:
    """The delivery task as ``Deliveries.run`` uses it: only ``retry``."""

    retries: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def retry(self, *, countdown: float, kwargs: dict[str, Any]) -> RetryRequested:
        self.retries.append((countdown, kwargs))
        return RetryRequested()
