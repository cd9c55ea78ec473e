"""The one place messages are handed to the broker: invocations and delivery jobs.

An invocation's message goes either through Celery's publisher (``invocation``) or, when the
broker is the state store's Redis, as a string a state-store script writes together with the
record (``fused``): ``Routes`` decides whether it may, ``Envelope`` builds the string as Celery
would have written it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Celery
from celery.utils.saferepr import saferepr

from executor.core.catalogue import CatalogueEntry
from executor.core.constants import DELIVER_TASK, DELIVERY_QUEUE
from executor.core.messages import DeliveryJob, InvocationMessage
from executor.core.settings import Settings
from executor.runtime.celery.celery_app import JSON
from executor.runtime.celery.envelope import Envelope
from executor.runtime.celery.redaction import delivery_repr, invocation_repr
from executor.runtime.celery.routes import Routes
from executor.runtime.ports import Origin
from executor.state.locations import locate
from executor.state.writes import Queued


class Publisher:
    """Hands every message of the engine to the broker, or to a script that writes it."""

    def __init__(self, celery: Celery, settings: Settings) -> None:
        self.celery = celery
        self.settings = settings
        self.routes = Routes(celery, locate(settings).store.endpoint)
        self.envelope = Envelope(celery)

    def invocation(
        self,
        entry: CatalogueEntry,
        request_id: str,
        message: InvocationMessage,
        retries: int = 0,
        countdown: float | None = None,
    ) -> None:
        """Queue one message of an invocation; ``retries`` is the retry index it runs as."""
        self.celery.send_task(
            entry.task,
            kwargs=message.kwargs(),
            task_id=request_id,
            queue=entry.queue,
            expires=datetime.fromtimestamp(message.deadline, tz=UTC),
            kwargsrepr=self._kwargsrepr(message),
            argsrepr="()",
            retries=retries,
            countdown=countdown,
            serializer=JSON,
        )

    def fused(
        self,
        entry: CatalogueEntry,
        request_id: str,
        message: InvocationMessage,
        origin: Origin | None = None,
        retries: int = 0,
    ) -> Queued | None:
        """The message of an invocation for a state-store script to write with its record;
        None when it must go through ``invocation`` (the reason is logged once)."""
        if not self.routes.available():
            return None
        route = self.routes.route(entry.task, entry.queue)
        if route is None:
            return None
        text, event = self.envelope.encode(
            route,
            task=entry.task,
            task_id=request_id,
            kwargs=message.kwargs(),
            argsrepr="()",
            kwargsrepr=self._kwargsrepr(message),
            expires=message.deadline,
            retries=retries,
            origin=origin,
        )
        return Queued(route.queue, text, route.channel, event)

    def _kwargsrepr(self, message: InvocationMessage) -> str:
        masked = invocation_repr(self.settings, message.urn)
        if masked is not None:
            return masked
        # Shown as Celery would show them, with the payload the message may leave out.
        return str(
            saferepr(
                message.shown(),
                self.celery.amqp.kwargsrepr_maxsize,
                maxlevels=self.celery.conf.task_repr_maxlevels,
            )
        )

    def delivery(self, job: DeliveryJob) -> None:
        """Queue the delivery task; it runs on its own queue so slow destinations never stall
        work, and retries until the delivery deadline."""
        self.celery.send_task(
            DELIVER_TASK,
            kwargs=job.kwargs(),
            task_id=job.identity,
            queue=DELIVERY_QUEUE,
            kwargsrepr=delivery_repr(self.settings, job.request_id, job.kind),
            argsrepr="()",
            serializer=JSON,
        )
