"""What ended, and how long events waited to start, minute by minute: the counters the
transition scripts keep per function, read back as points of a chart.

Each end is counted in its minute and its ten-minute span; each start in the bucket of its
event's age (from acceptance, or from the due time of a delayed one), whose upper bounds are
``AGE_BOUNDS``. Percentiles of the age are read from the buckets, so they are as fine as the
buckets: a value is placed within its bucket by linear interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict

MINUTE: Final = 60
SPAN: Final = 600
# Seconds; an age above the last bound falls in one more bucket, of no upper bound.
AGE_BOUNDS: Final[tuple[float, ...]] = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    86400.0,
)

_FROZEN = ConfigDict(frozen=True)


class OutcomePoint(BaseModel):
    """How many invocations of a function ended with each status in one step of time."""

    model_config = _FROZEN

    at: float  # the start of the step, epoch seconds
    success: int = 0
    fail: int = 0
    discard: int = 0


class AgePoint(BaseModel):
    """How long the events of the attempts started in one step had waited, in seconds."""

    model_config = _FROZEN

    at: float
    started: int = 0
    p50: float | None = None
    p95: float | None = None


def percentile(buckets: Sequence[int], fraction: float) -> float | None:
    """The ``fraction`` percentile of the ages counted in ``buckets`` (one per bound, then the
    one above the last); None when nothing was counted."""
    total = sum(buckets)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            low = AGE_BOUNDS[index - 1] if index else 0.0
            if index >= len(AGE_BOUNDS):
                return low
            high = AGE_BOUNDS[index]
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return AGE_BOUNDS[-1]


def age_point(at: float, counts: Mapping[int, int]) -> AgePoint:
    """The point of one step from its counts by bucket index."""
    buckets = [counts.get(i, 0) for i in range(len(AGE_BOUNDS) + 1)]
    return AgePoint(
        at=at,
        started=sum(buckets),
        p50=percentile(buckets, 0.5),
        p95=percentile(buckets, 0.95),
    )


def steps(since: float, until: float, step: int) -> list[int]:
    """The steps (``step`` seconds each, counted from the epoch) that ``[since, until]``
    touches, oldest first."""
    first, last = math.floor(since / step), math.floor(until / step)
    return list(range(first, last + 1))
