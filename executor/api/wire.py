"""The bodies of the HTTP API that are not async configs, in FunctionGraph's wire shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from executor.core.config import AsyncConfig
from executor.core.constants import (
    CONDITION_EVENT_AGE_EXCEEDED,
    CONDITION_RETRIES_EXHAUSTED,
    MAX_DELAY,
    MAX_INSTANCES,
    MAX_RATE,
    MIN_RATE,
    UNLIMITED_INSTANCES,
)
from executor.core.errors import InvalidParameter
from executor.core.flow import RecursiveLoop
from executor.core.invocation import Invocation, InvocationPage, check_delay, check_request_id
from executor.core.payload import read_json

_FROZEN = ConfigDict(frozen=True, extra="forbid")

# FunctionGraph reports ``error_code`` of an invocation as a number (its SDKs parse an int).
NO_ERROR = 0
ERROR_NUMBERS = {
    "": NO_ERROR,
    "Cancelled": 4208,  # FunctionGraph's "function invocation canceled"
    CONDITION_RETRIES_EXHAUSTED: 4101,
    CONDITION_EVENT_AGE_EXCEEDED: 4102,
}
OTHER_ERROR = 4100
WIRE_TIME = "%Y-%m-%dT%H:%M:%S"


class ErrorBody(BaseModel):
    """Every error answer of the API: a FunctionGraph code and a message that says what to do."""

    model_config = _FROZEN

    error_code: str = Field(examples=["FSS.0400"])
    error_msg: str


class AsyncConfigBody(AsyncConfig):
    """The body of a config update; FunctionGraph's SDKs may also send log group and stream
    fields, which are accepted and not used (status logs live in the state store)."""

    log_group_id: str | None = None
    log_stream_id: str | None = None
    log_group_name: str | None = None
    log_stream_name: str | None = None
    # A config put through this API sends FunctionGraph's event.
    record_format: Literal["FunctionGraph"] = "FunctionGraph"

    def policy(self) -> AsyncConfig:
        return AsyncConfig.model_validate(self.model_dump(include=set(AsyncConfig.model_fields)))


class MaxInstanceBody(BaseModel):
    """The body of FunctionGraph's ``config-max-instance``: -1 unlimited, 0 paused, N at most N
    running at once."""

    model_config = _FROZEN

    max_instance_num: int = Field(ge=UNLIMITED_INSTANCES, le=MAX_INSTANCES, strict=True)


class FlowConfigBody(BaseModel):
    """The body of a flow config change: only the fields it names change; a null
    ``rate_per_second`` removes the rate limit."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    # The defaults are never used (only the fields sent count); a null max_instances or
    # recursive_loop is refused by the types, as it would change nothing.
    max_instances: int = Field(
        default=UNLIMITED_INSTANCES, ge=UNLIMITED_INSTANCES, le=MAX_INSTANCES, strict=True
    )
    rate_per_second: float | None = Field(default=None, ge=MIN_RATE, le=MAX_RATE, strict=True)
    recursive_loop: RecursiveLoop = "Terminate"

    def changes(self) -> dict[str, Any]:
        """The fields the body names, as ``Client.put_flow_config`` arguments."""
        if not self.model_fields_set:
            raise InvalidParameter(
                "the body changes nothing: give at least one of max_instances, "
                "rate_per_second (null removes it) and recursive_loop"
            )
        return self.model_dump(include=self.model_fields_set)


class InvokeAccepted(BaseModel):
    """The 202 answer of an asynchronous invocation: its request id."""

    model_config = _FROZEN

    request_id: str


class CancelRequest(BaseModel):
    """The body of a cancel: which invocation, and how far the cancel reaches."""

    model_config = _FROZEN

    request_id: str = Field(min_length=1, max_length=128)
    type: Literal["recursive", "force"] | None = Field(
        default=None,
        description="recursive also cancels every invocation it started, directly or further "
        "down, that is waiting; force does that and stops running ones too; without a type "
        "only the named invocation is cancelled, while it waits",
    )

    @property
    def force(self) -> bool:
        return self.type == "force"

    @property
    def recursive(self) -> bool:
        return self.type is not None


class InvocationEntry(BaseModel):
    """One entry of ``async-invocations``: times are UTC ``YYYY-MM-DDTHH:MM:SS``."""

    model_config = _FROZEN

    request_id: str
    status: str
    error_message: str
    error_code: int
    start_time: str
    end_time: str

    @classmethod
    def of(cls, invocation: Invocation) -> InvocationEntry:
        return cls(
            request_id=invocation.request_id,
            status=invocation.status.value,
            error_message=invocation.error_message,
            error_code=error_number(invocation.error_code),
            start_time=wire_time(invocation.started_at or invocation.enqueued_at),
            end_time=wire_time(invocation.ended_at) if invocation.ended_at else "",
        )


class CancelAnswer(InvocationEntry):
    """The named invocation's entry, and every request id the cancel ended."""

    cancelled: tuple[str, ...]


class InvocationList(BaseModel):
    """A page of ``async-invocations``; ``next_marker`` continues it."""

    model_config = _FROZEN

    invocations: tuple[InvocationEntry, ...]
    count: int
    next_marker: int | None = Field(description="marker of the next page; null on the last page")

    @classmethod
    def of(cls, page: InvocationPage) -> InvocationList:
        marker = page.next_marker
        return cls(
            invocations=tuple(InvocationEntry.of(i) for i in page.invocations),
            count=page.count,
            next_marker=int(marker) if marker is not None and marker.isdigit() else None,
        )


class Health(BaseModel):
    """The answer of ``/health`` when the state store answers."""

    model_config = _FROZEN

    status: Literal["ok"] = "ok"


def idempotency_key(header: str | None) -> str | None:
    """The request id an ``Idempotency-Key`` header names; its structured-field form is a
    quoted string, which is unquoted."""
    if header is None:
        return None
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return check_request_id(value)


def delay_seconds(header: str | None) -> float:
    """The start delay an ``X-Executor-Delay`` header asks for, in seconds."""
    if header is None or not header.strip():
        return 0.0
    try:
        value = float(header)
    except ValueError:
        raise InvalidParameter(
            f"X-Executor-Delay must be a number of seconds from 0 to {MAX_DELAY}, "
            f"not {header[:40]!r}"
        ) from None
    return check_delay(value)


def error_number(code: str) -> int:
    """The numeric ``error_code`` of a stored string code (``FSS.0500`` is 500)."""
    if code in ERROR_NUMBERS:
        return ERROR_NUMBERS[code]
    digits = code.removeprefix("FSS.")
    return int(digits) if digits.isdigit() else OTHER_ERROR


def wire_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime(WIRE_TIME)


def epoch(value: datetime | None) -> float | None:
    """A query time as epoch seconds; a time without an offset is UTC, as FunctionGraph's."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def decode_json(raw: bytes) -> Any:
    """A request body as JSON; ``None`` when it is empty."""
    if not raw.strip():
        return None
    return read_json(raw, "the body")
