"""The Celery signals a ``FunctionApp`` answers, connected by the app for its own Celery app.

Celery ends an expired message in the worker's main process with only ``task_revoked``; a
hard time limit or a lost worker ends with ``task_failure`` there too. Both must still end the
invocation and emit its event. A function's own failure also fires ``task_failure`` (the task
raises it once the record says FAIL, see ``outcome``); that one is left alone. The worker's
start and stop run the app's own hooks, and a worker started without ``-Q`` consumes the
engine's queues besides the app's default one.

``connect`` connects each receiver once per app; every receiver answers only signals sent for
that app's tasks and workers, so several apps in one process do not see each other's.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol

from billiard.pool import MaybeEncodingError
from celery import Celery, signals
from celery.exceptions import Reject, Retry, TimeLimitExceeded

from executor.core.constants import DELIVER_TASK, INVOKE_TASK_PREFIX
from executor.core.errors import Unavailable
from executor.runtime.celery import exits, intake, outcome
from executor.runtime.lifecycle import Lifecycle
from executor.runtime.rebound import Rebound
from executor.runtime.stall import StallWatch
from executor.state import forks

log = logging.getLogger("executor.signals")


class WorkerApp(Protocol):
    """What the hooks need of the app whose worker sent a signal (a ``FunctionApp``)."""

    @property
    def celery(self) -> Celery: ...

    @property
    def lifecycle(self) -> Lifecycle: ...

    @property
    def rebound(self) -> Rebound: ...

    def queues(self) -> list[str]: ...

    def on_worker_ready(self) -> None: ...

    def on_worker_shutdown(self) -> None: ...


def connect(app: WorkerApp) -> None:
    """Connect the receivers of ``app``, strongly (Celery's receivers are weak by default)."""
    hooks = _Hooks(app)
    uid = f"executor-{id(app)}"
    signals.task_revoked.connect(hooks.revoked, weak=False, dispatch_uid=f"{uid}-revoked")
    signals.task_failure.connect(hooks.failure, weak=False, dispatch_uid=f"{uid}-failure")
    signals.task_postrun.connect(hooks.postrun, weak=False, dispatch_uid=f"{uid}-postrun")
    signals.celeryd_init.connect(hooks.init, weak=False, dispatch_uid=f"{uid}-init")
    signals.celeryd_after_setup.connect(hooks.setup, weak=False, dispatch_uid=f"{uid}-setup")
    signals.worker_ready.connect(hooks.ready, weak=False, dispatch_uid=f"{uid}-ready")
    signals.task_received.connect(hooks.received, weak=False, dispatch_uid=f"{uid}-received")
    signals.task_unknown.connect(hooks.unknown, weak=False, dispatch_uid=f"{uid}-unknown")
    # Once per process, whatever the app: it is about the process, not about an app.
    signals.worker_process_init.connect(
        _pool_process_started, weak=False, dispatch_uid="executor-forks"
    )
    signals.worker_shutdown.connect(hooks.shutdown, weak=False, dispatch_uid=f"{uid}-shutdown")


class _Hooks:
    def __init__(self, app: WorkerApp) -> None:
        self.app = app
        # Workers started with -Q, by id: Celery's queue selection keeps no public record.
        self._chosen: set[int] = set()
        self._watch: StallWatch | None = None

    def _mine(self, sender: Any) -> bool:
        return getattr(sender, "app", None) is self.app.celery

    def _invocation(self, sender: Any) -> bool:
        return self._mine(sender) and str(getattr(sender, "name", "")).startswith(
            INVOKE_TASK_PREFIX
        )

    def _engine_task(self, sender: Any) -> bool:
        return self._invocation(sender) or (
            self._mine(sender) and getattr(sender, "name", "") == DELIVER_TASK
        )

    def revoked(
        self, sender: Any = None, request: Any = None, expired: bool = False, **_: Any
    ) -> None:
        if not expired or request is None or not self._invocation(sender):
            return
        try:
            self.app.lifecycle.expire(request.id, note="expired in the queue")
        except Exception:
            log.exception("could not end expired invocation %s; the reconciler will", request.id)

    def failure(
        self,
        sender: Any = None,
        task_id: str | None = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        if task_id is None or not self._invocation(sender):
            return
        # A failure the task raised itself reports an invocation that has ended FAIL already.
        if isinstance(exception, (Retry, Reject)) or outcome.settled(sender):
            return
        if isinstance(exception, (Unavailable, MaybeEncodingError)):
            # The run's outcome never reached the record: the state store did not answer, or
            # the pool could not hand the child's result over. The record stays RUNNING, and
            # the run is taken as lost once its runner's lease lapses (see ``orphans``).
            log.warning(
                "outcome of %s not recorded (%s); it runs again once its lease lapses",
                task_id,
                type(exception).__name__,
            )
            return
        if isinstance(exception, TimeLimitExceeded) and unreliable(exception):
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
            self.app.lifecycle.fail_platform(task_id, error, note="platform failure")
        except Exception:
            log.exception("could not end failed invocation %s; the reconciler will", task_id)

    def postrun(self, sender: Any = None, retval: Any = None, **_: Any) -> None:
        """After a task that raised: Celery has logged and reported the error; its traceback
        goes (see ``outcome.release``)."""
        if isinstance(retval, BaseException) and self._engine_task(sender):
            outcome.release(retval)

    def init(self, sender: Any = None, instance: Any = None, options: Any = None, **_: Any) -> None:
        if self._mine(instance) and (options or {}).get("queues"):
            self._chosen.add(id(instance))

    def setup(self, sender: Any = None, instance: Any = None, **_: Any) -> None:
        """A worker started with no ``-Q`` (``celery -A proj worker``) consumes the app's
        default queues; the engine's queues are added to them. An explicit ``-Q`` is left as
        given."""
        if self._mine(instance) and id(instance) not in self._chosen:
            for name in self.app.queues():
                instance.app.amqp.queues.select_add(name)

    def ready(self, sender: Any = None, **_: Any) -> None:
        if self._mine(sender):
            settings = self.app.lifecycle.settings
            # A warm shutdown lets running handlers end: within a time limit, they have.
            exits.bound_failed_shutdown(settings.time_limit + _SHUTDOWN_MARGIN)
            exits.start_or_stop(self.app.on_worker_ready)
            if settings.stall_window and self._watch is None:
                self._watch = StallWatch(
                    sender.app, lambda: consumed(sender), settings.stall_window, _STALL_GRACE
                )
                self._watch.start()

    def received(self, sender: Any = None, **_: Any) -> None:
        if self._watch is not None and self._mine(sender):
            self._watch.received()

    def unknown(
        self, sender: Any = None, message: Any = None, name: str | None = None, **_: Any
    ) -> None:
        """A message of a task this worker does not know. The engine's own consumer has sent it
        on already; Celery's consumer (an adopted app's worker) has dropped it, and it is
        published again here, as soon after as Celery tells."""
        if not self._mine(sender):
            return
        if self._watch is not None:
            self._watch.received()
        own = isinstance(sender, intake.Consumer)
        if not own and message is not None and str(name or "").startswith(INVOKE_TASK_PREFIX):
            self.app.rebound.handle(message)

    def shutdown(self, sender: Any = None, **_: Any) -> None:
        if self._mine(sender):
            if self._watch is not None:
                self._watch.stop()
            self.app.on_worker_shutdown()


def _pool_process_started(**_: Any) -> None:
    closed = forks.release_inherited()
    log.debug("pool process %d closed %d Redis connections of its parent", os.getpid(), closed)


def consumed(consumer: Any) -> list[str]:
    """The queues a worker is set to consume: those it started with, and any added or
    cancelled since. Not the queues of its live task consumer: Celery drops that one when the
    broker connection is lost and makes a new one once it is back, so a consumer stuck on
    its way back (after a failover, say) would have no queues to judge it by, and the watch
    would never end it."""
    queues = getattr(getattr(getattr(consumer, "app", None), "amqp", None), "queues", None)
    return sorted(getattr(queues, "consume_from", None) or ())


# Seconds past the time limit that a shutdown after an unrecoverable error may take.
_SHUTDOWN_MARGIN = 5.0
# Seconds the warm shutdown of a stuck, idle worker may take.
_STALL_GRACE = 10.0


def unreliable(exc: TimeLimitExceeded) -> bool:
    """A hard time limit is reported ``limit`` seconds after its job started; a broker
    connection lost since then leaves the pool's view of that job in doubt."""
    try:
        limit = float(exc.args[0])
    except (IndexError, TypeError, ValueError):
        return False
    return intake.connection_lost_within(limit + 1.0)
