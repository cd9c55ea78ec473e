"""The demo's functions: one succeeds, one exhausts its retries, one ages out in its queue."""

from __future__ import annotations

import json
from typing import Any

from executor import Context, FunctionApp

app = FunctionApp()
EVENTS = "demo:events"
AUDIT = "audit"


@app.function("greet")
def greet(event: Any, context: Context) -> Any:
    return {"message": f"hello, {event['name']}!"}


@app.function("charge")
def charge(event: Any, context: Context) -> Any:
    context.logger.info("charging %s, attempt %d", event["card"], context.attempt)
    raise ConnectionError(f"payment gateway refused card {event['card']}")


@app.function("report", queue="batch")
def report(event: Any, context: Context) -> Any:
    return {"rows": 42}


@app.function(AUDIT)
def audit(event: Any, context: Context) -> None:
    """The destination of the others: keeps each result event for the demo to print."""
    app.client.store.redis.rpush(EVENTS, json.dumps(event))
