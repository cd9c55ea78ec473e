"""An invocation record as the state store keeps it, read back into an ``Invocation``."""

from __future__ import annotations

import json

from executor.core.invocation import DeliveryState, Invocation, Status, Transition


def invocation_of(
    request_id: str, record: dict[str, str], history: list[str], deliveries: dict[str, str]
) -> Invocation:
    """The record's hash, its history list and its delivery states, as one ``Invocation``."""

    def number(name: str) -> float | None:
        value = record.get(name)
        return float(value) if value else None

    return Invocation(
        request_id=request_id,
        function_urn=record.get("urn", ""),
        status=Status(record.get("status", "WAIT")),
        attempts=int(record.get("attempts", 0)),
        enqueued_at=number("enqueued_at") or 0.0,
        deadline=number("deadline") or 0.0,
        started_at=number("started_at"),
        ended_at=number("ended_at"),
        condition=record.get("condition", ""),
        error_code=record.get("error_code", ""),
        error_message=record.get("error_message", ""),
        chain=tuple(json.loads(record.get("chain", "[]"))),
        origin=record.get("origin", ""),
        due_at=number("due_at"),
        redrive_of=record.get("redrive_of", ""),
        traceparent=record.get("traceparent", ""),
        cycle_drops=int(record.get("cycle_drops", 0)),
        payload=json.loads(record["payload"]) if "payload" in record else None,
        history=tuple(Transition.model_validate_json(h) for h in history),
        deliveries=tuple(DeliveryState.model_validate_json(d) for d in deliveries.values()),
    )
