"""Functions the flow-control tests run: each counts how many of its runs are in progress."""

from __future__ import annotations

import time
from typing import Any

from executor import Context, FunctionApp

app = FunctionApp()

STARTED = "flow:started"
ENDED = "flow:ended"
DONE = "flow:done"
NOW = "flow:now"
PEAK = "flow:peak"
# Records the highest number of runs in progress at once, per function, in one step.
_ENTER = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if n > tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') then
  redis.call('HSET', KEYS[2], ARGV[1], n)
end
return n
"""


def _run(name: str, event: Any, context: Context) -> Any:
    client = app.engine.store.redis
    client.eval(_ENTER, 2, NOW, PEAK, name)
    client.zadd(f"{STARTED}:{name}", {context.request_id: time.time()})
    try:
        time.sleep((event or {}).get("seconds", 0))
    finally:
        client.hincrby(NOW, name, -1)
        client.zadd(f"{ENDED}:{name}", {context.request_id: time.time()})
    client.hincrby(DONE, name, 1)
    return {"n": (event or {}).get("n")}


@app.function("capped")
def capped(event: Any, context: Context) -> Any:
    """Sleeps ``event["seconds"]``; the tests give it a flow config."""
    return _run("capped", event, context)


@app.function("free")
def free(event: Any, context: Context) -> Any:
    """The same work with no flow config."""
    return _run("free", event, context)


@app.function("single", max_instances=1)
def single(event: Any, context: Context) -> Any:
    """At most one at a time, from the decorator's default flow config."""
    return _run("single", event, context)


@app.function("again")
def again(event: Any, context: Context) -> Any:
    """Calls itself ``event["left"]`` more times, each call one hop deeper in its chain."""
    left = int((event or {}).get("left", 0))
    app.engine.store.redis.rpush("flow:depths", len(context.chain))
    if left > 0:
        context.invoke_async("again", {"left": left - 1})
    return {"left": left}


@app.function("barrier")
def barrier(event: Any, context: Context) -> Any:
    return event


@app.function("urgent")
def urgent(event: Any, context: Context) -> Any:
    """A function whose few invocations arrive behind another's backlog."""
    return _run("urgent", event, context)
