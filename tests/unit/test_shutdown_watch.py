"""A worker whose shutdown after an unrecoverable error hangs ends itself with status 1."""

from __future__ import annotations

import logging
import threading

import pytest
from celery.worker import worker

from executor.runtime.celery import exits


def test_an_unrecoverable_error_arms_the_watch_which_ends_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ended = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        ended.set()

    monkeypatch.setattr(exits.os, "_exit", fake_exit)
    base = logging.getLogger("celery")
    monkeypatch.setattr(base, "handlers", [])
    exits.bound_failed_shutdown(0.01)
    exits.bound_failed_shutdown(0.01)  # once per process
    assert len(base.handlers) == 1
    (watch,) = base.handlers
    assert isinstance(watch, exits._ShutdownWatch)
    # The logger Celery's worker module reports an unrecoverable error with.
    logger = worker.logger
    logger.critical("Task handler raised error")  # another critical line arms nothing
    assert not watch._armed.is_set()
    logger.critical("Unrecoverable error: %r", ValueError("broken frame"))
    assert ended.wait(5)
    logger.critical("Unrecoverable error: %r", ValueError("again"))
    assert codes == [1]
