"""The status record of one asynchronous invocation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from executor.core.constants import MAX_DELAY, REQUEST_ID_PATTERN
from executor.core.errors import InvalidParameter
from executor.core.payload import shown


class Status(StrEnum):
    """The status of an invocation, as FunctionGraph names them."""

    WAIT = "WAIT"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    DISCARD = "DISCARD"

    @property
    def terminal(self) -> bool:
        return self in (Status.SUCCESS, Status.FAIL, Status.DISCARD)


class ClaimState(StrEnum):
    """What a worker may do with an invocation message it received."""

    RUN = "run"
    DONE = "done"  # the invocation ended already
    STALE = "stale"  # an older copy of a message that was retried since
    MISSING = "missing"  # no record (it passed its retention)
    CRASHED = "crashed"  # its worker was lost too often
    BUSY = "busy"  # a duplicate of a run whose runner is alive


class DeliveryStatus(StrEnum):
    """Where one result event stands on its way to its destination."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DROPPED = "dropped"  # the chain guard refused the call a FunctionGraph delivery makes
    DEAD_LETTERED = "dead-lettered"

    @property
    def final(self) -> bool:
        return self is not DeliveryStatus.PENDING


_FROZEN = ConfigDict(frozen=True)


class Transition(BaseModel):
    """One change of status, in the order it happened; ``status`` is None for a note alone.
    ``error`` is what the attempt before a retry, or the end, failed with."""

    model_config = _FROZEN

    status: Status | None
    at: float
    attempt: int = 0
    note: str = ""
    error: str = ""


class DeliveryState(BaseModel):
    """Where one result event stands on its way to its destination."""

    model_config = _FROZEN

    destination: str
    outcome: str
    state: DeliveryStatus
    attempts: int = 0
    error: str = ""
    updated_at: float = 0.0


class Invocation(BaseModel):
    """An invocation as a caller sees it: its record, history and deliveries."""

    model_config = _FROZEN

    request_id: str
    function_urn: str
    status: Status
    attempts: int = 0
    enqueued_at: float
    deadline: float
    started_at: float | None = None
    ended_at: float | None = None
    condition: str = ""
    error_code: str = ""
    error_message: str = ""
    chain: tuple[str, ...] = ()
    origin: str = ""
    due_at: float | None = None
    redrive_of: str = ""
    traceparent: str = ""
    cycle_drops: int = 0
    payload: Any = None
    event: dict[str, Any] | None = None  # the result event, when a destination took one
    history: tuple[Transition, ...] = ()
    deliveries: tuple[DeliveryState, ...] = ()

    @property
    def settled(self) -> bool:
        """Ended, and every delivery of its event has ended too: nothing about it can change
        but a redrive, a re-send or its retention."""
        return self.status.terminal and all(d.state.final for d in self.deliveries)

    def to_wire(self) -> dict[str, Any]:
        """The FunctionGraph shape of an entry of ``async-invocations``."""
        return {
            "request_id": self.request_id,
            "status": self.status.value,
            "error_message": self.error_message,
            "error_code": self.error_code,
            "start_time": _iso(self.started_at or self.enqueued_at),
            "end_time": _iso(self.ended_at) if self.ended_at else "",
        }


class Cancellation(Invocation):
    """The record of the invocation a cancel named, and every request id the cancel ended
    (itself first when it was ended, then its descendants)."""

    cancelled: tuple[str, ...] = ()


def check_request_id(request_id: str) -> str:
    """A caller-chosen request id, or InvalidParameter saying what is allowed."""
    if not isinstance(request_id, str) or not re.fullmatch(REQUEST_ID_PATTERN, request_id):
        raise InvalidParameter(
            f"request id {shown(request_id)} is not allowed: use 1 to 64 characters of "
            "A-Z, a-z, 0-9, '.', '_', ':' and '-'"
        )
    return request_id


def check_delay(delay: float) -> float:
    """A start delay in seconds, or InvalidParameter saying the range."""
    # NaN fails the comparison; an integer is compared as it is, never made a float first.
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY:
        raise InvalidParameter(
            f"delay must be between 0 and {MAX_DELAY} seconds, not {shown(delay)}"
        )
    return float(delay)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")


class InvocationPage(BaseModel):
    """A page of invocations, newest first; ``next_marker`` continues it."""

    model_config = _FROZEN

    invocations: tuple[Invocation, ...]
    count: int
    next_marker: str | None
