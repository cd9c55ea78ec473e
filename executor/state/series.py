"""Reading the counters of minutes and ten-minute spans that FINISH and CLAIM keep."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import redis

from executor.core.series import AGE_BOUNDS, MINUTE, SPAN, AgePoint, OutcomePoint, age_point, steps
from executor.state.connection import reachable
from executor.state.keys import SHARDS, minute_key, span_key

_ENDS = ("success", "fail", "discard")
_BUCKETS = range(len(AGE_BOUNDS) + 1)


class Series:
    """A function's ends and ages at start, step by step (a minute, or ten for longer views)."""

    def __init__(self, client: redis.Redis, ready: Callable[[], None]) -> None:
        self.redis = client
        self._ready = ready

    def outcomes(self, urn: str, since: float, until: float, step: int) -> list[OutcomePoint]:
        """How many invocations of ``urn`` ended with each status in each step."""
        fields = [f"{urn}|{end}" for end in _ENDS]
        points = []
        for at, counts in self._read(since, until, step, fields):
            points.append(OutcomePoint(at=at, **dict(zip(_ENDS, counts, strict=True))))
        return points

    def ages(self, urn: str, since: float, until: float, step: int) -> list[AgePoint]:
        """How long the events of ``urn``'s attempts started in each step had waited."""
        fields = [f"{urn}|age|{bucket}" for bucket in _BUCKETS]
        return [
            age_point(at, dict(enumerate(counts)))
            for at, counts in self._read(since, until, step, fields)
        ]

    def _read(
        self, since: float, until: float, step: int, fields: list[str]
    ) -> list[tuple[float, list[int]]]:
        if step not in (MINUTE, SPAN):
            raise ValueError(f"a step is {MINUTE} or {SPAN} seconds, not {step}")
        key = minute_key if step == MINUTE else span_key
        numbers = steps(since, until, step)
        self._ready()
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for number in numbers:
                for shard in range(SHARDS):
                    pipe.hmget(key(number, shard), fields)
            replies = cast("list[list[str | None]]", pipe.execute())
        found = []
        for i, number in enumerate(numbers):
            shards = replies[i * SHARDS : (i + 1) * SHARDS]
            counts = [sum(int(part[f] or 0) for part in shards) for f in range(len(fields))]
            found.append((float(number * step), counts))
        return found
