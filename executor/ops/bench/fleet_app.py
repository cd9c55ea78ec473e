"""The app the workers of ``executor bench --fleet --real`` run: ``EXECUTOR_BENCH_FUNCTIONS``
no-op functions, each with ``max_instances`` ``EXECUTOR_BENCH_CAP`` (none when it is empty)."""

from __future__ import annotations

import os
from typing import Any

from executor.core.context import Context
from executor.runtime.celery.app import FunctionApp

app = FunctionApp(name="fleet")


def _noop(event: Any, context: Context) -> None:
    return None


_cap = os.environ.get("EXECUTOR_BENCH_CAP", "")
for _n in range(int(os.environ.get("EXECUTOR_BENCH_FUNCTIONS", "10"))):
    app.function(f"f{_n}", max_instances=int(_cap) if _cap else None)(_noop)
