"""The delivery port: every attempt to hand an event on is recorded here, and the one chain of
attempts allowed to make it is held here.

A delivery state is kept per outcome beside the invocation's record (``<record>:d``); an event
whose delivery is pending sits in its shard's outbox until it is final. The delivery chain of
an event (``ae:chain:<identity>``) holds the token of the chain allowed to attempt, until when
its next attempt is due and when its first attempt was made (see ``lua/delivery_chain.lua``).
"""

from __future__ import annotations

from typing import Any, Literal, cast

import redis

from executor.core.invocation import DeliveryState
from executor.state import scripts
from executor.state.connection import reachable
from executor.state.keys import OUTBOX, STATS, chain_key, deliveries_key, sharded_for

ChainMode = Literal["attempt", "resend", "reset"]


class DeliveryLedger:
    """Delivery states and delivery chains, on the store's client."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._chain = scripts.register(client, "delivery_chain")

    def state(self, request_id: str, outcome: str) -> DeliveryState | None:
        """Where the delivery of ``outcome``'s event stands, None before the first."""
        with reachable():
            raw = self.redis.hget(deliveries_key(request_id), outcome)
        return DeliveryState.model_validate_json(raw) if raw else None

    def put(self, request_id: str, state: DeliveryState, retention: int) -> None:
        """Record an attempt's result; a final one leaves the outbox. Counted per kind."""
        key = deliveries_key(request_id)
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(key, state.outcome, state.model_dump_json())
            pipe.expire(key, retention)
            if state.state.final:
                pipe.zrem(sharded_for(OUTBOX, request_id), request_id)
            pipe.hincrby(
                sharded_for(STATS, request_id), f"delivery|{state.destination}|{state.state}", 1
            )
            pipe.execute()

    def chain(
        self,
        identity: str,
        mode: ChainMode,
        token: str,
        now: float,
        until: float,
        ttl: int,
        first_at: float = 0.0,
    ) -> tuple[bool, float]:
        """Whether the chain ``token`` may attempt (or start, by ``mode``), and the time of the
        event's first attempt (``first_at``, else ``now``, when none is recorded yet)."""
        with reachable():
            ok, first = cast(
                "list[Any]",
                self._chain(
                    keys=[chain_key(identity)],
                    args=[mode, token, repr(now), repr(until), ttl, repr(first_at or now)],
                ),
            )
        return bool(ok), float(first)

    def touch_outbox(self, request_id: str, now: float) -> None:
        """Start the grace period of a pending event again, after it was sent again."""
        with reachable():
            self.redis.zadd(sharded_for(OUTBOX, request_id), {request_id: now}, xx=True)
