"""The memory soak's workload, twice: a function of the engine and a plain Celery task on the
same Celery app, each failing for the messages that say so and counting what it ran."""

from __future__ import annotations

from typing import Any

from executor import Context, FunctionApp

app = FunctionApp()

PLAIN_QUEUE = "soak.plain"
RAN = "soak:ran"


class SoakFailure(Exception):
    """The failure of one message in ten."""


def _run(kind: str, event: dict[str, Any]) -> Any:
    app.engine.store.redis.hincrby(RAN, kind, 1)
    data = event["data"]  # a local that holds the payload, as a handler's would
    if event["fail"]:
        raise SoakFailure(f"message {event['n']} fails ({len(data)} bytes)")
    return {"n": event["n"]}


@app.function("soak", config={"max_async_retry_attempts": 0})
def soak(event: Any, context: Context) -> Any:
    return _run("engine", event)


@app.celery.task(name="soak.plain", queue=PLAIN_QUEUE, ignore_result=True, acks_late=True)
def plain(event: dict[str, Any]) -> Any:
    return _run("plain", event)
