"""How an invocation's end is raised to Celery, without a worker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from celery.exceptions import Ignore, Retry

from executor.runtime.celery import outcome


class FakeTask:
    def __init__(self, events: bool) -> None:
        self.request = SimpleNamespace(id="r-1")
        self.app = SimpleNamespace(conf=SimpleNamespace(worker_send_task_events=events))
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send_event(self, kind: str, **fields: Any) -> None:
        self.sent.append((kind, fields))


def test_a_failure_raises_the_functions_own_error_and_marks_the_request():
    task = FakeTask(events=True)
    assert not outcome.settled(task)
    error = ValueError("always fails")
    with pytest.raises(ValueError, match="always fails") as raised:
        outcome.fail(task, error)
    assert raised.value is error
    assert outcome.settled(task)


@pytest.mark.parametrize(
    "order", [Retry("again"), Ignore("skip"), SystemExit(3), KeyboardInterrupt()]
)
def test_an_error_celery_would_obey_is_reported_as_a_failure(order):
    with pytest.raises(outcome.InvocationFailed, match=type(order).__name__) as raised:
        outcome.fail(FakeTask(events=True), order)
    assert raised.value.__cause__ is order


def test_a_platform_failure_is_invocation_failed():
    with pytest.raises(outcome.InvocationFailed, match="worker was lost 3 times"):
        outcome.fail(FakeTask(events=False), "WorkerLostError: the worker was lost 3 times")


@pytest.mark.parametrize(("events", "expired"), [(True, True), (True, False), (False, True)])
def test_a_discard_sends_revoked_when_events_are_on(events, expired):
    task = FakeTask(events=events)
    with pytest.raises(Ignore):
        outcome.discard(task, expired=expired)
    expected = [("task-revoked", {"terminated": False, "signum": None, "expired": expired})]
    assert task.sent == (expected if events else [])
    assert not outcome.settled(task)


def test_a_skip_sends_nothing():
    task = FakeTask(events=True)
    with pytest.raises(Ignore):
        outcome.skip(task)
    assert task.sent == []
