"""The app a benchmark worker runs: ``executor worker --app executor.ops.bench.worker:app``."""

from __future__ import annotations

from executor.core.settings import get_settings
from executor.ops.bench.workload import build

app = build(get_settings()).app
