"""The state store: invocation records, async configs, the function catalogue, counters.

Everything lives in Redis under the ``ae:`` prefix. Each status transition is one Lua script,
so a transition and its indexes change together or not at all.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis

from executor.core.errors import Unavailable
from executor.core.invocation import ClaimState, DeliveryState, Invocation, Status
from executor.core.settings import Settings
from executor.state import scripts as _scripts
from executor.state.connection import connect, describe, reachable
from executor.state.control import Accept, Acceptance, Accepted, InvocationControl
from executor.state.dead_letters import DeadLetterStore
from executor.state.held import HeldScripts
from executor.state.keys import (
    DEADLINES,
    OUTBOX,
    SHARDS,
    STATS,
    active_key,
    deliveries_key,
    history_key,
    index_key,
    record_key,
    shard_of,
    sharded,
    sharded_for,
)
from executor.state.layout import check_layout
from executor.state.leases import Leases
from executor.state.records import invocation_of
from executor.state.scans import Scans
from executor.state.shared import SharedState
from executor.state.writes import (
    Finish,
    NewRecord,
    Queued,
    created_reply,
    dumps,
    transition,
)


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a message, and the attempt it runs as."""

    state: ClaimState
    attempts: int
    pending_event: str = ""
    runner: str = ""  # who holds a busy claim
    lease_until: float = 0.0
    payload_json: str = "null"


class Store(Scans, SharedState):
    """One Redis connection pool per process, and the operations on it: records and their
    transitions here, scans across shards in ``Scans``, shared keys in ``SharedState``."""

    def __init__(self, target: Settings | str, *, client: redis.Redis | None = None) -> None:
        """``target``: the settings (any mode), or the URL of one standalone server;
        ``client``, when given, is used instead of a new connection."""
        settings = target if isinstance(target, Settings) else None
        self.url = describe(settings) if settings is not None else str(target)
        self.redis: redis.Redis = client if client is not None else connect(target)
        self.wait_replicas = settings.redis_wait_replicas if settings is not None else 0
        self.wait_ms = int(settings.redis_wait_timeout * 1000) if settings is not None else 0
        self.dead_letters = DeadLetterStore(self.redis)
        self.control = InvocationControl(self.redis)
        self._layout_checked = False
        self.leases = Leases(self.redis)
        self._create = self.redis.register_script(_scripts.CREATE)
        self._retry = self.redis.register_script(_scripts.RETRY)
        self._finish = self.redis.register_script(_scripts.FINISH)
        self._claim_payload = self.redis.register_script(_scripts.CLAIM_PAYLOAD)
        self._enqueue = self.redis.register_script(_scripts.ENQUEUE)
        self._hop = self.redis.register_script(_scripts.HOP)
        self._enqueue_accept = self.redis.register_script(_scripts.ENQUEUE_ACCEPT)
        self.held = HeldScripts(self.redis)

    def _ready(self) -> None:
        """Check the store's key layout once per process, before the first use."""
        if not self._layout_checked:
            self.check_layout()

    def check_layout(self) -> None:
        """Refuse (``StoreLayoutMismatch``) a store written with another key layout."""
        with reachable():
            check_layout(self.redis)
        self._layout_checked = True

    def ping(self) -> bool:
        with reachable():
            return bool(self.redis.ping())

    # -- invocation records -------------------------------------------------------------------

    def create(
        self,
        *,
        request_id: str,
        urn: str,
        enqueued_at: float,
        deadline: float,
        chain: Sequence[str],
        payload_json: str,
        origin: str = "",
        traceparent: str = "",
    ) -> tuple[bool, Status, int]:
        """Record a new invocation as WAIT; ``(False, status, attempts)`` if the id exists.

        The payload comes already encoded: the producer encoded it to check its size. With
        ``redis_wait_replicas`` set, a new record is confirmed by that many replicas before
        this returns, or it is taken back and ``Unavailable`` raised.
        """
        self._ready()
        with reachable():
            pipe = self.redis.pipeline(transaction=False) if self.wait_replicas else None
            reply = self._create(
                keys=[
                    record_key(request_id),
                    history_key(request_id),
                    index_key(urn, shard_of(request_id)),
                    active_key(urn, shard_of(request_id)),
                    sharded_for(DEADLINES, request_id),
                    sharded_for(STATS, request_id),
                ],
                args=[
                    request_id,
                    urn,
                    repr(enqueued_at),
                    repr(deadline),
                    dumps(list(chain)),
                    payload_json,
                    origin,
                    transition(Status.WAIT, enqueued_at),
                    traceparent,
                ],
                client=pipe,
            )
            if pipe is not None:
                # WAIT counts the replicas that have this connection's writes, so it shares
                # the pipeline (one connection) with the script.
                pipe.wait(self.wait_replicas, self.wait_ms)
                reply, confirmed = pipe.execute()
        created, status, attempts = cast("list[Any]", reply)
        if pipe is not None and int(confirmed) < self.wait_replicas:
            if created:
                self.forget(request_id, urn)
            raise Unavailable(
                f"only {confirmed} of {self.wait_replicas} Redis replicas confirmed the "
                f"invocation within {self.wait_ms} ms (EXECUTOR_REDIS_WAIT_REPLICAS); nothing "
                "was queued, check the replicas and retry"
            )
        return bool(created), Status(status), int(attempts)

    def enqueue(self, new: NewRecord, queued: Queued) -> tuple[bool, Status, int]:
        """``create`` and the message to the broker in one step: both are written or neither.

        The message is queued as ``create`` would let it be published: for a new record, or
        for one still WAIT with no attempt. (Not with ``redis_wait_replicas``: the producer
        then waits for the replicas before it publishes.)
        """
        self._ready()
        keys, args = new.keys(), new.args()
        with reachable():
            reply = self._enqueue(
                keys=[*keys, queued.queue], args=[len(keys), len(args), *args, *queued.args()]
            )
        return created_reply(reply)

    def forget(self, request_id: str, urn: str) -> None:
        """Remove a record whose message could not be published, so nothing is half-written."""
        shard = shard_of(request_id)
        with reachable():
            pipe = self.redis.pipeline()
            pipe.delete(record_key(request_id))
            pipe.delete(history_key(request_id))
            pipe.zrem(index_key(urn, shard), request_id)
            pipe.zrem(active_key(urn, shard), request_id)
            pipe.zrem(sharded(DEADLINES, shard), request_id)
            pipe.execute()
            self.redis.eval(_scripts.UNCOUNT, 1, sharded(STATS, shard), f"fn|{urn}|accepted")

    def claim(
        self,
        request_id: str,
        retry: int,
        now: float,
        max_crashes: int,
        *,
        runner: str = "",
        lease_until: float = 0.0,
        gone: str = "",
    ) -> Claim:
        """Start an attempt held by ``runner`` until ``lease_until``; ``gone`` names a runner
        known to be dead, whose claim is taken over at once. A 'run' answer carries the
        payload (messages go without it)."""
        self._ready()
        reply = cast(
            "list[Any]",
            self.held.run(
                self._claim_payload,
                [record_key(request_id), history_key(request_id), sharded_for(OUTBOX, request_id)],
                [request_id, retry, repr(now), max_crashes, runner, repr(lease_until), gone],
            ),
        )
        state, attempts, detail = reply[0], reply[1], str(reply[2] or "")
        if state == ClaimState.BUSY:
            return Claim(ClaimState.BUSY, int(attempts), runner=detail, lease_until=float(reply[3]))
        payload = str(reply[3]) if state == ClaimState.RUN and len(reply) > 3 else "null"
        return Claim(ClaimState(state), int(attempts), detail, payload_json=payload)

    def mark_retry(self, request_id: str, now: float, error: str, note: str) -> bool:
        """Back to WAIT between attempts; False if the invocation ended meanwhile."""
        return bool(
            self._retry(
                keys=[
                    record_key(request_id),
                    history_key(request_id),
                    sharded_for(STATS, request_id),
                ],
                args=[repr(now), error, note],
            )
        )

    def finish(self, finish: Finish) -> bool:
        """The one terminal transition; True only for the caller that made it."""
        keys, args = finish.keys(), finish.args()
        return bool(self.held.run(self._finish, keys, args))

    def accept_and_queue(self, target: Accept, queued: Queued) -> Acceptance:
        """``control.accept`` of ``target`` and, for a new record, its message, in one step."""
        self._ready()
        keys, args = target.keys(), target.args()
        with reachable():
            outcome, status, attempts, found = cast(
                "list[Any]",
                self._enqueue_accept(
                    keys=[*keys, queued.queue], args=[len(keys), len(args), *args, *queued.args()]
                ),
            )
        return Acceptance(Accepted(int(outcome)), Status(status), int(attempts), str(found))

    def finish_and_hop(
        self,
        *,
        finish: Finish,
        target: Accept,
        queued: Queued,
        delivered: DeliveryState,
    ) -> int:
        """``finish`` and, for the caller that wins it, ACCEPT of ``target``, its message and
        the source's delivery recorded ``delivered``, in one step. 1 for the winner; 0, with
        nothing written, if the source had ended already; -1, with nothing written, if the
        target exists already."""
        fkeys, fargs = finish.keys(), finish.args()
        akeys, aargs = target.keys(), target.args()
        request_id = finish.request_id
        keys = [
            *fkeys,
            *akeys,
            queued.queue,
            deliveries_key(request_id),
            sharded_for(OUTBOX, request_id),
            sharded_for(STATS, request_id),
        ]
        args: list[Any] = [len(fkeys), len(fargs), len(akeys), len(aargs), *fargs, *aargs]
        args += [*queued.args(), request_id, delivered.outcome, delivered.model_dump_json()]
        args.append(f"delivery|{delivered.destination}|{delivered.state}")
        return int(self.held.run(self._hop, keys, args))

    def raw(self, request_id: str) -> dict[str, str]:
        with reachable():
            return cast("dict[str, str]", self.redis.hgetall(record_key(request_id)))

    def status(self, request_id: str) -> Status | None:
        """The current status of an invocation, None when it has no record."""
        with reachable():
            value = self.redis.hget(record_key(request_id), "status")
        return Status(str(value)) if value else None

    def get(self, request_id: str) -> Invocation | None:
        self._ready()
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(record_key(request_id))
            pipe.lrange(history_key(request_id), 0, -1)
            pipe.hgetall(deliveries_key(request_id))
            record, history, deliveries = pipe.execute()
        if not record:
            return None
        return invocation_of(request_id, record, history, deliveries)

    def get_many(self, request_ids: Sequence[str]) -> list[Invocation]:
        self._ready()
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for rid in request_ids:
                pipe.hgetall(record_key(rid))
                pipe.lrange(history_key(rid), 0, -1)
                pipe.hgetall(deliveries_key(rid))
            replies = pipe.execute()
        found = []
        for i, rid in enumerate(request_ids):
            record, history, deliveries = replies[3 * i : 3 * i + 3]
            if record:
                found.append(invocation_of(rid, record, history, deliveries))
        return found

    def page_ids(
        self,
        urn: str,
        *,
        active_only: bool,
        since: float | str,
        until: float | str,
        offset: int,
        count: int,
    ) -> list[str]:
        """Request ids of a function, newest first, within ``[since, until]``."""
        key = active_key if active_only else index_key
        self._ready()
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for shard in range(SHARDS):
                pipe.zrevrangebyscore(
                    key(urn, shard), until, since, start=0, num=offset + count, withscores=True
                )
            merged = heapq.merge(*pipe.execute(), key=lambda entry: -entry[1])
        return [rid for rid, _ in itertools.islice(merged, offset, offset + count)]

    def set_delivery(self, request_id: str, state: DeliveryState, retention: int) -> None:
        key = deliveries_key(request_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, state.outcome, state.model_dump_json())
        pipe.expire(key, retention)
        if state.state.final:
            pipe.zrem(sharded_for(OUTBOX, request_id), request_id)
        pipe.hincrby(
            sharded_for(STATS, request_id), f"delivery|{state.destination}|{state.state}", 1
        )
        pipe.execute()

    def delivery(self, request_id: str, outcome: str) -> DeliveryState | None:
        raw = self.redis.hget(deliveries_key(request_id), outcome)
        return DeliveryState.model_validate_json(raw) if raw else None
