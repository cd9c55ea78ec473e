"""What the worker's failure hook settles (runtime.hooks): which hard time limits it trusts,
and which failures leave the record to the lost-run path."""

from __future__ import annotations

import time

import pytest
from billiard.exceptions import WorkerLostError
from billiard.pool import MaybeEncodingError
from celery.exceptions import TimeLimitExceeded

from executor.core.constants import INVOKE_TASK_PREFIX
from executor.core.errors import Unavailable
from executor.runtime.celery import hooks, intake


def test_a_time_limit_after_a_lost_broker_connection_is_not_trusted(monkeypatch):
    monkeypatch.setattr(intake._ConnectionLoss, "at", time.monotonic() - 3.0)
    assert hooks.unreliable(TimeLimitExceeded(4.0))


def test_a_time_limit_whose_job_started_after_the_loss_is_trusted(monkeypatch):
    monkeypatch.setattr(intake._ConnectionLoss, "at", time.monotonic() - 30.0)
    assert not hooks.unreliable(TimeLimitExceeded(4.0))


def test_a_worker_that_never_lost_its_connection_trusts_every_time_limit():
    assert intake._ConnectionLoss.at < time.monotonic() - 1e9
    assert not hooks.unreliable(TimeLimitExceeded(330.0))


class _Lifecycle:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def fail_platform(self, request_id: str, error: str, note: str = "") -> bool:
        self.failed.append(error)
        return True


class _App:
    def __init__(self) -> None:
        self.celery = object()
        self.lifecycle = _Lifecycle()


class _Task:
    def __init__(self, app: object) -> None:
        self.app = app
        self.name = f"{INVOKE_TASK_PREFIX}default:hello:latest"
        self.request = None


@pytest.mark.parametrize(
    "exception",
    [
        Unavailable("the state store cannot be reached"),
        MaybeEncodingError(Unavailable("the state store cannot be reached"), "(1, ...)"),
    ],
)
def test_a_failure_whose_outcome_never_reached_the_record_leaves_it_running(exception):
    app = _App()
    hooks._Hooks(app).failure(sender=_Task(app.celery), task_id="r1", exception=exception)  # type: ignore[arg-type]
    assert app.lifecycle.failed == []


def test_a_platform_failure_ends_the_invocation():
    app = _App()
    failure = WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)")
    hooks._Hooks(app).failure(sender=_Task(app.celery), task_id="r1", exception=failure)  # type: ignore[arg-type]
    assert app.lifecycle.failed == [f"WorkerLostError: {failure}"]


class _Rebound:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def handle(self, message: object) -> bool:
        self.sent.append(message)
        return True


class _ReboundApp(_App):
    def __init__(self) -> None:
        super().__init__()
        self.rebound = _Rebound()


class _CeleryConsumer:
    """Celery's own consumer, as an adopted app's worker runs it."""

    def __init__(self, app: object) -> None:
        self.app = app


class _OwnConsumer(intake.Consumer):
    def __init__(self, app: object) -> None:  # Celery's consumer needs a worker to start
        self.app = app


FUNCTION_TASK = f"{INVOKE_TASK_PREFIX}default:added:latest"


def test_a_message_celerys_consumer_dropped_is_sent_on() -> None:
    app = _ReboundApp()
    message = object()
    hook = hooks._Hooks(app)  # type: ignore[arg-type]
    hook.unknown(sender=_CeleryConsumer(app.celery), message=message, name=FUNCTION_TASK)
    assert app.rebound.sent == [message]


def test_the_engines_consumer_has_sent_it_on_already_and_other_tasks_are_left_alone() -> None:
    app = _ReboundApp()
    hook = hooks._Hooks(app)  # type: ignore[arg-type]
    hook.unknown(sender=_OwnConsumer(app.celery), message=object(), name=FUNCTION_TASK)
    hook.unknown(sender=_CeleryConsumer(app.celery), message=object(), name="proj.collect")
    hook.unknown(sender=_CeleryConsumer(object()), message=object(), name=FUNCTION_TASK)
    assert app.rebound.sent == []
