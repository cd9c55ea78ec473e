"""Retention: an ended invocation leaves the store a retention period after it ended, whole.

FINISH puts each ended invocation in its shard's retirements, scored by its end plus the
retention; the reconciler's pass retires the ones that are due, each in one script: its record,
history and deliveries, its entries in its function's indexes, the delivery chains of its
events and its children listed in its shard go together, so that a listing shows an
invocation exactly as long as it can be read; the lists of its children in other shards go
right after. One whose event is still being delivered waits for the delivery to end. (A
record also expires a day after its retention, in case no pass runs for that long; what then
remains of it in the indexes is passed over by listings.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import redis

from executor.state import scripts
from executor.state.connection import reachable
from executor.state.keys import (
    OUTBOX,
    RETIRE,
    SHARDS,
    chain_key,
    children_key,
    deliveries_key,
    history_key,
    index_key,
    record_key,
    sharded,
    status_key,
)

# How long to wait before looking again at an invocation whose event is still on its way.
_RECHECK = 60


class Retention:
    """Retires ended invocations whose retention is over."""

    def __init__(self, client: redis.Redis, ready: Callable[[], None]) -> None:
        self.redis = client
        self._ready = ready
        self._retire = scripts.register(client, "retire")

    def retire(self, now: float, batch: int = 500) -> int:
        """Retire up to ``batch`` due invocations of each shard; how many were retired."""
        self._ready()
        retired = 0
        with reachable():
            for shard in range(SHARDS):
                retired += self._retire_shard(shard, now, batch)
        return retired

    def _retire_shard(self, shard: int, now: float, batch: int) -> int:
        key = sharded(RETIRE, shard)
        due = cast("list[str]", self.redis.zrangebyscore(key, "-inf", now, start=0, num=batch))
        if not due:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for request_id in due:
            pipe.hmget(record_key(request_id), "urn", "status")
        found = cast("list[list[str | None]]", pipe.execute())
        gone: list[str] = []
        retired: list[str] = []
        for request_id, (urn, status) in zip(due, found, strict=True):
            if not urn or not status:
                gone.append(request_id)  # expired on its own: nothing left to retire with it
                continue
            # One call each: a cluster client does not load scripts for a pipeline.
            answer = self._retire(
                keys=[
                    key,
                    record_key(request_id),
                    history_key(request_id),
                    deliveries_key(request_id),
                    index_key(urn, shard),
                    status_key(urn, status, shard),
                    chain_key(f"{request_id}:success"),
                    chain_key(f"{request_id}:failure"),
                    children_key(request_id, shard),
                    sharded(OUTBOX, shard),
                ],
                args=[request_id, repr(now), _RECHECK],
            )
            if int(answer) == 1:
                retired.append(request_id)
        if gone:
            self.redis.zrem(key, *gone)
        self._forget_children(retired)
        return len(retired)

    def _forget_children(self, request_ids: list[str]) -> None:
        """The lists of their children that the retired kept in other shards (a child is
        listed in its own): they go now, not when their own expiry comes."""
        if not request_ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for request_id in request_ids:
            for other in range(SHARDS):
                pipe.delete(children_key(request_id, other))
        pipe.execute()
