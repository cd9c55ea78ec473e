"""Invocation control in the state store: idempotent acceptance, the due-time index of delayed
invocations, the children of each invocation, and redrive numbering.

Acceptance is one script, so an existing id is compared and a new one is recorded with its due
time, its place among its parent's children and its redrive number in one step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

import redis

from executor.core.invocation import Status
from executor.state import scripts as _scripts
from executor.state.connection import reachable
from executor.state.keys import (
    DUE,
    SHARDS,
    children_key,
    record_key,
    shard_of,
    sharded,
    sharded_for,
)
from executor.state.writes import NewRecord, new_record_keys


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Accepted(IntEnum):
    CONFLICT = -1  # the id names an invocation of another function or payload
    EXISTS = 0  # the same call was accepted before
    CREATED = 1


@dataclass(frozen=True)
class Acceptance:
    """What acceptance found: a new record, the same call again, or a conflicting one."""

    outcome: Accepted
    status: Status
    attempts: int
    urn: str


class InvocationControl:
    """The control keys of invocations, on the state store's client."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._accept = client.register_script(_scripts.ACCEPT)
        self._take_due = client.register_script(_scripts.TAKE_DUE)

    def accept(self, new: Accept) -> Acceptance:
        """Record a new invocation WAIT, unless the id exists (compared by function and the
        payload's JSON text)."""
        keys, args = new.keys(), new.args()
        with reachable():
            outcome, status, attempts, found = cast("list[Any]", self._accept(keys=keys, args=args))
        return Acceptance(Accepted(int(outcome)), Status(status), int(attempts), str(found))

    def unlink(self, request_id: str, origin: str) -> None:
        """Undo what acceptance added beside the record, for an invocation never published."""
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrem(sharded_for(DUE, request_id), request_id)
            if origin:
                pipe.srem(children_key(origin, shard_of(request_id)), request_id)
            pipe.execute()

    # -- delayed start -------------------------------------------------------------------------

    def take_due(self, now: float, count: int) -> list[str]:
        """Up to ``count`` delayed invocations due by ``now``, taken off the index."""
        taken: list[str] = []
        with reachable():
            for shard in range(SHARDS):
                if len(taken) >= count:
                    break
                taken += cast(
                    "list[str]",
                    self._take_due(
                        keys=[sharded(DUE, shard)], args=[repr(now), count - len(taken)]
                    ),
                )
        return taken

    def reschedule(self, request_id: str, due_at: float) -> None:
        """Put an invocation back on the index (its message could not be published)."""
        with reachable():
            self.redis.zadd(sharded_for(DUE, request_id), {request_id: due_at})

    def forget_due(self, request_id: str) -> None:
        self.redis.zrem(sharded_for(DUE, request_id), request_id)

    def due_count(self) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(SHARDS):
            pipe.zcard(sharded(DUE, shard))
        return sum(int(n) for n in pipe.execute())

    # -- children and redrives ------------------------------------------------------------------

    def children(self, request_ids: Sequence[str]) -> list[str]:
        """The invocations started by any of ``request_ids``."""
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

    def redrives(self, request_id: str) -> int:
        """How many redrives of ``request_id`` were numbered so far."""
        with reachable():
            return int(self.redis.hget(record_key(request_id), "redrives") or 0)


@dataclass(frozen=True)
class Accept(NewRecord):
    """What ACCEPT records of a new invocation: CREATE's record, and what idempotent submit,
    a delayed start, a redrive and a recursive cancel need beside it (the fused FunctionGraph
    hop runs ACCEPT too)."""

    note: str = ""
    due_at: float | None = None
    redrive_of: str = ""
    redrive_number: int = 0
    children_ttl: int = 0

    def keys(self) -> list[str]:
        rid, shard = self.request_id, shard_of(self.request_id)
        return [
            *new_record_keys(rid, self.urn),
            sharded(DUE, shard),
            # in this invocation's slot: a child is listed in its own shard, and a redrive lies
            # in its original's (see keys.shard_of)
            children_key(self.origin or rid, shard),
            record_key(self.redrive_of or rid),
        ]

    def args(self) -> list[Any]:
        wait = {"status": "WAIT", "at": self.enqueued_at, "attempt": 0, "note": self.note}
        return [
            self.request_id,
            self.urn,
            repr(self.enqueued_at),
            repr(self.deadline),
            _dumps(list(self.chain)),
            self.payload_json,
            self.origin,
            _dumps(wait),
            "" if self.due_at is None else repr(self.due_at),
            self.redrive_of,
            self.redrive_number,
            max(self.children_ttl, 1),
            self.traceparent,
        ]
