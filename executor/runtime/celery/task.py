"""The Celery task that runs one invocation of one function.

Retries are counted by the message (``request.retries``) and bounded by the function's
``max_async_retry_attempts`` and by the message's deadline (see ``execution``), never by
Celery's per-task ``max_retries``, which is shared between threads.
"""

from __future__ import annotations

from typing import Any

from executor.core.messages import InvocationMessage
from executor.core.registry import FunctionSpec
from executor.runtime import tracing
from executor.runtime.celery import outcome
from executor.runtime.celery.redaction import MaskedTask
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
                lifecycle, spec, message, task.request.id, task.request.retries or 0
            )
            outcome.report(task, execution.run())

    # Celery compiles a signature from this name, so it must be an identifier ('-' is not).
    run.__name__ = spec.urn.name.replace("-", "_")
    run.__doc__ = spec.handler.__doc__
    return run
