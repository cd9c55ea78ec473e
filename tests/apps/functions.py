"""Functions the integration tests run on real workers."""

from __future__ import annotations

import json
import time
from typing import Any

from executor import Context, FunctionApp

app = FunctionApp()
EVENTS_KEY = "test:events"


def _redis() -> Any:
    return app.engine.store.redis


@app.function("hello")
def hello(event: Any, context: Context) -> Any:
    return {"greeting": f"hello {event.get('name', 'world')}", "attempt": context.attempt}


@app.function("flaky")
def flaky(event: Any, context: Context) -> Any:
    """Fails ``event["fail_times"]`` times, then succeeds."""
    runs = _redis().incr(f"test:runs:{context.request_id}")
    if runs <= event["fail_times"]:
        raise RuntimeError(f"failure {runs}")
    return {"runs": runs}


@app.function("boom")
def boom(event: Any, context: Context) -> Any:
    _redis().incr(f"test:runs:{context.request_id}")
    raise ValueError("always fails")


@app.function("slow")
def slow(event: Any, context: Context) -> Any:
    _redis().incr(f"test:runs:{context.request_id}")
    time.sleep(event.get("seconds", 1))
    return "slept"


@app.function("counted")
def counted(event: Any, context: Context) -> Any:
    return _redis().incr(f"test:runs:{context.request_id}")


@app.function("barrier")
def barrier(event: Any, context: Context) -> None:
    """Does nothing: a test waits for it to learn that what was queued before it was handled."""


@app.function("sink")
def sink(event: Any, context: Context) -> None:
    _redis().rpush(EVENTS_KEY, json.dumps(event))


@app.function("ping")
def ping(event: Any, context: Context) -> Any:
    """Calls pong from inside the handler; pong's success destination may lead back here."""
    _redis().incr(f"test:runs:ping:{event.get('tag', '')}")
    return context.invoke_async("pong", {"tag": event.get("tag", "")})


@app.function("pong")
def pong(event: Any, context: Context) -> Any:
    _redis().incr("test:runs:pong")
    return "pong"


@app.function("heavy", queue="heavy")
def heavy(event: Any, context: Context) -> Any:
    return "heavy"


@app.function("stubborn")
def stubborn(event: Any, context: Context) -> Any:
    """Ignores the soft time limit, so only the hard limit can stop it."""
    from celery.exceptions import SoftTimeLimitExceeded

    end = time.monotonic() + event.get("seconds", 10)
    while time.monotonic() < end:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            continue
    return "finished"


# ``celery -A functions:celery worker`` runs these functions with Celery's own command.
celery = app.celery
