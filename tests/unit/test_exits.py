"""How a worker that cannot go on is stopped: status 1 and one line, never a silent failure."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from celery.worker import state

from executor.runtime.celery import exits


@pytest.fixture(autouse=True)
def no_shutdown_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "should_stop", None)
    monkeypatch.setattr(exits._Started, "worker", None)


def test_a_failed_start_up_asks_for_a_warm_shutdown_with_status_1(caplog):
    def start() -> None:
        raise RuntimeError("the catalogue could not be published:\n  store refused")

    with caplog.at_level(logging.INFO, logger="executor.worker"):
        exits.start_or_stop(start)
    assert state.should_stop == 1
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert shown == [
        "worker stopping (exit status 1): its start-up failed: RuntimeError: "
        "the catalogue could not be published: store refused"
    ]


def test_a_start_up_that_succeeds_leaves_the_worker_running():
    exits.start_or_stop(lambda: None)
    assert state.should_stop is None


@pytest.mark.parametrize(("exitcode", "status"), [(None, 0), (0, 0), (1, 1), (2, 2)])
def test_the_exit_status_is_the_one_the_worker_chose(exitcode, status):
    assert exits.exit_status() == 0
    exits._on_worker_init(instance=SimpleNamespace(exitcode=exitcode))
    assert exits.exit_status() == status
