"""The dead-letter store: events a destination refused for good or could not take in time.

Each entry is kept in the hash ``ae:dlq`` by identity and in the sorted set ``ae:dlq:idx`` by
time. Taking an entry out to send it again is one script, so two operators sending it at once
queue it once.
"""

from __future__ import annotations

from typing import cast

import redis

from executor.state import scripts
from executor.state.connection import reachable
from executor.state.keys import DLQ, DLQ_INDEX, STATS, sharded


class DeadLetterStore:
    """Raw entries of the dead-letter store, as JSON text."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._take = scripts.register(client, "take_dead_letter")

    def add(self, identity: str, entry: str, at: float) -> None:
        """Keep an entry, counted once per identity even if it is written again."""
        with reachable():
            pipe = self.redis.pipeline()
            pipe.hset(DLQ, identity, entry)
            pipe.zadd(DLQ_INDEX, {identity: at})
            new, _ = pipe.execute()
            if new:
                self.redis.hincrby(sharded(STATS, 0), "dead_letters", 1)

    def count(self) -> int:
        with reachable():
            return int(self.redis.zcard(DLQ_INDEX))

    def page(self, offset: int, limit: int) -> list[str]:
        """Entries oldest first."""
        with reachable():
            identities = cast("list[str]", self.redis.zrange(DLQ_INDEX, offset, offset + limit - 1))
            if not identities:
                return []
            entries = cast("list[str | None]", self.redis.hmget(DLQ, identities))
        return [e for e in entries if e]

    def identities(self) -> list[str]:
        with reachable():
            return cast("list[str]", self.redis.zrange(DLQ_INDEX, 0, -1))

    def get(self, identity: str) -> str | None:
        with reachable():
            return cast("str | None", self.redis.hget(DLQ, identity))

    def take(self, identity: str) -> str | None:
        """Remove an entry and return it; None if another caller took it first."""
        with reachable():
            return cast("str | None", self._take(keys=[DLQ, DLQ_INDEX], args=[identity]))

    def put_back(self, identity: str, entry: str, at: float) -> None:
        """Return an entry taken to be sent again that could not be queued."""
        with reachable():
            self.redis.hsetnx(DLQ, identity, entry)
            self.redis.zadd(DLQ_INDEX, {identity: at}, nx=True)

    def purge(self, identities: list[str]) -> int:
        if not identities:
            return 0
        with reachable():
            pipe = self.redis.pipeline()
            pipe.hdel(DLQ, *identities)
            pipe.zrem(DLQ_INDEX, *identities)
            removed, _ = pipe.execute()
        return int(removed)

    def purge_all(self) -> int:
        with reachable():
            pipe = self.redis.pipeline()
            pipe.hlen(DLQ)
            pipe.delete(DLQ, DLQ_INDEX)
            count, _ = pipe.execute()
        return int(count)
