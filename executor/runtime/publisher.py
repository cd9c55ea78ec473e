"""The one place messages are handed to the broker: invocations and delivery jobs."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Celery

from executor.core.catalogue import CatalogueEntry
from executor.core.constants import DELIVER_TASK, DELIVERY_QUEUE
from executor.core.messages import DeliveryJob, InvocationMessage
from executor.core.settings import Settings
from executor.runtime.engine import JSON
from executor.runtime.redaction import delivery_repr, invocation_repr


class Publisher:
    def __init__(self, celery: Celery, settings: Settings) -> None:
        self.celery = celery
        self.settings = settings

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
            kwargsrepr=invocation_repr(self.settings, message.urn),
            argsrepr="()",
            retries=retries,
            countdown=countdown,
            serializer=JSON,
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
