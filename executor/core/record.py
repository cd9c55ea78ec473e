"""The record of one invocation as the state store keeps it, typed.

Only the state layer builds an ``InvocationRecord`` (from the stored hash); everything above it
reads these fields, never the hash or its field names. The public view of an invocation, with
its history and deliveries, is ``Invocation`` (``executor.core.invocation``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from executor.core.config import DestinationRef
from executor.core.invocation import Status
from executor.core.payload import PayloadRefused, nesting


class InvocationRecord(BaseModel):
    """Where one invocation stands: what it was asked to do, its attempts and its end."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    urn: str
    status: Status
    attempts: int = 0
    retry_index: int = -1  # the retry index of the message last claimed; -1 before the first
    crashes: int = 0
    enqueued_at: float
    deadline: float
    due_at: float | None = None
    chain: tuple[str, ...] = ()
    payload_json: str = "null"
    origin: str = ""
    traceparent: str = ""
    redrive_of: str = ""
    redrives: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    condition: str = ""
    error_code: str = ""
    error_message: str = ""
    event_json: str = ""
    destination: DestinationRef | None = None
    outcome: str = ""
    runner: str = ""
    lease: float = 0.0
    cycle_drops: int = 0

    @property
    def waiting_since(self) -> float:
        """When it began to wait: its due time when delayed, else its acceptance."""
        return self.due_at if self.due_at is not None else self.enqueued_at

    @property
    def max_age(self) -> float:
        """The seconds it may wait before it ages out."""
        return self.deadline - self.waiting_since

    def payload(self) -> Any:
        return json.loads(self.payload_json)

    def carried_payload(self, max_depth: int) -> Any:
        """The payload as an event carries it; None when it cannot be carried (a message that
        bypassed the acceptance check may have recorded one nested too deeply)."""
        try:
            value = self.payload()
            return value if nesting(value, max_depth) <= max_depth else None
        except (ValueError, RecursionError, PayloadRefused):
            return None

    def event(self) -> dict[str, Any] | None:
        """The result event recorded when it ended with a destination, else None."""
        return json.loads(self.event_json) if self.event_json else None
