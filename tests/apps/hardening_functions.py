"""Functions the hardening tests run on real workers: hop chains, a slow counter, a sender to a
destination that stays down, and handlers that misbehave in ways a worker must survive."""

from __future__ import annotations

import os
import time
from typing import Any

from executor import Context, FunctionApp

app = FunctionApp()
CHAIN_LENGTH = 24


def _redis() -> Any:
    return app.engine.store.redis


def _hop(index: int) -> Any:
    def handler(event: Any, context: Context) -> Any:
        """Counts its run; the next function is called by the FunctionGraph destination, with
        this one's result event, whose response carries the tag on."""
        tag = event["tag"] if "tag" in event else event["response_payload"]["tag"]
        _redis().rpush(f"test:hops:{tag}", index)
        _redis().set(f"test:hop:{tag}:{index}", context.request_id)
        return {"tag": tag}

    return handler


def _call(index: int) -> Any:
    def handler(event: Any, context: Context) -> Any:
        """Counts its run and calls the next function itself."""
        _redis().rpush(f"test:hops:{event['tag']}", index)
        _redis().set(f"test:hop:{event['tag']}:{index}", context.request_id)
        if index + 1 < CHAIN_LENGTH:
            return context.invoke_async(f"call{index + 1}", event)
        return None

    return handler


for _i in range(CHAIN_LENGTH):
    app.function(f"hop{_i}")(_hop(_i))
    app.function(f"call{_i}")(_call(_i))


@app.function("echo")
def echo(event: Any, context: Context) -> Any:
    return "ok"


@app.function("hold")
def hold(event: Any, context: Context) -> Any:
    """Counts each run and notes its process, then sleeps ``event["seconds"]``."""
    _redis().set(f"test:pid:{context.request_id}", os.getpid())
    _redis().incr(f"test:runs:{context.request_id}")
    time.sleep(event.get("seconds", 2))
    return "held"


@app.function("report", agency="writer", config={"max_async_retry_attempts": 0})
def report(event: Any, context: Context) -> Any:
    return event


@app.function("unserializable")
def unserializable(event: Any, context: Context) -> Any:
    """Returns a result JSON cannot hold."""
    return {"when": object()}


@app.function("surrogate")
def surrogate(event: Any, context: Context) -> Any:
    """Returns text that is not Unicode: a lone surrogate, which UTF-8 cannot carry."""
    return {"text": "\ud800"}


@app.function("recurse")
def recurse(event: Any, context: Context) -> Any:
    """Recurses until Python raises ``RecursionError``."""

    def down(n: int) -> int:
        return down(n + 1) + 1

    return down(0)


@app.function("interrupt")
def interrupt(event: Any, context: Context) -> Any:
    """Raises a ``BaseException`` subclass that is not an ``Exception``."""
    raise KeyboardInterrupt("stop")


@app.function("leave")
def leave(event: Any, context: Context) -> Any:
    """Calls ``sys.exit``, which raises ``SystemExit`` in the pool process."""
    raise SystemExit(3)
