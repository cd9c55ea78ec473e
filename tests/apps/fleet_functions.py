"""Functions the fleet tests and drills run: each one counts its starts and completions."""

from __future__ import annotations

import time
from typing import Any

from executor import Context, FunctionApp

app = FunctionApp()

STARTED = "drill:started"
DONE = "drill:done"

# The agency ``emit`` names: DIS on the state store's Redis (Redis Streams).
AGENCIES = "[agencies.streamer.dis]\n"


def _count(key: str, request_id: str) -> None:
    app.engine.store.redis.hincrby(key, request_id, 1)


def _work(event: Any, context: Context) -> Any:
    _count(STARTED, context.request_id)
    time.sleep((event or {}).get("seconds", 0))
    _count(DONE, context.request_id)
    return {"n": (event or {}).get("n")}


@app.function("tick")
def tick(event: Any, context: Context) -> Any:
    """Sleeps ``event["seconds"]``; its starts and completions are counted per request id."""
    return _work(event, context)


@app.function("crunch", queue="heavy")
def crunch(event: Any, context: Context) -> Any:
    """``tick`` on a queue of its own, for workers dedicated to heavy work."""
    return _work(event, context)


@app.function("emit", agency="streamer")
def emit(event: Any, context: Context) -> Any:
    """``tick`` under an agency that grants DIS, for stream destinations."""
    return _work(event, context)


@app.function("chatty")
def chatty(event: Any, context: Context) -> Any:
    context.logger.info("working on attempt %d", context.attempt)
    if context.attempt == 1:
        raise RuntimeError("first attempt fails")
    return "done"


TALLIED = "drill:events"


@app.function("tally")
def tally(event: Any, context: Context) -> None:
    """A FunctionGraph destination: counts the result events it receives per source invocation."""
    source = (event or {}).get("request_context", {}).get("request_id", "?")
    app.engine.store.redis.hincrby(TALLIED, source, 1)
