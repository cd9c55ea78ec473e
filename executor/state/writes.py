"""The keys and arguments of the scripts that write invocations, and what they write.

``NewRecord`` is what CREATE records, ``Queued`` a broker message a script writes beside it,
``finish_call`` the keys and arguments of FINISH; the store and its fused scripts share them.
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
        rid, shard = self.request_id, shard_of(self.request_id)
        return [
            record_key(rid),
            history_key(rid),
            index_key(self.urn, shard),
            active_key(self.urn, shard),
            sharded(DEADLINES, shard),
            sharded(STATS, shard),
        ]

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


def finish_call(
    *,
    request_id: str,
    urn: str,
    status: Status,
    now: float,
    retention: int,
    condition: str = "",
    error_code: str = "",
    error_message: str = "",
    event: str = "",
    destination: str = "",
    outcome: str = "",
    destination_kind: str = "",
    note: str = "",
) -> tuple[list[str], list[Any]]:
    """FINISH's keys and arguments."""
    pending = ""
    if destination:
        pending = DeliveryState(
            destination=destination_kind, outcome=outcome, state="pending", updated_at=now
        ).model_dump_json()
    keys = [
        record_key(request_id),
        history_key(request_id),
        deliveries_key(request_id),
        active_key(urn, shard_of(request_id)),
        sharded_for(DEADLINES, request_id),
        sharded_for(OUTBOX, request_id),
        sharded_for(STATS, request_id),
    ]
    args = [
        request_id,
        status.value,
        repr(now),
        condition,
        error_code,
        error_message,
        event,
        destination,
        retention,
        note,
        outcome,
        pending,
    ]
    return keys, args
