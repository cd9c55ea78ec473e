"""A message of a function this worker does not know: sent on, never dropped.

Workers of different apps, or of an old and a new version of one app, may share a queue: in a
rolling deploy that adds a function, an old worker takes messages of a function only the new
workers know. Celery rejects such a message as an unregistered task, and a rejected message is
gone. The worker's consumer hands it here instead (``intake.Consumer.on_unknown_task``):

- a message whose invocation has ended, or has no record, is a stale copy: acknowledged;
- one whose invocation has aged out ends it, DISCARD with ``EventAgeExceeded``, as a worker
  that knew the function would have;
- otherwise it is published again, unchanged but for a count of its rebounds, to the queue the
  worker catalogue names for its function (else the queue it came from), and then acknowledged:
  a process that dies in between leaves two copies, and the run's claim lets one alone run;
- after ``REBOUNDS`` rebounds in a row, it waits on the due-time index of delayed invocations
  instead, and the reconciler publishes it again later; the longer it has waited, the longer it
  waits there (a tenth of its wait, from a reconcile period up to ``MAX_PAUSE``). A fleet where
  no worker knows the function, because it was removed or is not deployed yet, so spends at
  most ``REBOUNDS`` + 1 publishes per pause on each invocation, until its message age ends it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from executor.core.catalogue import CatalogueEntry
from executor.core.constants import INVOCATION_QUEUE
from executor.core.errors import ExecutorError
from executor.core.invocation import Status
from executor.core.record import InvocationRecord
from executor.core.settings import Settings
from executor.runtime.lifecycle import Lifecycle
from executor.state.functions import Functions
from executor.state.store import Store

if TYPE_CHECKING:
    from executor.runtime.celery.types import Celery

log = logging.getLogger("executor.rebound")

# The message header that counts how many workers in a row did not know the function.
HEADER = "executor_rebounds"
# Rebounds in a row before the message waits on the due-time index.
REBOUNDS = 8
# The longest wait on the due-time index between two rounds of rebounds, in seconds.
MAX_PAUSE = 300.0
# The wait grows with the time the invocation has waited: a tenth of it.
PAUSE_SHARE = 0.1


class Rebound:
    """Sends on the messages of functions this worker's app does not register."""

    def __init__(
        self,
        celery: Celery,
        settings: Settings,
        store: Store,
        functions: Functions,
        lifecycle: Lifecycle,
    ) -> None:
        self.celery = celery
        self.settings = settings
        self.store = store
        self.functions = functions
        self.lifecycle = lifecycle

    def handle(self, message: Any) -> bool:
        """Send ``message`` on, or end its invocation; False if neither could be done (the
        caller puts the message back). Never raises: the caller is the worker's consumer."""
        headers = message.headers if isinstance(message.headers, dict) else {}
        request_id, task = headers.get("id"), headers.get("task")
        try:
            if not isinstance(request_id, str):
                raise ValueError(f"the message of {task!r} carries no task id")
            self._handle(message, headers, request_id, str(task))
        except Exception:
            log.exception(
                "could not send on message %s of %s, which this worker does not know",
                request_id,
                task,
            )
            return False
        return True

    def _handle(self, message: Any, headers: dict[str, Any], request_id: str, task: str) -> None:
        record = self.store.records.record(request_id)
        if record is None or record.status.terminal:
            log.info("dropping a stale copy of %s (%s): its invocation has ended", request_id, task)
            return
        now = time.time()
        if record.status is Status.WAIT and now >= record.deadline:
            self.lifecycle.expire(request_id, note="aged out while no worker knew its function")
            return
        rebounds = _count(headers.get(HEADER))
        if rebounds >= REBOUNDS:
            due = min(now + self._pause(record, now), record.deadline)
            self.store.due.put_back(request_id, due)
            log.warning(
                "%s %s: %d workers in a row did not know its function; it waits %.0f s "
                "before it is published again",
                record.urn,
                request_id,
                rebounds + 1,
                due - now,
            )
            return
        queue = self._queue(record, message)
        self._publish(message, {**headers, HEADER: rebounds + 1}, queue)
        log.info(
            "sent %s %s back to queue %s: this worker does not know task %s",
            record.urn,
            request_id,
            queue,
            task,
        )

    def _pause(self, record: InvocationRecord, now: float) -> float:
        waited = max(0.0, now - record.enqueued_at)
        return min(MAX_PAUSE, max(self.settings.reconcile_interval, waited * PAUSE_SHARE))

    def _queue(self, record: InvocationRecord, message: Any) -> str:
        """The queue the worker catalogue names for the function, else the one it came from."""
        try:
            entry: CatalogueEntry = self.functions.lookup(self.functions.resolve(record.urn))
        except ExecutorError:
            info = message.delivery_info if isinstance(message.delivery_info, dict) else {}
            return str(info.get("routing_key") or INVOCATION_QUEUE)
        return entry.queue

    def _publish(self, message: Any, headers: dict[str, Any], queue: str) -> None:
        """Publish the message's own body and properties again, straight to ``queue``."""
        properties = message.properties if isinstance(message.properties, dict) else {}
        with self.celery.producer_or_acquire() as producer:
            producer.publish(
                message.body,
                exchange="",
                routing_key=queue,
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                priority=properties.get("priority"),
                correlation_id=properties.get("correlation_id"),
                reply_to=properties.get("reply_to"),
                retry=True,
            )


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
