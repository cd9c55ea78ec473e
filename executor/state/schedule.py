"""The due-time index of delayed invocations: what the reconciler publishes once it is due.

ACCEPT puts a delayed invocation here and FINISH takes an ended one off; taking what is due
is one script, so one caller alone publishes each.
"""

from __future__ import annotations

from typing import cast

import redis

from executor.state import scripts
from executor.state.connection import reachable
from executor.state.keys import DUE, SHARDS, sharded, sharded_for


class DueIndex:
    """Delayed invocations by the time they are due, in every shard."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._take = scripts.register(client, "take_due")

    def take(self, now: float, count: int) -> list[str]:
        """Up to ``count`` delayed invocations due by ``now``, taken off the index."""
        taken: list[str] = []
        with reachable():
            for shard in range(SHARDS):
                if len(taken) >= count:
                    break
                taken += cast(
                    "list[str]",
                    self._take(keys=[sharded(DUE, shard)], args=[repr(now), count - len(taken)]),
                )
        return taken

    def put_back(self, request_id: str, due_at: float) -> None:
        """Put an invocation back on the index (its message could not be published)."""
        with reachable():
            self.redis.zadd(sharded_for(DUE, request_id), {request_id: due_at})

    def count(self) -> int:
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for shard in range(SHARDS):
                pipe.zcard(sharded(DUE, shard))
            return sum(int(n) for n in pipe.execute())
