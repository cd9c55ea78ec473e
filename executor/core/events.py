"""The result event handed to a destination, field for field as FunctionGraph sends it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from executor.core.constants import CONDITION_SUCCESS

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class RequestContext(BaseModel):
    """What the event says of the invocation: its id, function, condition and run count."""

    model_config = _FROZEN

    request_id: str
    function_urn: str
    condition: str
    approximate_invoke_count: int


class ResponseContext(BaseModel):
    """The platform's status code and the function's error, if any."""

    model_config = _FROZEN

    status_code: int
    function_error: str


class ResultEvent(BaseModel):
    """``timestamp`` is the invocation time; payloads are JSON values, not re-encoded strings."""

    model_config = _FROZEN

    timestamp: str
    request_context: RequestContext
    request_payload: Any
    response_context: ResponseContext
    response_payload: Any

    @property
    def outcome(self) -> str:
        """``"success"`` or ``"failure"``: which destination the event goes to."""
        return outcome_of(self.request_context.condition)

    @property
    def identity(self) -> str:
        """Stable across repeated deliveries of this outcome, so duplicates can be recognised."""
        return f"{self.request_context.request_id}:{self.outcome}"


def outcome_of(condition: str) -> str:
    """The outcome (``"success"`` or ``"failure"``) of an invocation that ended ``condition``."""
    return "success" if condition == CONDITION_SUCCESS else "failure"


def format_timestamp(epoch: float) -> str:
    """``2020-08-20T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def bounded(value: Any, limit: int) -> Any:
    """The value, or ``""`` when its JSON form is above ``limit`` bytes."""
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return "" if len(encoded) > limit else value


def build_event(
    *,
    request_id: str,
    function_urn: str,
    enqueued_at: float,
    condition: str,
    invoke_count: int,
    request_payload: Any,
    status_code: int = 200,
    function_error: str = "",
    response_payload: Any = "",
) -> ResultEvent:
    return ResultEvent(
        timestamp=format_timestamp(enqueued_at),
        request_context=RequestContext(
            request_id=request_id,
            function_urn=function_urn,
            condition=condition,
            approximate_invoke_count=invoke_count,
        ),
        request_payload=request_payload,
        response_context=ResponseContext(status_code=status_code, function_error=function_error),
        response_payload=response_payload,
    )
