"""Short-lived ownership in the state store: a write lock, the lease of periodic work, and the
leases of running claims.

Each is a key (or a field) with an owner's token and an end: whoever holds a live one goes on,
the others stop or wait, and one whose owner is gone can be taken over.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import redis

from executor.core.errors import Unavailable
from executor.state import scripts
from executor.state.connection import reachable
from executor.state.keys import lock_key, record_key


class Leases:
    """Locks and leases on the store's client."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._release = scripts.register(client, "release_lock")
        self._renew = scripts.register(client, "renew_lease")

    @contextmanager
    def locked(self, name: str, ttl: float = 5.0, wait: float = 10.0) -> Iterator[None]:
        """Hold the lock ``name`` for a short critical section (at most ``ttl`` seconds)."""
        token = uuid.uuid4().hex
        give_up = time.monotonic() + wait
        pause = 0.002
        with reachable():
            while not self.redis.set(lock_key(name), token, nx=True, px=int(ttl * 1000)):
                if time.monotonic() > give_up:
                    raise Unavailable(
                        f"another writer held the {name} lock for over {wait:.0f} s; retry"
                    )
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        try:
            yield
        finally:
            with reachable():
                self._release(keys=[lock_key(name)], args=[token])

    def try_lock(self, name: str, token: str, ttl: float) -> bool:
        """A lease that lets exactly one of many workers run a periodic job."""
        with reachable():
            return bool(self.redis.set(lock_key(name), token, nx=True, px=int(ttl * 1000)))

    def renew(self, request_ids: Sequence[str], runner: str, until: float) -> None:
        """Extend the running claims that ``runner`` still holds."""
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for request_id in request_ids:
                self._renew(keys=[record_key(request_id)], args=[runner, repr(until)], client=pipe)
            pipe.execute()
