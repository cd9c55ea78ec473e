"""The Celery tasks that run one invocation of one function, and one delivery of one event.

Retries are counted by the message (``request.retries``) and bounded by the function's
``max_async_retry_attempts`` and by the message's deadline (see ``execution``), never by
Celery's per-task ``max_retries``, which is shared between threads.
"""

from __future__ import annotations

from typing import Any

from executor.core.constants import DELIVER_TASK
from executor.core.messages import DeliveryJob, InvocationMessage
from executor.core.registry import FunctionSpec
from executor.runtime import tracing
from executor.runtime.celery import outcome
from executor.runtime.celery.errors import STOPS
from executor.runtime.celery.redaction import MaskedTask
from executor.runtime.delivery import Deliveries
from executor.runtime.execution import Execution
from executor.runtime.lifecycle import Lifecycle


class InvocationTask(MaskedTask):
    """Base of every function's task: at-least-once, retried only by our own rules."""

    max_retries = None
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    typing = False


def make_runner(lifecycle: Lifecycle, spec: FunctionSpec) -> Any:
    """The body of ``spec``'s task: its keyword arguments are an ``InvocationMessage``."""

    def run(task: InvocationTask, **kwargs: Any) -> None:
        message = InvocationMessage.model_validate(kwargs)
        with tracing.running(task, message):
            execution = Execution(
                lifecycle, spec, message, task.request.id, task.request.retries or 0, stops=STOPS
            )
            outcome.report(task, execution.run())

    # Celery compiles a signature from this name, so it must be an identifier ('-' is not).
    run.__name__ = spec.urn.name.replace("-", "_")
    run.__doc__ = spec.handler.__doc__
    return run


class DeliveryTask(MaskedTask):
    """The delivery task: at-least-once, retried by the delivery deadline, never by Celery's
    ``max_retries``."""

    max_retries = None
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    typing = False


def register_delivery(
    celery: Any, deliveries: Deliveries, base: type[DeliveryTask], options: dict[str, Any]
) -> Any:
    """The delivery task on ``celery``; its keyword arguments are a ``DeliveryJob``."""

    @celery.task(name=DELIVER_TASK, bind=True, base=base, shared=False, **options)  # type: ignore[untyped-decorator]
    def deliver(task: DeliveryTask, **kwargs: Any) -> None:
        deliveries.run(DeliveryJob.model_validate(kwargs), task)

    return deliver
