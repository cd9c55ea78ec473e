"""Counters and the reads that go across shards: what the reconciler and metrics look at."""

from __future__ import annotations

import heapq
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import cast

import redis

from executor.core.invocation import Status
from executor.state.connection import reachable
from executor.state.keys import (
    DEADLINES,
    SHARDS,
    STATS,
    active_key,
    history_key,
    record_key,
    shard_of,
    sharded,
    sharded_for,
)
from executor.state.writes import dumps


class Scans:
    """The reads that go across shards: counters, due and waiting invocations, in-flight counts.
    The reconciler and the metrics read these."""

    def __init__(self, client: redis.Redis, ready: Callable[[], None]) -> None:
        """``ready`` checks the store's key layout before the first read."""
        self.redis = client
        self._ready = ready

    def record_drop(self, request_id: str, target: str, reason: str) -> None:
        """Count a call the guard refused, on the invocation that tried to make it."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        if request_id:
            pipe.hincrby(record_key(request_id), "cycle_drops", 1)
            pipe.rpush(
                history_key(request_id),
                dumps({"status": None, "at": now, "note": f"dropped call to {target}: {reason}"}),
            )
        pipe.hincrby(sharded(STATS, shard_of(request_id) if request_id else 0), "cycle_drops", 1)
        pipe.execute()

    def incr(self, counter: str, amount: int = 1) -> None:
        """Add to a counter that belongs to no invocation (it lives in shard 0)."""
        self.redis.hincrby(sharded(STATS, 0), counter, amount)

    def stats(self) -> dict[str, int]:
        """Every counter, summed over the shards."""
        self._ready()
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for shard in range(SHARDS):
                pipe.hgetall(sharded(STATS, shard))
            total: Counter[str] = Counter()
            for part in pipe.execute():
                total.update({k: int(v) for k, v in part.items()})
        return dict(total)

    def due(self, name: str, before: float, count: int = 500) -> list[str]:
        """Up to ``count`` request ids scored at most ``before`` in a sharded structure
        (``DEADLINES`` or ``OUTBOX``), the earliest first."""
        self._ready()
        return self._earliest(
            [sharded(name, shard) for shard in range(SHARDS)], "-inf", before, count
        )

    def any_open(self) -> bool:
        """Whether any invocation may still be open (not ended): every accepted invocation
        keeps a deadline until it ends. One command per shard, whatever the functions."""
        self._ready()
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(SHARDS):
            pipe.exists(sharded(DEADLINES, shard))
        return any(pipe.execute())

    def forget_deadline(self, request_id: str) -> None:
        """Take an invocation that ended (or vanished) off the deadline index."""
        self.redis.zrem(sharded_for(DEADLINES, request_id), request_id)

    def waiting_since(self, urn: str, cutoff: float, count: int) -> list[str]:
        """Request ids of ``urn`` not ended and accepted (a delayed one: due) before
        ``cutoff``, oldest first."""
        return self._earliest(
            [active_key(urn, shard) for shard in range(SHARDS)], "-inf", cutoff, count
        )

    def _earliest(
        self, keys: Sequence[str], low: float | str, high: float | str, count: int
    ) -> list[str]:
        """The ``count`` lowest-scored members within ``[low, high]`` of several sorted sets."""
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zrangebyscore(key, low, high, start=0, num=count, withscores=True)
        merged = heapq.merge(*pipe.execute(), key=lambda entry: entry[1])
        return [member for member, _ in itertools.islice(merged, count)]

    def last_change(self, request_id: str) -> float:
        """When the invocation's status last changed (0 if unknown)."""
        last = self.redis.lindex(history_key(request_id), -1)
        return float(json.loads(last).get("at", 0)) if last else 0.0

    def oldest_waiting(self, urn: str, scan: int, page: int) -> float | None:
        """The acceptance (or due) time of the oldest invocation of ``urn`` in WAIT, among the
        first ``scan`` not ended; None if there is none."""
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(SHARDS):
            pipe.zrange(active_key(urn, shard), 0, scan - 1, withscores=True)
        oldest = list(itertools.islice(heapq.merge(*pipe.execute(), key=lambda e: e[1]), scan))
        for start in range(0, len(oldest), page):
            entries = cast("list[tuple[str, float]]", oldest[start : start + page])
            pipe = self.redis.pipeline(transaction=False)
            for request_id, _ in entries:
                pipe.hmget(record_key(request_id), "status", "due_at")
            now = time.time()
            for (_, enqueued_at), (status, due_at) in zip(entries, pipe.execute(), strict=True):
                # A delayed invocation waits from its due time, and not at all before it.
                if status == Status.WAIT.value and float(due_at or 0) <= now:
                    return max(float(enqueued_at), float(due_at or 0))
        return None

    def in_flight(self, urns: Sequence[str]) -> dict[str, int]:
        """How many invocations of each function have not ended."""
        pipe = self.redis.pipeline(transaction=False)
        for urn in urns:
            for shard in range(SHARDS):
                pipe.zcard(active_key(urn, shard))
        counts = [int(n) for n in pipe.execute()]
        return {urn: sum(counts[i * SHARDS : (i + 1) * SHARDS]) for i, urn in enumerate(urns)}
