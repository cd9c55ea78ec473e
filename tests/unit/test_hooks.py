"""Which hard time limits the worker's failure hook trusts (runtime.hooks)."""

from __future__ import annotations

import time

from celery.exceptions import TimeLimitExceeded

from executor.runtime import hooks, intake


def test_a_time_limit_after_a_lost_broker_connection_is_not_trusted(monkeypatch):
    monkeypatch.setattr(intake._ConnectionLoss, "at", time.monotonic() - 3.0)
    assert hooks.unreliable(TimeLimitExceeded(4.0))


def test_a_time_limit_whose_job_started_after_the_loss_is_trusted(monkeypatch):
    monkeypatch.setattr(intake._ConnectionLoss, "at", time.monotonic() - 30.0)
    assert not hooks.unreliable(TimeLimitExceeded(4.0))


def test_a_worker_that_never_lost_its_connection_trusts_every_time_limit():
    assert intake._ConnectionLoss.at < time.monotonic() - 1e9
    assert not hooks.unreliable(TimeLimitExceeded(330.0))
