"""The settings and reports of the reliability drills, shared by the Redis-mode drills."""

from __future__ import annotations

import json
from typing import Any

import redis

from executor.state.keys import record_key

APP = "tests.apps.fleet_functions:app"
VISIBILITY = 10
# How long a supervisor waits for a warm shutdown before SIGKILL (a Kubernetes grace period).
GRACE = 20
DRILL = {
    "EXECUTOR_VISIBILITY_TIMEOUT": str(VISIBILITY),
    "EXECUTOR_TIME_LIMIT": "4",
    "EXECUTOR_SOFT_TIME_LIMIT": "3",
    # An event whose delivery task a killed worker never queued is re-sent after this.
    "EXECUTOR_OUTBOX_GRACE": "3",
}


# A handler's own Redis calls wait through a failover (a few seconds): in the failover drills
# its time limits stay above that, as a deployment's do, so the drills count losses only.
FAILOVER_DRILL = {
    **DRILL,
    "EXECUTOR_VISIBILITY_TIMEOUT": "30",
    "EXECUTOR_TIME_LIMIT": "12",
    "EXECUTOR_SOFT_TIME_LIMIT": "10",
}


def report(drill: str, **figures: Any) -> None:
    print(f"\n[{drill}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def not_succeeded(rdb: redis.Redis, ids: list[str], final: list[str]) -> str:
    """The records of the invocations in ``ids`` whose status in ``final`` is not SUCCESS,
    as JSON ("" when there are none), for an assertion to show why."""
    records = {
        rid: rdb.hgetall(record_key(rid))
        for rid, s in zip(ids, final, strict=True)
        if s != "SUCCESS"
    }
    return json.dumps(records, indent=1) if records else ""
