"""Two versions of one app: ``old`` predates the
function ``added``, which ``new`` registers. Each run of ``added`` is counted by the version of
the worker that ran it."""

from __future__ import annotations

import os
from typing import Any

from executor import Context, FunctionApp, Settings

RUNS = "rollout:runs"
RUN_BY = "rollout:by"
# Which version a worker runs, given to it in its environment by the test.
VERSION = "ROLLOUT_VERSION"


def _build(*, with_added: bool, settings: Settings | None = None) -> FunctionApp:
    app = FunctionApp(settings)

    @app.function("kept")
    def kept(event: Any, context: Context) -> Any:
        return event

    if with_added:

        @app.function("added")
        def added(event: Any, context: Context) -> Any:
            redis = app.engine.store.redis
            redis.hincrby(RUNS, context.request_id, 1)
            redis.hset(RUN_BY, context.request_id, os.environ.get(VERSION, "?"))
            return event

    return app


old = _build(with_added=False)
new = _build(with_added=True)
# The new version's producer on a fleet that keeps one shared queue (EXECUTOR_FAIR_QUEUES=0).
new_shared = _build(with_added=True, settings=Settings(fair_queues=False))
