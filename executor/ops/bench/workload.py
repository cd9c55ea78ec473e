"""What the benchmark runs: no-op functions and plain Celery tasks in one app.

The functions and the plain tasks live in the same Celery app, so both sides run with the
same settings (JSON, acks_late, task events) in the same worker. Completion is recorded by
one ``task_postrun`` receiver for every scenario: the last task of a flow pushes its root id
and a timestamp to a Redis list, so the measurement costs both sides the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import redis

from executor.core.catalogue import task_name
from executor.core.constants import DELIVER_TASK
from executor.core.context import Context
from executor.core.params import FUNCTION_GRAPH
from executor.core.settings import Settings
from executor.runtime.celery.app import FunctionApp
from executor.runtime.celery.workers import on_task_postrun, on_worker_ready
from executor.state.connection import connect

if TYPE_CHECKING:
    from executor.runtime.celery.types import Task

NOOP: Final = "bench-noop"
SOURCE: Final = "bench-source"
TARGET: Final = "bench-target"
STASH: Final = "bench-stash"
# A function under flow control whose cap is far above the worker's concurrency: what the
# scenario measures is the cost of the way through the held set and a slot, not the cap.
CAPPED: Final = "bench-capped"
CAP: Final = 1000
# A function whose cap is the worker's concurrency (``--concurrency 4``): how close to the
# function uncapped a tight cap lets it run, slots freed and taken at each run's end.
TIGHT: Final = "bench-tight"
TIGHT_CAP: Final = 4
PLAIN_TASK: Final = "bench.plain"
CALLBACK_TASK: Final = "bench.callback"

DONE_KEY: Final = "bench:done"
READY_KEY: Final = "bench:ready"
OBS_BUCKET: Final = "bench-events"
OBS_AGENCY: Final = "bench"


@dataclass(frozen=True)
class Workload:
    """The app and the two plain tasks a producer sends."""

    app: FunctionApp
    plain: Task
    callback: Task


def build(settings: Settings) -> Workload:
    """Register the benchmark's functions and plain tasks on a new ``FunctionApp``."""
    app = FunctionApp(settings, name="bench")
    target = str(app.client.resolve(TARGET))

    @app.function(NOOP)
    def noop(event: Any, context: Context) -> None:
        return None

    @app.function(
        SOURCE,
        config={
            "destination_config": {
                "on_success": {"destination": FUNCTION_GRAPH, "param": {"func_urn": target}}
            }
        },
    )
    def source(event: Any, context: Context) -> None:
        return None

    @app.function(TARGET)
    def sink(event: Any, context: Context) -> None:
        return None

    @app.function(CAPPED, max_instances=CAP)
    def capped(event: Any, context: Context) -> None:
        return None

    @app.function(TIGHT, max_instances=TIGHT_CAP)
    def tight(event: Any, context: Context) -> None:
        return None

    @app.function(
        STASH,
        agency=OBS_AGENCY,
        config={
            "destination_config": {
                "on_success": {"destination": "OBS", "param": {"bucket": OBS_BUCKET}}
            }
        },
    )
    def stash(event: Any, context: Context) -> None:
        return None

    @app.celery.task(name=PLAIN_TASK, shared=False)  # type: ignore[untyped-decorator]
    def plain(payload: Any) -> None:
        return None

    @app.celery.task(name=CALLBACK_TASK, shared=False)  # type: ignore[untyped-decorator]
    def callback(result: Any) -> None:
        return None

    _Recorder.settings = settings
    _Recorder.final = frozenset(
        {
            PLAIN_TASK,
            CALLBACK_TASK,
            *(task_name(app.client.resolve(f)) for f in (NOOP, TARGET, CAPPED, TIGHT)),
        }
    )
    return Workload(app=app, plain=plain, callback=callback)


class _Recorder:
    """What the completion and readiness receivers of this process need: the Redis client,
    and the tasks that end a flow (a plain task with a link callback, or a delivery to
    anything but OBS, is only a step on the way)."""

    settings: Settings | None = None
    final: frozenset[str] = frozenset()
    _client: redis.Redis | None = None

    @classmethod
    def client(cls) -> redis.Redis:
        if cls._client is None:
            assert cls.settings is not None
            cls._client = connect(cls.settings)
        return cls._client


def _is_final(task: Any, kwargs: dict[str, Any] | None) -> bool:
    name = getattr(task, "name", "")
    if name == DELIVER_TASK:
        destination = (kwargs or {}).get("destination") or {}
        return bool(destination.get("destination") == "OBS")
    if name == PLAIN_TASK and task.request.callbacks:
        return False
    return name in _Recorder.final


def _on_postrun(
    sender: Any = None,
    task: Any = None,
    kwargs: dict[str, Any] | None = None,
    state: str = "",
    **_: Any,
) -> None:
    if _Recorder.settings and state == "SUCCESS" and _is_final(task, kwargs):
        root = task.request.root_id or task.request.id
        _Recorder.client().rpush(DONE_KEY, f"{root} {time.time()!r}")


def _on_ready(sender: Any = None, **_: Any) -> None:
    if _Recorder.settings:
        _Recorder.client().set(READY_KEY, "1")


on_task_postrun(_on_postrun)
on_worker_ready(_on_ready)
