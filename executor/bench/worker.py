"""The app a benchmark worker runs: ``executor worker --app executor.bench.worker:app``."""

from __future__ import annotations

from executor.bench.workload import build
from executor.settings import get_settings

app = build(get_settings()).app
