"""Functions the invocation-control tests run on real workers (``control_functions:app``)."""

from __future__ import annotations

import json
import time
from typing import Any

from executor import Context, FunctionApp, RetryAfter

app = FunctionApp()
EVENTS_KEY = "test:events"


def _redis() -> Any:
    return app.engine.store.redis


def runs_key(request_id: str) -> str:
    return f"test:runs:{request_id}"


@app.function("tally")
def tally(event: Any, context: Context) -> Any:
    """Counts its runs per request id and keeps when each started."""
    _redis().rpush(f"test:started:{context.request_id}", repr(time.time()))
    return _redis().incr(runs_key(context.request_id))


@app.function("echo")
def echo(event: Any, context: Context) -> Any:
    """Returns its event; the tests route its outcomes to ``sink``."""
    return event


@app.function("sink")
def sink(event: Any, context: Context) -> None:
    _redis().rpush(EVENTS_KEY, json.dumps(event))


@app.function("gate", config={"max_async_retry_attempts": 0})
def gate(event: Any, context: Context) -> Any:
    """Fails while ``test:gate`` is unset; counts runs by the payload's ``n``."""
    _redis().hincrby("test:gate:runs", str(event["n"]), 1)
    if not _redis().get("test:gate"):
        raise ConnectionError("the gate is closed")
    return event["n"]


@app.function("picky", no_retry_on=(ValueError,), config={"max_async_retry_attempts": 3})
def picky(event: Any, context: Context) -> Any:
    _redis().incr(runs_key(context.request_id))
    raise ValueError(f"bad input {event!r}")


@app.function("choosy", retry_on=(TimeoutError,), config={"max_async_retry_attempts": 3})
def choosy(event: Any, context: Context) -> Any:
    """Raises the exceptions named in ``event["raise"]``, one per attempt, then succeeds."""
    _redis().incr(runs_key(context.request_id))
    names = event["raise"]
    if context.attempt <= len(names):
        error = {"TimeoutError": TimeoutError, "KeyError": KeyError}[names[context.attempt - 1]]
        raise error(f"attempt {context.attempt}")
    return context.attempt


@app.function("patient", config={"max_async_retry_attempts": 2})
def patient(event: Any, context: Context) -> Any:
    """Asks for a retry in ``event["wait"]`` seconds on its first attempt."""
    _redis().rpush(f"test:started:{context.request_id}", repr(time.time()))
    if context.attempt == 1:
        raise RetryAfter(event["wait"], "not ready yet")
    return context.attempt


@app.function("fanout")
def fanout(event: Any, context: Context) -> Any:
    """Starts ``event["children"]`` delayed tally invocations, then waits to be released."""
    for n in range(event["children"]):
        context.invoke_async("tally", {"child": n}, delay=event["delay"])
    _redis().rpush("test:fanout:ready", context.request_id)
    _redis().incr(runs_key(context.request_id))
    _redis().blpop(["test:fanout:release"], timeout=event.get("hold", 30))
    return "released"
