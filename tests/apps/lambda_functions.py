"""Functions the Lambda API tests run on real workers.

With ``LAMBDA_TEST_CLOCK_AHEAD`` (seconds) set, the process's ``time.time`` runs that far ahead:
a worker started so sees an invocation accepted by the API as that much older, which proves the
event age limit of Lambda (at least 60 s) without waiting for it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from executor import Context, FunctionApp

_AHEAD = float(os.environ.get("LAMBDA_TEST_CLOCK_AHEAD", "0"))
if _AHEAD:
    _real_time = time.time

    def _ahead() -> float:
        return _real_time() + _AHEAD

    time.time = _ahead

app = FunctionApp()
SEEN = "test:lambda:seen"


def _seen(name: str, event: Any, context: Context) -> None:
    row = {"function": name, "event": event, "request_id": context.request_id}
    app.engine.store.redis.rpush(SEEN, json.dumps(row))


@app.function("greet", agency="writer")
def greet(event: Any, context: Context) -> Any:
    _seen("greet", event, context)
    return {"greeting": f"hello {event.get('name', 'world')}"}


@app.function("fails", agency="writer")
def fails(event: Any, context: Context) -> Any:
    _seen("fails", event, context)
    raise ValueError("always fails")


@app.function("chained")
def chained(event: Any, context: Context) -> Any:
    _seen("chained", event, context)
    return "chained"
