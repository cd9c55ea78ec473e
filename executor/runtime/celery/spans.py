"""The spans of ``executor.runtime.tracing``, made with ``opentelemetry-api`` (the ``[otel]``
extra); only ``tracing`` imports this module, once the package is found installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from executor.core.messages import DeliveryJob, InvocationMessage
from executor.runtime.tracing import (
    ATTEMPT,
    DESTINATION,
    ENDED_AS,
    FUNCTION_URN,
    OUTCOME,
    REQUEST_ID,
)

_W3C = TraceContextTextMapPropagator()


def _tracer() -> trace.Tracer | None:
    """The tracer of the configured provider; None when no SDK is configured, where making
    no-op spans would cost tens of microseconds per invocation for nothing."""
    # Looked up per span, so a provider set after this module was imported is used.
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    return _tracer_of(provider)


def enabled() -> bool:
    """Whether an SDK is configured, so spans are recorded."""
    return _tracer() is not None


@lru_cache(maxsize=4)
def _tracer_of(provider: trace.TracerProvider) -> trace.Tracer:
    return provider.get_tracer("executor")


@contextmanager
def _continued(value: str) -> Iterator[None]:
    """Untraced here, but an upstream trace stays current, so logs and destinations see it."""
    parent = context_of(value)
    if parent is None:
        yield
        return
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


def traceparent() -> str:
    """The W3C ``traceparent`` of the current span; empty when nothing is traced."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent", "")


def context_of(value: str) -> Context | None:
    """The trace context a ``traceparent`` names; None (the current one) when it is empty."""
    return _W3C.extract({"traceparent": value}) if value else None


def ids() -> tuple[str, str] | None:
    """Trace and span id (hex) of the current span, for log lines; None when not traced."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


@contextmanager
def producing(function_urn: str) -> Iterator[str]:
    """The producer span of one ``invoke_async``; yields the ``traceparent`` to send on."""
    tracer = _tracer()
    if tracer is None:
        yield traceparent()
        return
    with tracer.start_as_current_span(
        f"invoke {function_urn.rsplit(':', 2)[-2]}",
        kind=SpanKind.PRODUCER,
        attributes={FUNCTION_URN: function_urn},
    ):
        yield traceparent()


def produced(request_id: str) -> None:
    """Name the request id the producer's invocation was given (known once it is accepted)."""
    trace.get_current_span().set_attribute(REQUEST_ID, request_id)


@contextmanager
def running(task: Any, message: InvocationMessage) -> Iterator[None]:
    """The span of one attempt, under the producer's; its outcome is set from how it ended."""
    # Only a worker's task runs this: a producer's spans load no Celery.
    from celery.exceptions import Retry

    tracer = _tracer()
    if tracer is None:
        with _continued(message.traceparent):
            yield
        return
    urn = message.urn
    with tracer.start_as_current_span(
        f"run {urn.rsplit(':', 2)[-2] if urn else task.name}",
        context=context_of(message.traceparent),
        kind=SpanKind.CONSUMER,
        attributes={REQUEST_ID: str(task.request.id), FUNCTION_URN: urn},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield
        except Retry:
            span.set_attribute(OUTCOME, "RETRY")
            raise
        except BaseException as exc:
            found = getattr(task.request, ENDED_AS, None)
            span.set_attribute(OUTCOME, found or "ERROR")
            if found != "DISCARD" and found != "SKIPPED":
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            raise
        span.set_attribute(OUTCOME, "SUCCESS")


def attempt(number: int) -> None:
    """Note the attempt number the status record gave the running attempt."""
    trace.get_current_span().set_attribute(ATTEMPT, number)


@contextmanager
def delivering(job: DeliveryJob, number: int) -> Iterator[str]:
    """The span of one delivery attempt, under the invocation's trace and linked to the
    attempt that produced the event; yields the ``traceparent`` the destination passes on."""
    tracer = _tracer()
    if tracer is None:
        with _continued(job.traceparent):
            yield traceparent()
        return
    links = []
    produced = context_of(job.link)
    if produced is not None:
        span_context = trace.get_current_span(produced).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
    with tracer.start_as_current_span(
        f"deliver {job.outcome} to {job.kind}",
        context=context_of(job.traceparent),
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={
            REQUEST_ID: job.request_id,
            FUNCTION_URN: job.function_urn,
            DESTINATION: job.kind,
            OUTCOME: job.outcome,
            ATTEMPT: number,
        },
    ):
        yield traceparent()
