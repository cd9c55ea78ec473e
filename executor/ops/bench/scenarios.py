"""The seven scenarios, each a way to send one message whose flow ends in a recorded completion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from executor.ops.bench.workload import (
    CAP,
    CAPPED,
    NOOP,
    SOURCE,
    STASH,
    TIGHT,
    TIGHT_CAP,
    Workload,
)

Send = Callable[[Workload, Any], str]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    send: Send
    needs_s3: bool = False


def _plain(w: Workload, payload: Any) -> str:
    return str(w.plain.apply_async((payload,)).id)


def _invoke(w: Workload, payload: Any) -> str:
    return w.app.invoke_async(NOOP, payload)


def _plain_with_link(w: Workload, payload: Any) -> str:
    return str(w.plain.apply_async((payload,), link=w.callback.s()).id)


def _invoke_to_function(w: Workload, payload: Any) -> str:
    return w.app.invoke_async(SOURCE, payload)


def _invoke_to_obs(w: Workload, payload: Any) -> str:
    return w.app.invoke_async(STASH, payload)


def _invoke_capped(w: Workload, payload: Any) -> str:
    return w.app.invoke_async(CAPPED, payload)


def _invoke_tight(w: Workload, payload: Any) -> str:
    return w.app.invoke_async(TIGHT, payload)


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in (
        Scenario("a", "Celery task", _plain),
        Scenario("b", "invoke_async", _invoke),
        Scenario("c", "Celery task + link", _plain_with_link),
        Scenario("d", "invoke_async -> FunctionGraph", _invoke_to_function),
        Scenario("e", "invoke_async -> OBS", _invoke_to_obs, needs_s3=True),
        Scenario("f", f"invoke_async, max_instances {CAP}", _invoke_capped),
        Scenario("g", f"invoke_async, max_instances {TIGHT_CAP}", _invoke_tight),
    )
}
