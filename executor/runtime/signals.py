"""Celery signal hooks for the outcomes that never reach the task body.

Celery ends an expired message in the worker's main process with only ``task_revoked``; a
hard time limit or a lost worker ends with ``task_failure`` there too. Both must still end
the invocation and emit its event. A function's own failure also fires ``task_failure`` (the
task raises it once the record says FAIL, see ``outcome``); that one is left alone.
Receivers are connected once, strongly, at import time.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from celery import signals
from celery.exceptions import Reject, Retry, TimeLimitExceeded

from executor.core.constants import INVOKE_TASK_PREFIX
from executor.runtime import intake, outcome
from executor.runtime.lifecycle import Lifecycle

log = logging.getLogger("executor.signals")


class WorkerApp(Protocol):
    """What the hooks need of the app whose worker sent a signal (a ``FunctionApp``)."""

    @property
    def lifecycle(self) -> Lifecycle: ...

    def queues(self) -> list[str]: ...

    def on_worker_ready(self) -> None: ...

    def on_worker_shutdown(self) -> None: ...


def app_of(sender: Any) -> WorkerApp | None:
    celery = getattr(sender, "app", None)
    return getattr(celery, "executor_app", None)


def _is_invocation(sender: Any) -> bool:
    return str(getattr(sender, "name", "")).startswith(INVOKE_TASK_PREFIX)


def _on_revoked(sender: Any = None, request: Any = None, expired: bool = False, **_: Any) -> None:
    app = app_of(sender)
    if not expired or app is None or request is None or not _is_invocation(sender):
        return
    try:
        app.lifecycle.expire(request.id, note="expired in the queue")
    except Exception:
        log.exception("could not end expired invocation %s; the reconciler will", request.id)


def _on_failure(
    sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    app = app_of(sender)
    if app is None or task_id is None or not _is_invocation(sender):
        return
    # A failure the task raised itself reports an invocation that has ended FAIL already.
    if isinstance(exception, (Retry, Reject)) or outcome.settled(sender):
        return
    if isinstance(exception, TimeLimitExceeded) and _unreliable(exception):
        # The pool may have lost track of a job that ended: its message was never
        # acknowledged, comes back, and settles the invocation then.
        log.warning(
            "hard time limit reported for %s after a lost broker connection; not trusted, "
            "the invocation is settled when its message comes back",
            task_id,
        )
        return
    error = f"{type(exception).__name__}: {exception}"
    try:
        app.lifecycle.fail_platform(task_id, error, note="platform failure")
    except Exception:
        log.exception("could not end failed invocation %s; the reconciler will", task_id)


def _unreliable(exc: TimeLimitExceeded) -> bool:
    """A hard time limit is reported ``limit`` seconds after its job started; a broker
    connection lost since then leaves the pool's view of that job in doubt."""
    try:
        limit = float(exc.args[0])
    except (IndexError, TypeError, ValueError):
        return False
    return intake.connection_lost_within(limit + 1.0)


def _on_worker_setup(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """A worker started with no ``-Q`` (``celery -A proj worker``) consumes the app's default
    queues; the engine's queues are added to them. An explicit ``-Q`` is left as given."""
    app = app_of(instance)
    if app is None:
        return
    queues = instance.app.amqp.queues
    # Celery keeps no other record of -Q: its selection stays None until -Q makes one.
    if queues._consume_from is None:
        for name in app.queues():
            queues.select_add(name)


def _on_ready(sender: Any = None, **_: Any) -> None:
    app = app_of(sender)
    if app is not None:
        app.on_worker_ready()


def _on_shutdown(sender: Any = None, **_: Any) -> None:
    app = app_of(sender)
    if app is not None:
        app.on_worker_shutdown()


signals.task_revoked.connect(_on_revoked, weak=False)
signals.task_failure.connect(_on_failure, weak=False)
signals.celeryd_after_setup.connect(_on_worker_setup, weak=False)
signals.worker_ready.connect(_on_ready, weak=False)
signals.worker_shutdown.connect(_on_shutdown, weak=False)
