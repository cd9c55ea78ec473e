"""Functions the console's browser tests run: two of the signed-in project, one of another."""

from __future__ import annotations

from typing import Any

from executor import Context, FunctionApp

app = FunctionApp()
# A function of the other project of tests/support/api_server.py, served by the same workers.
LEDGER = "urn:fss:local-1:9a8b7c6d5e4f30211203f4e5d6c7b8a9:function:default:ledger:latest"


def work(event: Any, context: Context) -> Any:
    """Fails with ``event["fail"]`` when it is given, else echoes the event."""
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError(event["fail"])
    return {"echo": event, "attempt": context.attempt}


app.function("report", agency="writer")(work)
app.function("notify")(work)
app.function(LEDGER)(work)
