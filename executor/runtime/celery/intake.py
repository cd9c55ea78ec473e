"""What a worker does with a message before a pool process may take it.

A message is checked at acceptance, but a message can also come from elsewhere (a copy, an
older producer, a hand-made publish). Two things in such a message could stop a whole worker
rather than fail one invocation: a body the broker client cannot decode, and a payload nested
so deeply that pickling it for a prefork child overflows the stack in the worker's main
process. Both are caught here, through Celery's own extension points (the task's ``Request``
class and the worker's ``Consumer`` class): the message is acknowledged and the invocation ends
FAIL with an event that says why.

The consumer also notes when its broker connection was lost. Celery's prefork pool can then
lose track of a job a child had already finished, and report a hard time limit for it later
(see ``hooks``); such a report is not trusted. Nothing else is changed in how Celery runs a
task.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

from celery import signals
from celery.exceptions import CPendingDeprecationWarning
from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.request import Request
from celery.worker.state import task_ready

from executor.core.constants import INVOKE_TASK_PREFIX
from executor.core.payload import DEPTH_SETTING, PayloadRefused, nesting

log = logging.getLogger("executor.intake")


Refuse = Callable[[str, str], object]
# Sends on a message of a function the worker does not know; False if it could not.
SendOn = Callable[[Any], bool]


def _refuse(refuse: Refuse | None, request_id: str, reason: str) -> None:
    """End the invocation FAIL with ``reason``; never raises (the caller is the worker)."""
    log.error("invocation %s refused by the worker: %s", request_id, reason)
    if refuse is None:
        return
    try:
        refuse(request_id, reason)
    except Exception:
        log.exception("could not end refused invocation %s; the reconciler will", request_id)


class InvocationRequest(Request):  # type: ignore[misc]
    """A function's task request that refuses a payload the pool could not carry.

    Celery asks ``revoked()`` before it hands a request to the pool, and acknowledges and skips
    a request that answers True; a refused request is acknowledged and announced as revoked
    the same way. ``bound`` makes the class of one app, which knows how to end the invocation.
    """

    refuse: ClassVar[Refuse | None] = None
    max_depth: ClassVar[int] = 0
    _checked = False
    _refused = False

    @classmethod
    def bound(cls, refuse: Refuse, max_depth: int) -> type[InvocationRequest]:
        return type(cls.__name__, (cls,), {"refuse": staticmethod(refuse), "max_depth": max_depth})

    def revoked(self) -> bool:
        if self._refused or super().revoked():
            return True
        if self._checked:  # Celery may ask more than once; the payload is walked once
            return False
        self._checked = True
        reason = self._refusal()
        if reason is None:
            return False
        self._refused = True
        _refuse(type(self).refuse, self.id, reason)
        task_ready(self)
        self.send_event("task-revoked", terminated=False, signum=None, expired=False)
        self.acknowledge()
        return True

    def _refusal(self) -> str | None:
        kwargs = self.kwargs
        if not isinstance(kwargs, dict) or not self.max_depth:
            return None  # not our shape: the task itself fails it with a validation error
        max_depth = self.max_depth
        try:
            depth = nesting(kwargs.get("payload"), max_depth)
        except PayloadRefused as exc:  # not JSON: the task reports it like any bad payload
            log.debug("payload check of %s: %s", self.id, exc)
            return None
        if depth > max_depth:
            return (
                f"PayloadRefused: the payload nests deeper than {max_depth} levels of objects "
                f"and arrays ({DEPTH_SETTING}); it was not run"
            )
        return None


class _ConnectionLoss:
    at = -math.inf  # time.monotonic() of the last loss in this process


def connection_lost_within(seconds: float) -> bool:
    """Whether this worker lost its broker connection in the last ``seconds``."""
    return time.monotonic() - _ConnectionLoss.at <= seconds


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """The worker's consumer: a message whose body cannot be decoded ends its invocation; a
    message of a function this worker does not know is sent on (see ``rebound``), not dropped;
    a lost broker connection is noted. ``bound`` makes the class of one app."""

    refuse: ClassVar[Refuse | None] = None
    send_on: ClassVar[SendOn | None] = None

    @classmethod
    def bound(cls, refuse: Refuse, send_on: SendOn) -> type[Consumer]:
        attributes = {"refuse": staticmethod(refuse), "send_on": staticmethod(send_on)}
        return type(cls.__name__, (cls,), attributes)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        headers = getattr(message, "headers", None)
        headers = headers if isinstance(headers, dict) else {}
        task = str(headers.get("task", ""))
        send_on = type(self).send_on
        if send_on is None or not task.startswith(INVOKE_TASK_PREFIX):
            super().on_unknown_task(body, message, exc)
            return
        if send_on(message):
            message.ack_log_error(log, self.connection_errors)
        else:
            message.reject_log_error(log, self.connection_errors, requeue=True)
        # As Celery's own handler does: the stall watch counts it as a message taken.
        signals.task_unknown.send(
            sender=self, message=message, exc=exc, name=task, id=headers.get("id")
        )

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        _ConnectionLoss.at = time.monotonic()
        # Celery warns that it will cancel running tasks here by default one day; the engine
        # sets that on purpose (see ``engine``), so the warning would only mislead operators.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CPendingDeprecationWarning)
            super().on_connection_error_after_connected(exc)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        super().on_decode_error(message, exc)
        headers = getattr(message, "headers", None)
        if not isinstance(headers, dict):
            return
        task, request_id = str(headers.get("task", "")), headers.get("id")
        if task.startswith(INVOKE_TASK_PREFIX) and isinstance(request_id, str):
            cause = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            reason = f"DecodeError: the message could not be read: {cause}"
            _refuse(type(self).refuse, request_id, reason)
