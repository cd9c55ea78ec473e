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
(see ``signals``); such a report is not trusted. Nothing else is changed in how Celery runs a
task.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import Any

from celery.exceptions import CPendingDeprecationWarning
from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.request import Request

from executor.core.constants import INVOKE_TASK_PREFIX
from executor.core.payload import DEPTH_SETTING, PayloadRefused, nesting

log = logging.getLogger("executor.intake")


def _refuse(celery: Any, request_id: str, reason: str) -> None:
    """End the invocation FAIL with ``reason``; never raises (the caller is the worker)."""
    app = getattr(celery, "executor_app", None)
    log.error("invocation %s refused by the worker: %s", request_id, reason)
    if app is None:
        return
    try:
        app.lifecycle.fail_platform(request_id, reason, note="refused by the worker")
    except Exception:
        log.exception("could not end refused invocation %s; the reconciler will", request_id)


class InvocationRequest(Request):  # type: ignore[misc]
    """A function's task request that refuses a payload the pool could not carry.

    Celery asks ``revoked()`` before it hands a request to the pool, and acknowledges and skips
    a request that answers True; a refused request takes that same way out.
    """

    _checked = False

    def revoked(self) -> bool:
        if super().revoked():
            return True
        if self._checked:  # Celery may ask more than once; the payload is walked once
            return False
        self._checked = True
        reason = self._refusal()
        if reason is None:
            return False
        _refuse(self._app, self.id, reason)
        self._announce_revoked("refused", False, None, False)
        return True

    def _refusal(self) -> str | None:
        try:
            kwargs = self._payload[1]
        except (TypeError, IndexError, KeyError):
            return None  # not our shape: the task itself fails it with a validation error
        if not isinstance(kwargs, dict):
            return None
        settings = getattr(getattr(self._app, "executor_app", None), "settings", None)
        max_depth: int | None = getattr(settings, "payload_max_depth", None)
        if max_depth is None:
            return None
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
    """The worker's consumer: a message whose body cannot be decoded ends its invocation;
    a lost broker connection is noted."""

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
            _refuse(self.app, request_id, f"DecodeError: the message could not be read: {cause}")
