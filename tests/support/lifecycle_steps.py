"""Steps of an invocation's life as a worker takes them, for the fast layer's lifecycle tests."""

from __future__ import annotations

import json
import time
from typing import Any

from executor import Client
from executor.core.events import build_event
from executor.core.invocation import Status
from executor.core.urn import parse_urn
from executor.runtime.lifecycle import Ending, Lifecycle
from executor.runtime.start import Start
from executor.state.configs import Configs
from executor.state.functions import Functions
from executor.state.writes import Finish
from tests.support.names import urn

HELLO = urn("hello")


def accept(lifecycle: Lifecycle, request_id: str = "r1", payload: Any = None, **kw: Any) -> str:
    entry = lifecycle.functions.lookup(parse_urn(HELLO, region="", project=""))
    fields = {
        "request_id": request_id,
        "payload": payload if payload is not None else {"n": 1},
        "chain": ("up",),
        "max_age": 90,
    } | kw
    fields.setdefault("payload_json", json.dumps(fields["payload"]))
    return lifecycle.admission.start(Start(entry=entry, **fields))


def route(configs: Configs, functions: Functions, **sides: Any) -> None:
    hello = parse_urn(HELLO, region="", project="")
    configs.put(hello, {"destination_config": sides}, functions.defaults())


def event(request_id: str = "r1", condition: str = "", count: int = 1) -> Any:
    return build_event(
        request_id=request_id,
        function_urn=HELLO,
        enqueued_at=1.0,
        condition=condition,
        invoke_count=count,
        request_payload={"n": 1},
        response_payload="ok" if not condition else "",
    )


def settle(lifecycle: Lifecycle, request_id: str = "r1", status: Status = Status.SUCCESS) -> bool:
    condition = "" if status is Status.SUCCESS else "RetriesExhausted"
    return lifecycle.settle(
        Ending(
            request_id=request_id,
            urn=HELLO,
            status=status,
            condition=condition,
            chain=("up",),
            event=lambda: event(request_id, condition),
        )
    )


def end(client: Client, request_id: str, status: Status) -> None:
    """End an invocation as a worker would (FAIL or SUCCESS), without an event."""
    client.store.transitions.finish(
        Finish(
            request_id=request_id,
            urn=client.get_invocation(request_id).function_urn,
            status=status,
            now=time.time(),
            retention=3600,
        )
    )
