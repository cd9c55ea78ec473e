"""The room left in the state store's memory, checked before a new invocation is accepted.

A Redis at ``maxmemory`` with the ``noeviction`` policy refuses writes: producers get errors,
and workers can no longer record outcomes or acknowledge messages (kombu acknowledges in a
MULTI, which a full Redis refuses as a whole), so what was accepted cannot finish. New
invocations are therefore refused once used memory passes a share of ``maxmemory``
(``EXECUTOR_ADMISSION_MEMORY_FRACTION``), and the rest is left to the work already accepted:
its outcomes, events and acknowledgements. A Redis without ``maxmemory`` is not checked.

``INFO memory`` is read at most once a second while usage is well below the threshold, and at
every check once it is within ``NEAR`` of it. A fast producer can accept more in a second than
that margin holds, so a reading also stands only until this process has accepted enough to
fill half the room it showed, at what each acceptance was seen to add between readings (the
workers' writes for it included).
A Redis that refuses ``INFO`` (an ACL without it, a proxy) is not checked either; a warning
says so once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

import redis
from redis.cluster import RedisCluster

from executor.core.errors import Unavailable
from executor.state.connection import reachable

log = logging.getLogger("executor.admission")

# Within this share of maxmemory below the threshold, every check reads the memory again.
NEAR = 0.1
# What one acceptance adds (its record, history, indexes, message, and later its event), until
# readings show it: a first guess, and the bounds of what readings may set it to.
PER_ADMISSION = 4 * 2**10
_PER_ADMISSION_BOUNDS = (2**10, 256 * 2**10)
# Acceptances between two readings before their growth is taken as what one adds.
_SAMPLE = 50


class Headroom:
    """Whether the state store has the memory to take one more invocation."""

    def __init__(
        self,
        client: redis.Redis,
        fraction: float,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.fraction = fraction
        self.interval = interval
        self.clock = clock
        self._read_at: float | None = None
        self._used = 0
        self._limit = 0
        self._blind = False
        self._admitted = 0  # since the last reading
        self.per_admission = float(PER_ADMISSION)

    def admit(self) -> None:
        """Raise ``Unavailable`` while used memory is past the threshold; nothing is written."""
        used, limit = self._usage()
        if limit and used >= self.fraction * limit:
            raise Unavailable(
                f"the state store is nearly full ({used / limit:.0%} of its maxmemory of "
                f"{_mib(limit)}; new invocations wait below {self.fraction:.0%}): nothing was "
                "accepted; retry later, or raise Redis's maxmemory"
            )
        self._admitted += 1

    def _usage(self) -> tuple[int, int]:
        now = self.clock()
        if self._blind or (self._read_at is not None and now - self._read_at < self._trust()):
            return self._used, self._limit
        with reachable():
            try:
                info = self._info()
            except redis.ResponseError as exc:
                self._blind = True
                log.warning(
                    "the state store refuses INFO (%s): new invocations are accepted without "
                    "a memory check; allow INFO to the store's user to have one",
                    exc,
                )
                return 0, 0
        used, self._limit = _usage_of(info)
        if self._read_at is not None and self._admitted >= _SAMPLE and used > self._used:
            low, high = _PER_ADMISSION_BOUNDS
            self.per_admission = min(high, max(low, (used - self._used) / self._admitted))
        self._used, self._read_at, self._admitted = used, now, 0
        return self._used, self._limit

    def _info(self) -> dict[str, Any]:
        if isinstance(self.client, RedisCluster):
            # Each master holds its own slots: every one of them must have room.
            nodes = self.client.info("memory", target_nodes=RedisCluster.PRIMARIES)
            return cast("dict[str, Any]", nodes)
        return self.client.info("memory")

    def _trust(self) -> float:
        """How long the last reading stands."""
        if not self._limit:
            return self.interval
        room = self.fraction * self._limit - self._used
        if room <= NEAR * self._limit or self._admitted * self.per_admission >= room / 2:
            return 0.0
        return self.interval


def _usage_of(info: dict[str, Any]) -> tuple[int, int]:
    """Used memory and maxmemory; for a cluster (one reply per node), the fullest node's."""
    if "used_memory" in info:
        return int(info["used_memory"]), int(info.get("maxmemory") or 0)
    nodes = [_usage_of(reply) for reply in info.values() if isinstance(reply, dict)]
    limited = [(used, limit) for used, limit in nodes if limit]
    if not limited:
        return 0, 0
    return max(limited, key=lambda node: node[0] / node[1])


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
