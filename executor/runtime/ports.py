"""What the engine's rules ask of Celery, as small interfaces: the seam (``runtime.celery``)
answers them, and a unit test answers them with a stub, without Celery.

- ``Publishing``: hand a message to the broker (an invocation's, or a delivery's), or build it
  for a state-store script to write with its record;
- ``Revoking``: ask the workers to drop (or stop) the tasks of cancelled invocations;
- ``RetryingTask``: the running task's own retry, which the broker client raises;
- the task's context reaches an ``Execution`` as plain values (the request id, the retry index)
  and the exceptions that stop a handler without failing it (``stops``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from executor.core.catalogue import CatalogueEntry
    from executor.core.messages import DeliveryJob, InvocationMessage
    from executor.state.writes import Queued


@dataclass(frozen=True)
class Origin:
    """The task a message is sent from, for its ``root_id`` and ``parent_id`` headers."""

    root_id: str | None = None
    parent_id: str | None = None


class Publishing(Protocol):
    """Hands the engine's messages to the broker."""

    def invocation(
        self,
        entry: CatalogueEntry,
        request_id: str,
        message: InvocationMessage,
        retries: int = 0,
        countdown: float | None = None,
    ) -> None:
        """Queue one message of an invocation; ``retries`` is the retry index it runs as."""

    def fused(
        self,
        entry: CatalogueEntry,
        request_id: str,
        message: InvocationMessage,
        origin: Origin | None = None,
        retries: int = 0,
    ) -> Queued | None:
        """The message for a state-store script to write with its record; None when it must
        go through ``invocation``."""

    def delivery(self, job: DeliveryJob) -> None:
        """Queue the delivery task of one result event."""


class Revoking(Protocol):
    """The broker client's broadcast that asks workers to drop (or stop) tasks."""

    def revoke(self, task_ids: list[str], /, *, terminate: bool, signal: str) -> None:
        """Ask every worker to drop ``task_ids``; with ``terminate``, to stop a running one."""


class RetryingTask(Protocol):
    """The running task, as far as a delivery asks it for another attempt."""

    def retry(self, *, countdown: float, kwargs: dict[str, Any]) -> BaseException:
        """The exception that ends this run and queues the task again after ``countdown``."""
