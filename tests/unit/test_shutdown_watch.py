"""A worker whose shutdown after an unrecoverable error hangs ends itself with status 1."""

from __future__ import annotations

import logging
import threading

import pytest

from executor.runtime import exits


def test_an_unrecoverable_error_arms_the_watch_which_ends_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ended = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        ended.set()

    monkeypatch.setattr(exits.os, "_exit", fake_exit)
    logger = logging.getLogger("celery.worker.worker")
    monkeypatch.setattr(logger, "handlers", [])
    exits.bound_failed_shutdown(0.01)
    exits.bound_failed_shutdown(0.01)  # once per process
    assert len(logger.handlers) == 1
    logger.critical("Task handler raised error")  # another critical line arms nothing
    assert not ended.wait(0.2)
    logger.critical("Unrecoverable error: %r", ValueError("broken frame"))
    assert ended.wait(5)
    logger.critical("Unrecoverable error: %r", ValueError("again"))
    assert codes == [1]
