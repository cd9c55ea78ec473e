"""Functions the destination tests run on real workers, one per agency of ``agency_toml``."""

from __future__ import annotations

from typing import Any

from executor import Context, FunctionApp

app = FunctionApp()


def work(event: Any, context: Context) -> Any:
    """Fails with ``event["fail"]`` when it is given, else echoes the event."""
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError(event["fail"])
    return {"echo": event, "attempt": context.attempt}


for name, agency in (
    ("report", "writer"),
    ("stream", "kinesis"),
    ("notify", "hooks"),
    ("limited", "streams-only"),
    ("anonymous", None),
):
    app.function(name, agency=agency, config={"max_async_retry_attempts": 0})(work)
