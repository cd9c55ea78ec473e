"""How a worker stops when it cannot go on: a non-zero exit status and one line saying why.

A supervisor (systemd's ``Restart=``, Kubernetes, docker) starts a worker again only if it
exits, and ``Restart=on-failure`` only if it exits non-zero. Two things stood in the way:
Celery logs and swallows whatever a signal receiver raises, so a worker whose start-up hook
failed stayed up, "ready", without its function catalogue; and ``app.start()``, which
``executor worker`` runs Celery's command with, drops the exit status Celery chose (1 after
an unrecoverable error, such as a broker that refuses the acknowledgement of a message).

``start_or_stop`` runs the start-up hook and, when it fails, asks Celery for a warm shutdown
with status 1 (``celery.worker.state.should_stop``, which its event loop checks before its first
turn). ``exit_status`` is the status the worker ended with, for ``executor worker`` to exit with.

A third: after an unrecoverable error Celery shuts down warm, and that shutdown can hang for
good in the prefork pool's join, reading a result a child was cut off writing (a soft time
limit that fired while the child waited for a main process busy reconnecting to its broker).
The worker then looks alive to its supervisor and consumes nothing. ``bound_failed_shutdown``
gives that shutdown a time limit's worth of time and then ends the process with status 1;
Celery sends no signal on that path, so the watch is armed by its "Unrecoverable error" log
record.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import signals
from celery.platforms import EX_FAILURE

from executor.runtime.celery.internals import CELERY_LOGGER, UNRECOVERABLE, request_stop

log = logging.getLogger("executor.worker")


class _Started:
    worker: Any = None  # the WorkController of this process, once Celery made it


def start_or_stop(start: Callable[[], None]) -> None:
    """Run the worker's start-up hook; if it fails, stop the worker with status 1 and say why
    in one line (its traceback is logged at DEBUG)."""
    try:
        start()
    except Exception as exc:
        log.debug("the worker's start-up failed", exc_info=True)
        stop_worker(f"its start-up failed: {type(exc).__name__}: {exc}")


def stop_worker(reason: str) -> None:
    """A warm shutdown of this worker, which then exits with status 1."""
    log.critical("worker stopping (exit status %d): %s", EX_FAILURE, " ".join(reason.split()))
    request_stop(EX_FAILURE)


def exit_status() -> int:
    """The exit status of the worker that ran in this process (0 if none did)."""
    code = getattr(_Started.worker, "exitcode", None)
    return int(code) if isinstance(code, int) else 0


class _ShutdownWatch(logging.Handler):
    """Ends the process ``grace`` seconds after Celery logged an unrecoverable error."""

    def __init__(self, grace: float) -> None:
        super().__init__(level=logging.CRITICAL)
        self.grace = grace
        self._armed = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self._armed.is_set() or not record.getMessage().startswith(UNRECOVERABLE):
            return
        self._armed.set()
        threading.Thread(target=self._expire, name="executor-shutdown-watch", daemon=True).start()

    def _expire(self) -> None:
        end_process_after(self.grace, "its shutdown after an unrecoverable error")


def end_process_after(grace: float, what: str) -> None:
    """Wait ``grace`` seconds for a shutdown under way, then end the process with status 1 and
    say that ``what`` did not end in time (written to stderr: logging may be what hangs)."""
    time.sleep(grace)
    sys.stderr.write(
        f"worker stopping (exit status {EX_FAILURE}): {what} did not end within {grace:.0f} s\n"
    )
    sys.stderr.flush()
    os._exit(EX_FAILURE)


def bound_failed_shutdown(grace: float) -> None:
    """End this worker ``grace`` seconds after an unrecoverable error if it has not exited by
    then (once per process)."""
    logger = logging.getLogger(CELERY_LOGGER)
    if not any(isinstance(h, _ShutdownWatch) for h in logger.handlers):
        logger.addHandler(_ShutdownWatch(grace))


def _on_worker_init(sender: Any = None, instance: Any = None, **_: Any) -> None:
    _Started.worker = instance


signals.celeryd_init.connect(_on_worker_init, weak=False)
