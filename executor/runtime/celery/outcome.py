"""How the end of an invocation shows in Celery: the task state that Flower and events report.

The status record is the truth, and the task's Celery state follows it. The execution of a
message decides a ``Report``, and ``report`` makes Celery end the task so: a SUCCESS returns, a
FAIL raises the function's own error (or, for a platform failure, ``InvocationFailed``), a
DISCARD sends a ``task-revoked`` event and ignores the message, a retry raises Celery's
``Retry``, and a message that cannot be looked at now goes back to its queue. The message is
acknowledged in every case (``acks_on_failure_or_timeout``), so a failure is never run again by
the broker. A failure raised here is marked on the request, so the ``task_failure`` hook knows
the invocation has ended already and leaves its record alone.

Once Celery has logged such an error, ``release`` lets go of its traceback: Celery's tracer
keeps the error in its own frame, which the traceback holds in turn, so every failure, retry
and skip otherwise leaves a reference cycle of frames, the message's payload and the run's
objects that only a full garbage collection frees, and the pool process grows in between.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, NoReturn

from celery.exceptions import Ignore, Reject, Retry

from executor.runtime import tracing
from executor.runtime.report import End, Report

log = logging.getLogger("executor.task")

# Exceptions Celery reads as orders (retry, drop, reject) rather than as a failure.
_CELERY_ORDERS = (Ignore, Reject, Retry)

_SETTLED = "executor_settled"


class InvocationFailed(Exception):
    """An invocation ended FAIL with no exception of its function (aged out, worker lost)."""


def report(task: Any, result: Report) -> None:
    """End ``task`` in Celery as ``result`` says: return for a success, raise otherwise."""
    if result.end is End.SUCCESS:
        return
    if result.end is End.FAIL:
        fail(task, result.error or "failed")
    if result.end is End.DISCARD:
        discard(task, expired=result.expired)
    if result.end is End.RETRY:
        error = result.error if isinstance(result.error, BaseException) else None
        raise task.retry(countdown=result.countdown, exc=error)
    if result.end is End.REQUEUE:
        raise Reject(str(result.error), requeue=True)
    skip(task)


def fail(task: Any, error: BaseException | str) -> NoReturn:
    """End the task as FAILURE with ``error``; the record already says FAIL."""
    setattr(task.request, _SETTLED, True)
    tracing.ended(task, "FAIL")
    # Celery obeys its own orders, and a SystemExit or KeyboardInterrupt raised again would
    # take the pool process down: those are reported as InvocationFailed instead.
    if isinstance(error, _CELERY_ORDERS) or (
        isinstance(error, BaseException) and not isinstance(error, Exception)
    ):
        raise InvocationFailed(f"{type(error).__name__}: {error}") from error
    if isinstance(error, BaseException):
        raise error
    raise InvocationFailed(error)


def discard(task: Any, *, expired: bool) -> NoReturn:
    """End the task as REVOKED; the record already says DISCARD."""
    tracing.ended(task, "DISCARD")
    if task.app.conf.worker_send_task_events:
        try:
            task.send_event("task-revoked", terminated=False, signum=None, expired=expired)
        except Exception as exc:  # the record is right; only the monitor misses the state
            log.warning("task-revoked event of %s not sent: %s", task.request.id, exc)
    raise Ignore()


def skip(task: Any) -> NoReturn:
    """A message with nothing left to do (a duplicate, or an older copy): no state of its own."""
    tracing.ended(task, "SKIPPED")
    raise Ignore()


def release(error: BaseException) -> None:
    """Drop the tracebacks of ``error`` and of the errors it carries (its cause, its context,
    the error a Celery ``Retry`` wraps) once nothing more is to be logged from them."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
            current.__traceback__ = None
        wrapped = getattr(current, "exc", None)
        if isinstance(current, Retry):
            # A Retry names itself among its args, a cycle of its own; Celery pickles it
            # from its attributes, not its args.
            current.args = ()
        todo += [current.__cause__, current.__context__]
        if isinstance(wrapped, BaseException):
            todo.append(wrapped)


def settled(task: Any) -> bool:
    """Whether the failure being reported for ``task`` was raised by ``fail``."""
    request = getattr(task, "request", None)
    return bool(getattr(request, _SETTLED, False))
