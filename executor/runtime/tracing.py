"""OpenTelemetry traces from the producer through the broker, the handler and the destination.

Tracing needs ``opentelemetry-api`` (the ``[otel]`` extra); without it every call here does
nothing, and a delivery still hands a destination the ``traceparent`` its invocation came with.
With it and no SDK configured every span is a no-op too. With an SDK (the ``OTEL_*`` variables
of ``opentelemetry-instrument``, or a ``TracerProvider`` the application sets), ``invoke_async``
starts a producer span whose W3C ``traceparent`` goes into the invocation message and its
record, each attempt on a worker is a span under it, and each delivery attempt is a span that
links to the attempt that produced the event. The delivery passes its own ``traceparent`` on to
the destination, so a FunctionGraph target, an SNS message, a webhook and a stream entry all
continue the same trace.

The spans themselves are made in ``executor.runtime.celery.spans``, imported on first use, so that a
producer or a worker that never traces does not load OpenTelemetry.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from executor.core import extras

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from executor.core.messages import DeliveryJob, InvocationMessage

log = logging.getLogger("executor.tracing")

ENDED_AS = "executor_outcome"

REQUEST_ID = "executor.request_id"
FUNCTION_URN = "executor.function_urn"
ATTEMPT = "executor.attempt"
OUTCOME = "executor.outcome"
DESTINATION = "executor.destination"


_available: bool | None = None


def available() -> bool:
    """Whether ``opentelemetry-api`` is installed (then ``runtime.celery.spans`` is loaded).

    Without it, a process whose environment asks for traces (an ``OTEL_*`` variable) says once
    which extra makes them.
    """
    global _available
    if _available is None:
        try:
            import executor.runtime.celery.spans  # noqa: F401
        except ModuleNotFoundError as exc:
            if extras.extra_of(exc.name) != "otel":
                raise
            # Known before the warning is logged: the log filter asks for the trace ids too.
            _available = False
            _say_why()
        else:
            _available = True
    return _available


def _say_why() -> None:
    asked = sorted(name for name in os.environ if name.startswith("OTEL_"))
    if asked:
        feature = f"tracing ({asked[0]} is set)"
        log.warning("no traces: %s", extras.needs(feature, "otel", ["opentelemetry-api"]))


def enabled() -> bool:
    """Whether an SDK is configured, so spans are recorded."""
    if not available():
        return False
    from executor.runtime.celery import spans

    return spans.enabled()


def traceparent() -> str:
    """The W3C ``traceparent`` of the current span; empty when nothing is traced."""
    if not available():
        return ""
    from executor.runtime.celery import spans

    return spans.traceparent()


def context_of(value: str) -> Context | None:
    """The trace context a ``traceparent`` names; None (the current one) when it is empty."""
    if not available():
        return None
    from executor.runtime.celery import spans

    return spans.context_of(value)


def ids() -> tuple[str, str] | None:
    """Trace and span id (hex) of the current span, for log lines; None when not traced."""
    if not available():
        return None
    from executor.runtime.celery import spans

    return spans.ids()


@contextmanager
def producing(function_urn: str) -> Iterator[str]:
    """The producer span of one ``invoke_async``; yields the ``traceparent`` to send on."""
    if not available():
        yield ""
        return
    from executor.runtime.celery import spans

    with spans.producing(function_urn) as sent:
        yield sent


def produced(request_id: str) -> None:
    """Name the request id the producer's invocation was given (known once it is accepted)."""
    if available():
        from executor.runtime.celery import spans

        spans.produced(request_id)


@contextmanager
def running(task: Any, message: InvocationMessage) -> Iterator[None]:
    """The span of one attempt, under the producer's; its outcome is set from how it ended."""
    if not available():
        yield
        return
    from executor.runtime.celery import spans

    with spans.running(task, message):
        yield


def ended(task: Any, outcome: str) -> None:
    """Note how this attempt ended, for its span (the task ends by raising)."""
    setattr(task.request, ENDED_AS, outcome)


def attempt(number: int) -> None:
    """Note the attempt number the status record gave the running attempt."""
    if available():
        from executor.runtime.celery import spans

        spans.attempt(number)


@contextmanager
def delivering(job: DeliveryJob, number: int) -> Iterator[str]:
    """The span of one delivery attempt, under the invocation's trace and linked to the
    attempt that produced the event; yields the ``traceparent`` the destination passes on."""
    if not available():
        yield job.traceparent
        return
    from executor.runtime.celery import spans

    with spans.delivering(job, number) as sent:
        yield sent
