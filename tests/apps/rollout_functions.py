"""Two versions of one app whose workers share the invocation queue: ``old`` predates the
function ``added``, which ``new`` registers. Each run of ``added`` is counted by the version of
the worker that ran it."""

from __future__ import annotations

import os
from typing import Any

from executor import Context, FunctionApp

RUNS = "rollout:runs"
RUN_BY = "rollout:by"
# Which version a worker runs, given to it in its environment by the test.
VERSION = "ROLLOUT_VERSION"


def _build(*, with_added: bool) -> FunctionApp:
    app = FunctionApp()

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
