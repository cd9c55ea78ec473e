"""A failed invocation lets go of its error: nothing it touched outlives the task.

Celery's tracer keeps a task's error in its own frame, which the error's traceback holds in
turn; without the engine's release each failure stays in a reference cycle, with the handler's
frames and whatever they held, until a full garbage collection. The collector is off here, so
only references still held keep an object alive.
"""

from __future__ import annotations

import gc
import io
import logging
import types
import weakref
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from celery import Celery
from celery.app.trace import trace_task

from executor import Context, FunctionApp, Settings
from executor.core.invocation import Status
from executor.runtime.celery import app as app_module

REGION, PROJECT = "r1", "p1"


class Held:
    """Something a handler holds in a local while it fails (a large payload, say)."""


class Failure(ValueError):
    """A handler's error (a subclass: a built-in exception takes no weak reference)."""


@pytest.fixture
def worker_log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Celery's lines as a worker's log handler writes them (pytest's own capture keeps every
    record, and the error with it)."""
    shown = io.StringIO()
    # A logger of its own, out of the logging tree pytest hooks into.
    tracer_logger = logging.Logger("celery.app.trace")
    tracer_logger.addHandler(logging.StreamHandler(shown))
    monkeypatch.setattr("celery.app.trace.logger", tracer_logger)
    return shown


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def function_app(fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch) -> FunctionApp:
    monkeypatch.setattr("executor.state.store.connect", lambda target: fake_redis)
    settings = Settings(broker_url="redis://127.0.0.1:1/0", region=REGION, project_id=PROJECT)
    celery = Celery("failures", broker="memory://", set_as_current=False)
    celery.conf.update(accept_content=["json"], task_serializer="json")
    return app_module.FunctionApp(settings, celery=celery)


def run_message(functions: FunctionApp, request_id: str) -> None:
    """Run the invocation's message as a pool process does, through Celery's tracer."""
    with functions.celery.connection_for_read() as connection:
        channel = connection.default_channel
        [message] = filter(None, (channel.basic_get(queue) for queue in functions.queues()))
        body, headers = message.decode(), message.headers
    args, kwargs, _embed = body
    task = functions.celery.tasks[headers["task"]]
    request = {"id": headers["id"], "retries": headers.get("retries", 0), "delivery_info": {}}
    assert headers["id"] == request_id
    trace_task(task, request_id, args, kwargs, request, app=functions.celery)


@pytest.mark.parametrize("retries", [0, 2])
def test_a_failure_leaves_no_reference_to_its_error_or_its_frames(
    fake_redis: fakeredis.FakeRedis,
    monkeypatch: pytest.MonkeyPatch,
    worker_log: io.StringIO,
    collector_off: None,
    retries: int,
):
    functions = function_app(fake_redis, monkeypatch)
    seen: dict[str, weakref.ref[Any]] = {}

    @functions.function("fails", config={"max_async_retry_attempts": retries})
    def fails(event: Any, context: Context) -> Any:
        held = Held()
        error = Failure("always fails")
        seen["local"], seen["error"] = weakref.ref(held), weakref.ref(error)
        seen["context"] = weakref.ref(context)
        raise error

    # The first one loads the store's scripts, once per process.
    run_message(functions, functions.invoke_async("fails", {"n": 0}))
    request_id = functions.invoke_async("fails", {"n": 1})
    run_message(functions, request_id)

    record = functions.client.get_invocation(request_id)
    if retries:
        assert record.status is Status.WAIT and record.attempts == 1, record
    else:
        assert record.status is Status.FAIL, record
        assert record.error_message == "Failure: always fails"
        # The worker's log still shows where the handler raised.
        assert "in fails\n    raise error" in worker_log.getvalue()
    assert "local" in seen, record
    # Nothing of the run is kept: neither the handler's locals nor what the run held.
    assert seen["local"]() is None, gc.get_referrers(seen["local"]())
    assert seen["context"]() is None, gc.get_referrers(seen["context"]())
    error = seen["error"]()
    if error is not None:
        # The fake Redis's command parser (a suspended generator) may still show the error
        # on its stack; nothing else may hold it, and it holds no frame.
        assert error.__traceback__ is None
        assert all(isinstance(r, types.GeneratorType) for r in gc.get_referrers(error))
