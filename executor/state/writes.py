"""The keys and arguments of the scripts that write invocations, and what they write.

``NewRecord`` is what CREATE records, ``Queued`` a broker message a script writes beside it,
``Finish`` what FINISH writes; the store and its fused scripts share them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from executor.core.invocation import DeliveryState, Status
from executor.state.keys import (
    DEADLINES,
    OUTBOX,
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


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def transition(status: Status, at: float, attempt: int = 0, note: str = "") -> str:
    return dumps({"status": status.value, "at": at, "attempt": attempt, "note": note})


@dataclass(frozen=True)
class Queued:
    """A broker message written by a state-store script: the broker is this same Redis.

    ``message`` goes to the list ``queue``; ``event`` (the task-sent event, "" for none) is
    published on ``channel``.
    """

    queue: str
    message: str
    channel: str = ""
    event: str = ""

    def args(self) -> list[str]:
        return [self.message, self.channel, self.event]


def new_record_keys(request_id: str, urn: str) -> list[str]:
    """The keys a new invocation's record is written to: the record, its history, the
    function's index and active set, and the deadlines and counters of its shard."""
    shard = shard_of(request_id)
    return [
        record_key(request_id),
        history_key(request_id),
        index_key(urn, shard),
        active_key(urn, shard),
        sharded(DEADLINES, shard),
        sharded(STATS, shard),
    ]


@dataclass(frozen=True)
class NewRecord:
    """What CREATE records of an invocation."""

    request_id: str
    urn: str
    enqueued_at: float
    deadline: float
    chain: Sequence[str]
    payload_json: str
    origin: str = ""
    traceparent: str = ""

    def keys(self) -> list[str]:
        return new_record_keys(self.request_id, self.urn)

    def args(self) -> list[str]:
        return [
            self.request_id,
            self.urn,
            repr(self.enqueued_at),
            repr(self.deadline),
            dumps(list(self.chain)),
            self.payload_json,
            self.origin,
            transition(Status.WAIT, self.enqueued_at),
            self.traceparent,
        ]


def created_reply(reply: Any) -> tuple[bool, Status, int]:
    created, status, attempts = cast("list[Any]", reply)
    return bool(created), Status(status), int(attempts)


@dataclass(frozen=True)
class Finish:
    """What FINISH writes: the one terminal transition of an invocation, and for one with a
    destination its event and pending delivery."""

    request_id: str
    urn: str
    status: Status
    now: float
    retention: int
    condition: str = ""
    error_code: str = ""
    error_message: str = ""
    event: str = ""
    destination: str = ""
    outcome: str = ""
    destination_kind: str = ""
    note: str = ""

    def keys(self) -> list[str]:
        rid = self.request_id
        return [
            record_key(rid),
            history_key(rid),
            deliveries_key(rid),
            active_key(self.urn, shard_of(rid)),
            sharded_for(DEADLINES, rid),
            sharded_for(OUTBOX, rid),
            sharded_for(STATS, rid),
        ]

    def args(self) -> list[Any]:
        pending = ""
        if self.destination:
            pending = DeliveryState(
                destination=self.destination_kind,
                outcome=self.outcome,
                state="pending",
                updated_at=self.now,
            ).model_dump_json()
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
        ]
