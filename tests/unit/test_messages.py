"""The typed broker messages: the keyword arguments on the wire read back to the same model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from executor.core.config import DestinationRef
from executor.core.messages import DeadLetter, DeliveryJob, InvocationMessage

URN = "urn:fss:r1:p1:function:default:hello:latest"
DIS = DestinationRef.model_validate({"destination": "DIS", "param": {"stream_name": "s"}})


@pytest.mark.parametrize(
    "payload", [None, {"a": 1}, [1, 2], "text", 0, {"nested": {"list": [None, True]}}]
)
@pytest.mark.parametrize("chain", [(), ("a",), ("a", "b", "c")])
@pytest.mark.parametrize(
    "traceparent", ["", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]
)
def test_an_invocation_message_round_trips_through_json_kwargs(
    payload: Any, chain: tuple[str, ...], traceparent: str
) -> None:
    message = InvocationMessage(
        payload=payload,
        urn=URN,
        chain=chain,
        enqueued_at=1.25,
        deadline=61.25,
        origin="parent",
        traceparent=traceparent,
    )
    wire = json.loads(json.dumps(message.kwargs()))
    # An untraced message carries no traceparent at all: every message would pay for it.
    assert set(wire) == {"payload", "urn", "chain", "enqueued_at", "deadline", "origin"} | (
        {"traceparent"} if traceparent else set()
    )
    assert isinstance(wire["chain"], list)
    assert InvocationMessage.model_validate(wire) == message


def test_an_invocation_message_ignores_fields_it_does_not_know() -> None:
    message = InvocationMessage.model_validate({"urn": URN, "added_later": 1})
    assert (message.urn, message.payload, message.chain) == (URN, None, ())


def job(**changes: Any) -> DeliveryJob:
    return DeliveryJob(
        request_id="r1",
        outcome="failure",
        destination=DIS,
        event={"request_context": {"request_id": "r1"}},
        chain=("a", "b"),
        function_urn=URN,
        agency="writer",
        first_at=10.5,
    ).model_copy(update=changes)


@pytest.mark.parametrize("agency", [None, "writer"])
def test_a_delivery_job_round_trips_through_json_kwargs(agency: str | None) -> None:
    original = job(agency=agency)
    wire = json.loads(json.dumps(original.kwargs()))
    assert "identity" not in wire
    assert wire["destination"] == {"destination": "DIS", "param": '{"stream_name":"s"}'}
    back = DeliveryJob.model_validate(wire)
    assert back == original
    assert (back.identity, back.kind) == ("r1:failure", "DIS")


def test_a_delivery_job_validates_its_destination_on_the_way_in() -> None:
    wire = job().kwargs() | {"destination": {"destination": "DIS", "param": "{}"}}
    with pytest.raises(ValueError, match="stream_name"):
        DeliveryJob.model_validate(wire)


def test_a_dead_letter_keeps_the_job_and_summarises_without_the_event() -> None:
    letter = DeadLetter.model_validate(
        job().model_dump() | {"reason": "refused", "attempts": 3, "at": 86400.0}
    )
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter
    assert json.loads(letter.model_dump_json())["identity"] == "r1:failure"
    assert letter.summary() == {
        "identity": "r1:failure",
        "function_urn": URN,
        "destination": "DIS",
        "reason": "refused",
        "attempts": 3,
        "at": "1970-01-02T00:00:00+00:00",
    }
    assert DeliveryJob.model_validate(letter.model_dump()) == job()


def test_messages_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        job().request_id = "other"  # type: ignore[misc]
