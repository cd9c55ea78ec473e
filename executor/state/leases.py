"""Short-lived ownership in the state store: a write lock, delivery chains, running claims.

Each is a key with an owner's token and an end; whoever holds a live one goes on, the others
stop or wait, and one whose owner is gone can be taken over. Every check-and-set is one script.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import redis

from executor.core.errors import Unavailable
from executor.state.connection import reachable
from executor.state.keys import chain_key, lock_key, record_key

# KEYS: lock   ARGV: token
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: chain   ARGV: mode, token, now, until, retention, first attempt if none is recorded
# A delivery chain of one event: the token of the chain allowed to attempt, until when its
# next attempt is due, and when the first attempt was made (which fixes the deadline).
#   attempt: go on if no other chain holds the token; a chain whose token was replaced stops.
#   resend:  start a new chain only if the holder's next attempt is overdue.
#   reset:   start a new chain with a new deadline (a redrive).
# Returns {1 or 0, first_at}.
_CHAIN = """
local held = redis.call('HMGET', KEYS[1], 'token', 'until', 'first_at')
local first = held[3] or ARGV[6]
if ARGV[1] == 'attempt' then
  if held[1] and held[1] ~= ARGV[2] then return {0, first} end
elseif ARGV[1] == 'resend' then
  if held[2] and tonumber(held[2]) > tonumber(ARGV[3]) then return {0, first} end
else
  first = ARGV[3]
end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'until', ARGV[4], 'first_at', first)
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {1, first}
"""

# KEYS: record   ARGV: runner, lease end
# Extends the running claim of ``runner``; a claim taken over or ended is left alone.
_RENEW = """
if redis.call('HGET', KEYS[1], 'runner') == ARGV[1]
   and redis.call('HGET', KEYS[1], 'status') == 'RUNNING' then
  redis.call('HSET', KEYS[1], 'lease', ARGV[2])
  return 1
end
return 0
"""


class Leases:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._release = client.register_script(_RELEASE)
        self._chain = client.register_script(_CHAIN)
        self._renew = client.register_script(_RENEW)

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

    def delivery_chain(
        self,
        identity: str,
        mode: str,
        token: str,
        now: float,
        until: float,
        retention: int,
        first_at: float = 0.0,
    ) -> tuple[bool, float]:
        """Whether the chain ``token`` may attempt (or start, by ``mode``), and the time of the
        event's first attempt (``first_at``, else ``now``, when none is recorded yet)."""
        with reachable():
            ok, first = cast(
                "list[Any]",
                self._chain(
                    keys=[chain_key(identity)],
                    args=[mode, token, repr(now), repr(until), retention, repr(first_at or now)],
                ),
            )
        return bool(ok), float(first)

    def renew(self, request_ids: Sequence[str], runner: str, until: float) -> None:
        """Extend the running claims that ``runner`` still holds."""
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for request_id in request_ids:
                self._renew(keys=[record_key(request_id)], args=[runner, repr(until)], client=pipe)
            pipe.execute()
