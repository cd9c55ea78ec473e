"""Real processes for the integration tests: a private redis-server and Celery workers.

They are the package's own helpers (``executor.ops.servers``), which the benchmark and the demo
use too; a test worker runs from the repository, so it imports ``tests.apps.*`` by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

from executor.ops.servers import RedisServer, WorkerProcess, free_port, wait_for
from executor.state.keys import SHARDS, STATS, sharded

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["ROOT", "RedisServer", "Worker", "free_port", "stat", "wait_for"]


def stat(rdb: redis.Redis, field: str) -> int:
    """A counter of the state store, summed over its shards."""
    pipe = rdb.pipeline(transaction=False)
    for shard in range(SHARDS):
        pipe.hget(sharded(STATS, shard), field)
    return sum(int(n or 0) for n in pipe.execute())


class Worker(WorkerProcess):
    """``executor worker`` on a test app, started from the repository."""

    def __init__(self, app: str, env: Mapping[str, str], **kwargs: Any) -> None:
        path = {"PYTHONPATH": str(ROOT)}
        super().__init__(app, {**env, **path}, cwd=ROOT, **kwargs)
