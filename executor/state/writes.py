"""What the transition scripts write, as frozen records that know their keys and arguments.

``NewInvocation`` is what ACCEPT records, ``Queued`` a broker message written in the same
script, ``Finish`` what FINISH writes and ``Hop`` the invocation a fused FunctionGraph hop
starts as the source ends. The order of ``keys()`` and ``args()`` is the order the header of
each script in ``lua/`` gives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from executor.core.invocation import DeliveryState, DeliveryStatus, Status
from executor.core.series import AGE_BOUNDS, MINUTE, SPAN
from executor.state.keys import (
    DEADLINES,
    DUE,
    OUTBOX,
    RETIRE,
    STATS,
    active_key,
    children_key,
    deliveries_key,
    history_key,
    index_key,
    minute_key,
    record_key,
    shard_of,
    sharded,
    span_key,
    status_key,
)

# How long the counters of a minute and of a ten-minute span are kept: an hour's and a day's
# views read them, with some to spare.
MINUTE_TTL: Final = 2 * 3600
SPAN_TTL: Final = 26 * 3600
# How long an ended record outlives its retention when no reconciler pass retires it.
RETIRE_GRACE: Final = 86_400
# The upper bounds of the buckets of ages at start, as CLAIM reads them.
AGE_BUCKETS: Final = " ".join(repr(bound) for bound in AGE_BOUNDS)


def counters(now: float, shard: int) -> list[str]:
    """The keys of the counters of ``now``'s minute and ten-minute span in ``shard``."""
    return [minute_key(int(now // MINUTE), shard), span_key(int(now // SPAN), shard)]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Queued:
    """A broker message a script writes beside the record: the broker is this same Redis.

    ``message`` goes to the list ``queue``; ``event`` (the task-sent event, "" for none) is
    published on ``channel``.
    """

    queue: str
    message: str
    channel: str = ""
    event: str = ""


@dataclass(frozen=True)
class NewInvocation:
    """A new invocation, as ACCEPT records it WAIT.

    ``origin`` is the invocation that started it (a destination, a context call), ``due_at``
    when a delayed one may start, ``redrive_of`` and ``redrive_number`` the original a redrive
    is numbered on, ``children_ttl`` how long the origin's list of children must last.
    """

    request_id: str
    urn: str
    enqueued_at: float
    deadline: float
    chain: Sequence[str]
    payload_json: str
    origin: str = ""
    traceparent: str = ""
    note: str = ""
    due_at: float | None = None
    redrive_of: str = ""
    redrive_number: int = 0
    children_ttl: int = 1

    def keys(self) -> list[str]:
        rid, shard = self.request_id, shard_of(self.request_id)
        return [
            record_key(rid),
            history_key(rid),
            index_key(self.urn, shard),
            active_key(self.urn, shard),
            status_key(self.urn, Status.WAIT, shard),
            sharded(DEADLINES, shard),
            sharded(STATS, shard),
            sharded(DUE, shard),
            # in this invocation's slot: a child is listed in its own shard, and a redrive lies
            # in its original's (see keys.shard_of)
            children_key(self.origin or rid, shard),
        ]

    def accept_keys(self, queued: Queued | None) -> list[str]:
        """ACCEPT's keys: these, the redriven original's record and the broker queue (the
        record itself stands in for either when there is none)."""
        rid = self.request_id
        original = record_key(self.redrive_of or rid)
        return [*self.keys(), original, queued.queue if queued else record_key(rid)]

    def accept_args(self, queued: Queued | None) -> list[Any]:
        wait = {"status": "WAIT", "at": self.enqueued_at, "attempt": 0, "note": self.note}
        return [
            self.request_id,
            self.urn,
            repr(self.enqueued_at),
            repr(self.deadline),
            dumps(list(self.chain)),
            self.payload_json,
            self.origin,
            dumps(wait),
            "" if self.due_at is None else repr(self.due_at),
            self.redrive_of,
            self.redrive_number,
            max(self.children_ttl, 1),
            self.traceparent,
            queued.message if queued else "",
            queued.channel if queued else "",
            queued.event if queued else "",
        ]


# The statuses each kind of end may come from: an attempt ends from RUNNING (or WAIT, for a
# platform failure found before it ran); an age limit only ends one that waits.
FROM_ANY = "WAIT RUNNING"
FROM_WAIT = "WAIT"


@dataclass(frozen=True)
class Finish:
    """The one terminal transition of an invocation, and for one with a destination its event
    and pending delivery."""

    request_id: str
    urn: str
    status: Status
    now: float
    retention: int
    condition: str = ""
    error_code: str = ""
    error_message: str = ""
    note: str = ""
    event: str = ""
    destination: str = ""
    destination_kind: str = ""
    outcome: str = ""
    allowed_from: str = FROM_ANY

    def keys(self) -> list[str]:
        rid, shard = self.request_id, shard_of(self.request_id)
        return [
            record_key(rid),
            history_key(rid),
            deliveries_key(rid),
            active_key(self.urn, shard),
            sharded(DEADLINES, shard),
            sharded(OUTBOX, shard),
            sharded(STATS, shard),
            sharded(DUE, shard),
            status_key(self.urn, Status.WAIT, shard),
            status_key(self.urn, Status.RUNNING, shard),
            status_key(self.urn, self.status, shard),
            sharded(RETIRE, shard),
            *counters(self.now, shard),
        ]

    def args(self) -> list[Any]:
        pending = ""
        if self.destination:
            pending = self.delivery(DeliveryStatus.PENDING).model_dump_json()
        return [
            self.request_id,
            self.status.value,
            repr(self.now),
            self.condition,
            self.error_code,
            self.error_message,
            self.event,
            self.destination,
            self.retention,
            self.note,
            self.outcome,
            pending,
            self.allowed_from,
            RETIRE_GRACE,
            MINUTE_TTL,
            SPAN_TTL,
        ]

    def delivery(self, state: DeliveryStatus, attempts: int = 0) -> DeliveryState:
        """The state of this end's delivery to its destination."""
        return DeliveryState(
            destination=self.destination_kind,
            outcome=self.outcome,
            state=state,
            attempts=attempts,
            updated_at=self.now,
        )


@dataclass(frozen=True)
class Hop:
    """The invocation a FunctionGraph destination starts, written by the script that ends the
    source, with its message."""

    target: NewInvocation
    queued: Queued
