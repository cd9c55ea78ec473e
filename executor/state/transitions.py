"""The transition port: every change of an invocation's status, each one script.

``accept`` records a new invocation WAIT (with its broker message in the same script when the
broker is this Redis), ``claim`` starts an attempt, ``retry`` goes back to WAIT between
attempts, ``finish`` ends it (with the FunctionGraph hop in the same script when one is given),
``expire`` ends one that aged out while it waited and ``cancel`` one that was cancelled. Each
answers whether its caller made the change, so an invocation ends once and only the winner of
its end hands the event on. The store decides how many round trips a call takes: with replicas
to wait for, ``accept`` confirms the record before the message may be published.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, cast

import redis

from executor.core.errors import Unavailable
from executor.core.invocation import ClaimState, DeliveryStatus, Status
from executor.state import scripts
from executor.state.connection import reachable
from executor.state.held import HeldScripts
from executor.state.keys import (
    OUTBOX,
    STATS,
    history_key,
    record_key,
    shard_of,
    sharded,
    status_key,
)
from executor.state.writes import (
    AGE_BUCKETS,
    FROM_ANY,
    FROM_WAIT,
    MINUTE_TTL,
    SPAN_TTL,
    Finish,
    Hop,
    NewInvocation,
    Queued,
    counters,
)

CANCELLED = "Cancelled"


class Accepted(IntEnum):
    """What ACCEPT found under the request id."""

    CONFLICT = -1  # the id names an invocation of another function or payload
    EXISTS = 0  # the same call was accepted before
    CREATED = 1


class Ended(IntEnum):
    """What FINISH made of an end."""

    LOST = 0  # another caller ended it, or it was not in a status this end may come from
    WON = 1  # this caller ended it: it hands the event on
    HOPPED = 2  # ended with the FunctionGraph hop written in the same script


@dataclass(frozen=True)
class Acceptance:
    """What ``accept`` found: a new record, the same call again, or a conflicting one; and
    whether the script wrote the message too."""

    outcome: Accepted
    status: Status
    attempts: int
    urn: str
    queued: bool = False


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a message, and the attempt it runs as."""

    state: ClaimState
    attempts: int
    pending_event: str = ""
    runner: str = ""  # who holds a busy claim
    lease_until: float = 0.0
    payload_json: str = "null"


class Transitions:
    """The scripts that change an invocation's status, on the store's client."""

    def __init__(
        self,
        client: redis.Redis,
        ready: Callable[[], None],
        *,
        wait_replicas: int = 0,
        wait_ms: int = 0,
    ) -> None:
        """``ready`` checks the key layout before the first write; ``wait_replicas`` is how
        many replicas must have a new record before its id is returned."""
        self.redis = client
        self._ready = ready
        self.wait_replicas = wait_replicas
        self.wait_ms = wait_ms
        self._held = HeldScripts(client)
        self._accept = scripts.register(client, "accept")
        self._forget = scripts.register(client, "forget")
        self._claim = scripts.register(client, "claim")
        self._retry = scripts.register(client, "retry")
        self._finish = scripts.register(client, "finish")
        self._hop = scripts.register(client, "hop")

    # -- start ----------------------------------------------------------------------------------

    def accept(self, new: NewInvocation, queued: Queued | None = None) -> Acceptance:
        """Record ``new`` WAIT unless its id exists; with ``queued``, its message too.

        With replicas to wait for, the message is left to the caller (``queued`` False in the
        answer): the record is confirmed by the replicas first, or taken back and
        ``Unavailable`` raised.
        """
        self._ready()
        if self.wait_replicas:
            return self._accept_replicated(new)
        keys, args = new.accept_keys(queued), new.accept_args(queued)
        with reachable():
            reply = self._accept(keys=keys, args=args)
        found = _acceptance(reply)
        created = found.outcome is Accepted.CREATED
        written = created and queued is not None and new.due_at is None
        return Acceptance(found.outcome, found.status, found.attempts, found.urn, written)

    def _accept_replicated(self, new: NewInvocation) -> Acceptance:
        with reachable():
            # WAIT counts the replicas that have this connection's writes, so it shares the
            # pipeline (one connection) with the script.
            pipe = self.redis.pipeline(transaction=False)
            self._accept(keys=new.accept_keys(None), args=new.accept_args(None), client=pipe)
            pipe.wait(self.wait_replicas, self.wait_ms)
            reply, confirmed = pipe.execute()
        found = _acceptance(reply)
        if int(confirmed) < self.wait_replicas:
            if found.outcome is Accepted.CREATED:
                self.forget(new)
            raise Unavailable(
                f"only {confirmed} of {self.wait_replicas} Redis replicas confirmed the "
                f"invocation within {self.wait_ms} ms (EXECUTOR_REDIS_WAIT_REPLICAS); nothing "
                "was queued, check the replicas and retry"
            )
        return found

    def forget(self, new: NewInvocation) -> None:
        """Take back an accepted invocation whose message could not be published."""
        with reachable():
            self._forget(keys=new.keys(), args=[new.request_id, new.urn])

    # -- attempts -------------------------------------------------------------------------------

    def claim(
        self,
        request_id: str,
        urn: str,
        retry: int,
        now: float,
        max_crashes: int,
        *,
        runner: str = "",
        lease_until: float = 0.0,
        gone: str = "",
    ) -> Claim:
        """Start an attempt of ``urn``'s invocation, held by ``runner`` until ``lease_until``;
        ``gone`` names a runner known to be dead, whose claim is taken over at once. A 'run'
        answer carries the payload."""
        self._ready()
        shard = shard_of(request_id)
        keys = [
            record_key(request_id),
            history_key(request_id),
            sharded(OUTBOX, shard),
            status_key(urn, Status.WAIT, shard),
            status_key(urn, Status.RUNNING, shard),
            sharded(STATS, shard),
            *counters(now, shard),
        ]
        args: list[str | int | float] = [
            request_id,
            retry,
            repr(now),
            max_crashes,
            runner,
            repr(lease_until),
            gone,
            AGE_BUCKETS,
            MINUTE_TTL,
            SPAN_TTL,
        ]
        reply = cast("list[Any]", self._held.run(self._claim, keys, args))
        state, attempts, detail = ClaimState(reply[0]), int(reply[1]), str(reply[2] or "")
        if state is ClaimState.BUSY:
            return Claim(state, attempts, runner=detail, lease_until=float(reply[3]))
        if state is ClaimState.RUN:
            return Claim(state, attempts, payload_json=str(reply[3]))
        return Claim(state, attempts, pending_event=detail)

    def retry(self, request_id: str, urn: str, now: float, error: str, note: str) -> bool:
        """Back to WAIT between attempts; False if the invocation ended meanwhile."""
        shard = shard_of(request_id)
        keys = [
            record_key(request_id),
            history_key(request_id),
            sharded(STATS, shard),
            status_key(urn, Status.WAIT, shard),
            status_key(urn, Status.RUNNING, shard),
        ]
        with reachable():
            return bool(self._retry(keys=keys, args=[repr(now), error, note, request_id]))

    # -- ends -----------------------------------------------------------------------------------

    def finish(self, end: Finish, hop: Hop | None = None) -> Ended:
        """The one terminal transition; WON (or HOPPED) only for the caller that made it.

        With ``hop`` the FunctionGraph target is accepted, its message queued and the source's
        delivery recorded delivered in the same script (HOPPED). If the target exists already,
        or replicas must confirm new records, the end is made on its own (WON), for the usual
        delivery to take over.
        """
        fkeys, fargs = end.keys(), end.args()
        if hop is None or self.wait_replicas:
            return Ended(int(self._held.run(self._finish, fkeys, fargs)))
        akeys = hop.target.accept_keys(hop.queued)
        aargs = hop.target.accept_args(hop.queued)
        delivered = end.delivery(DeliveryStatus.DELIVERED, attempts=1)
        counter = f"delivery|{delivered.destination}|{delivered.state}"
        args: list[Any] = [len(fkeys), len(fargs), len(akeys), len(aargs), *fargs, *aargs]
        args += [delivered.model_dump_json(), counter]
        hopped = int(self._held.run(self._hop, [*fkeys, *akeys], args))
        if hopped >= 0:
            return Ended.HOPPED if hopped else Ended.LOST
        return Ended(int(self._held.run(self._finish, fkeys, fargs)))

    def expire(self, end: Finish, hop: Hop | None = None) -> Ended:
        """End an invocation that aged out while it waited: only from WAIT, as DISCARD."""
        return self.finish(replace(end, status=Status.DISCARD, allowed_from=FROM_WAIT), hop)

    def cancel(
        self, request_id: str, urn: str, *, force: bool, retention: int, note: str = "cancelled"
    ) -> bool:
        """End a waiting invocation (or, with ``force``, a running one) as DISCARD."""
        end = Finish(
            request_id=request_id,
            urn=urn,
            status=Status.DISCARD,
            now=time.time(),
            retention=retention,
            condition=CANCELLED,
            error_code=CANCELLED,
            error_message="cancelled by request" + (" (forced)" if force else ""),
            note=note,
            allowed_from=FROM_ANY if force else FROM_WAIT,
        )
        with reachable():  # a caller's cancel: what Redis refuses is Unavailable
            return self.finish(end) is Ended.WON


def _acceptance(reply: Any) -> Acceptance:
    outcome, status, attempts, urn = cast("list[Any]", reply)
    return Acceptance(Accepted(int(outcome)), Status(status), int(attempts), str(urn))
