"""Reading invocations: the stored hash as an ``InvocationRecord``, and the public ``Invocation``
with its history and deliveries. The field names of the hash are read here and nowhere else
(the scripts in ``lua/`` write them)."""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Callable, Sequence
from typing import cast

import redis

from executor.core.invocation import (
    DeliveryState,
    Invocation,
    InvocationPage,
    Status,
    Transition,
)
from executor.core.record import InvocationRecord
from executor.state.connection import reachable
from executor.state.keys import (
    SHARDS,
    active_key,
    children_key,
    deliveries_key,
    history_key,
    index_key,
    record_key,
    shard_of,
    status_key,
)
from executor.state.position import Position


def record_of(request_id: str, fields: dict[str, str]) -> InvocationRecord:
    """The stored hash of an invocation as its typed record."""

    def number(name: str) -> float | None:
        value = fields.get(name)
        return float(value) if value else None

    destination = fields.get("dest")
    return InvocationRecord(
        request_id=request_id,
        urn=fields.get("urn", ""),
        status=Status(fields.get("status", "WAIT")),
        attempts=int(fields.get("attempts", 0)),
        retry_index=int(fields.get("claimed", -1)),
        crashes=int(fields.get("crashes", 0)),
        enqueued_at=number("enqueued_at") or 0.0,
        deadline=number("deadline") or 0.0,
        due_at=number("due_at"),
        chain=tuple(json.loads(fields.get("chain", "[]"))),
        payload_json=fields.get("payload", "null"),
        origin=fields.get("origin", ""),
        traceparent=fields.get("traceparent", ""),
        redrive_of=fields.get("redrive_of", ""),
        redrives=int(fields.get("redrives", 0)),
        started_at=number("started_at"),
        ended_at=number("ended_at"),
        condition=fields.get("condition", ""),
        error_code=fields.get("error_code", ""),
        error_message=fields.get("error_message", ""),
        event_json=fields.get("event", ""),
        destination=json.loads(destination) if destination else None,
        outcome=fields.get("outcome", ""),
        runner=fields.get("runner", ""),
        lease=number("lease") or 0.0,
        cycle_drops=int(fields.get("cycle_drops", 0)),
    )


def invocation_of(
    record: InvocationRecord, history: list[str], deliveries: dict[str, str]
) -> Invocation:
    """The public view of a record, with its history and the states of its deliveries."""
    return Invocation(
        request_id=record.request_id,
        function_urn=record.urn,
        status=record.status,
        attempts=record.attempts,
        enqueued_at=record.enqueued_at,
        deadline=record.deadline,
        started_at=record.started_at,
        ended_at=record.ended_at,
        condition=record.condition,
        error_code=record.error_code,
        error_message=record.error_message,
        chain=record.chain,
        origin=record.origin,
        due_at=record.due_at,
        redrive_of=record.redrive_of,
        traceparent=record.traceparent,
        cycle_drops=record.cycle_drops,
        payload=record.payload(),
        event=record.event(),
        history=tuple(Transition.model_validate_json(h) for h in history),
        deliveries=tuple(DeliveryState.model_validate_json(d) for d in deliveries.values()),
    )


class Records:
    """The reads of invocation records, one or many, and of a function's indexes."""

    def __init__(self, client: redis.Redis, ready: Callable[[], None]) -> None:
        """``ready`` checks the store's key layout before the first read."""
        self.redis = client
        self._ready = ready

    def record(self, request_id: str) -> InvocationRecord | None:
        """The record of ``request_id``, None when it has none."""
        with reachable():
            fields = cast("dict[str, str]", self.redis.hgetall(record_key(request_id)))
        return record_of(request_id, fields) if fields else None

    def records(self, request_ids: Sequence[str]) -> dict[str, InvocationRecord]:
        """The records of ``request_ids`` that exist, read in one round trip."""
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for rid in request_ids:
                pipe.hgetall(record_key(rid))
            replies = cast("list[dict[str, str]]", pipe.execute())
        return {
            rid: record_of(rid, fields)
            for rid, fields in zip(request_ids, replies, strict=True)
            if fields
        }

    def status(self, request_id: str) -> Status | None:
        """The current status of an invocation, None when it has no record."""
        with reachable():
            value = self.redis.hget(record_key(request_id), "status")
        return Status(str(value)) if value else None

    def get(self, request_id: str) -> Invocation | None:
        found = self.get_many([request_id])
        return found[0] if found else None

    def get_many(self, request_ids: Sequence[str]) -> list[Invocation]:
        """The invocations of ``request_ids`` that have a record, in that order."""
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
            fields, history, deliveries = replies[3 * i : 3 * i + 3]
            if fields:
                found.append(invocation_of(record_of(rid, fields), history, deliveries))
        return found

    def children(self, request_ids: Sequence[str]) -> list[str]:
        """The invocations started by any of ``request_ids`` (a child is listed in its own
        shard, so every shard is read)."""
        if not request_ids:
            return []
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for request_id in request_ids:
                for shard in range(SHARDS):
                    pipe.smembers(children_key(request_id, shard))
            replies = pipe.execute()
        found: list[str] = []
        for i in range(len(request_ids)):
            found.extend(sorted(set().union(*replies[i * SHARDS : (i + 1) * SHARDS])))
        return found

    def page(
        self,
        urn: str,
        *,
        status: Status | None,
        since: float | None,
        until: float | None,
        limit: int,
        marker: str | None = None,
        active_only: bool = False,
    ) -> InvocationPage:
        """Invocations of a function, newest first by acceptance, within ``[since, until]``;
        ``marker`` (the ``next_marker`` of the page before) continues where that page ended.

        Each filter reads its own index (every invocation, those not ended, or those in one
        status), so a page costs its own records and a few reads of each shard's index,
        whatever else the function holds.
        """
        if active_only and status is not None and status.terminal:
            return InvocationPage(invocations=(), count=0, next_marker=None)
        if status is not None:
            keys = [status_key(urn, status, shard) for shard in range(SHARDS)]
        elif active_only:
            keys = [active_key(urn, shard) for shard in range(SHARDS)]
        else:
            keys = [index_key(urn, shard) for shard in range(SHARDS)]
        after = Position.parse(marker)
        self._ready()
        while True:
            entries, more = self._entries(keys, since, until, after, limit)
            found = {i.request_id: i for i in self.get_many([rid for rid, _ in entries])}
            missing = [rid for rid, _ in entries if rid not in found]
            if missing:
                self._forget(keys, missing)  # retired while this page was read: look again
                continue
            break
        invocations = tuple(found[rid] for rid, _ in entries)
        next_marker = after.following(entries).marker() if more and entries else None
        return InvocationPage(
            invocations=invocations, count=len(invocations), next_marker=next_marker
        )

    def _entries(
        self,
        keys: Sequence[str],
        since: float | None,
        until: float | None,
        after: Position,
        limit: int,
    ) -> tuple[list[tuple[str, float]], bool]:
        """The next ``limit`` entries after ``after`` across ``keys``, and whether more follow."""
        high: float | str = "+inf" if until is None else until
        if after.micros is not None:
            bound = (after.micros + 0.5) / 1e6
            high = f"({bound!r}" if until is None or bound <= until else until
        low: float | str = "-inf" if since is None else since
        fetch = limit + after.skip + 1
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.zrevrangebyscore(key, high, low, start=0, num=fetch, withscores=True)
            merged = heapq.merge(*pipe.execute(), key=lambda entry: -entry[1])
            wanted = itertools.islice(after.skipped(merged), limit + 1)
            entries = [(str(rid), float(score)) for rid, score in wanted]
        return entries[:limit], len(entries) > limit

    def _forget(self, keys: Sequence[str], request_ids: Sequence[str]) -> None:
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for rid in request_ids:
                pipe.zrem(keys[shard_of(rid)], rid)
            pipe.execute()

    def count(
        self, urn: str, status: Status | None, since: float | None, until: float | None
    ) -> int:
        """How many invocations of ``urn`` accepted within ``[since, until]`` are in
        ``status`` now (any status for None)."""
        low: float | str = "-inf" if since is None else since
        high: float | str = "+inf" if until is None else until
        self._ready()
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for shard in range(SHARDS):
                key = index_key(urn, shard) if status is None else status_key(urn, status, shard)
                pipe.zcount(key, low, high)
            return sum(int(n) for n in pipe.execute())
