"""Delivery attempts and their records, with a stub destination runtime and delivery task."""

from __future__ import annotations

import time
from typing import Any

import pytest

from destinations.functiongraph import target_request_id
from executor import Client
from executor.core.config import DestinationRef
from executor.core.constants import DELIVER_TASK, DELIVERY_QUEUE
from executor.core.errors import DeadLetterNotFound, FunctionNotFound, Unavailable
from executor.core.guard import ChainBroken
from executor.core.invocation import DeliveryState, DeliveryStatus
from executor.core.messages import DeadLetter, DeliveryJob
from executor.runtime.delivery import Deliveries
from executor.runtime.dlq import DeadLetters
from executor.state.store import Store
from tests.support.names import urn
from tests.support.stubs import (
    RecordingCelery,
    RecordingPublisher,
    RetryRequested,
    StubRuntime,
    StubTask,
)

FG = DestinationRef.model_validate(
    {"destination": "FunctionGraph", "param": {"func_urn": urn("next")}}
)
DIS = DestinationRef.model_validate({"destination": "DIS", "param": {"stream_name": "s"}})
EVENT = {"request_context": {"request_id": "r1"}, "response_payload": "ok"}


def job(destination: DestinationRef = FG, first_at: float = 0.0, **kw: Any) -> DeliveryJob:
    return DeliveryJob(
        request_id=kw.pop("request_id", "r1"),
        outcome=kw.pop("outcome", "success"),
        destination=destination,
        event=EVENT,
        chain=("a",),
        function_urn=urn("hello"),
        agency="writer",
        first_at=first_at,
        **kw,
    )


def state(store: Store, outcome: str = "success") -> DeliveryState:
    found = store.deliveries.state("r1", outcome)
    assert found is not None
    return found


# -- the first attempt ---------------------------------------------------------------------------


def test_the_first_attempt_of_every_kind_is_the_delivery_tasks(
    deliveries: Deliveries, runtime: StubRuntime, publisher: RecordingPublisher, store: Store
) -> None:
    before = time.time()
    deliveries.start(job())
    [queued] = publisher.deliveries
    assert (queued.kind, queued.identity) == ("FunctionGraph", "r1:success")
    assert queued.first_at >= before
    assert runtime.calls == []
    assert store.deliveries.state("r1", "success") is None


def test_the_task_invokes_a_functiongraph_target_with_a_derived_request_id(
    deliveries: Deliveries, runtime: StubRuntime, store: Store
) -> None:
    deliveries.run(job(first_at=time.time()), StubTask())  # type: ignore[arg-type]
    [(target, delivery, request_id)] = runtime.calls
    assert target == urn("next")
    assert request_id == target_request_id("r1:success")
    assert (delivery.event, delivery.chain, delivery.agency) == (EVENT, ("a",), "writer")
    assert (state(store).state, state(store).attempts) == (DeliveryStatus.DELIVERED, 1)


def test_a_call_the_guard_refuses_is_dropped(
    deliveries: Deliveries, runtime: StubRuntime, store: Store
) -> None:
    runtime.fail = ChainBroken("call dropped: a -> next -> a")
    task = StubTask()
    deliveries.run(job(first_at=time.time()), task)  # type: ignore[arg-type]
    assert task.retries == []
    assert (state(store).state, state(store).error) == (
        DeliveryStatus.DROPPED,
        "call dropped: a -> next -> a",
    )


def test_other_kinds_go_straight_to_the_queue(
    deliveries: Deliveries, runtime: StubRuntime, publisher: RecordingPublisher
) -> None:
    deliveries.start(job(DIS))
    assert runtime.calls == []
    [queued] = publisher.deliveries
    assert (queued.kind, queued.identity) == ("DIS", "r1:success")
    assert queued.first_at > 0


# -- the delivery task ---------------------------------------------------------------------------


def test_the_task_delivers_and_counts_attempts(
    deliveries: Deliveries, runtime: StubRuntime, store: Store, settings
) -> None:
    store.deliveries.put(
        "r1",
        DeliveryState(destination="FunctionGraph", outcome="success", state="pending", attempts=2),
        60,
    )
    task = StubTask()
    deliveries.run(job(first_at=time.time()), task)  # type: ignore[arg-type]
    assert runtime.calls[0][1].attempt == 3
    assert (state(store).state, state(store).attempts) == (DeliveryStatus.DELIVERED, 3)
    assert task.retries == []


@pytest.mark.parametrize("final", [DeliveryStatus.DELIVERED, DeliveryStatus.DROPPED])
def test_the_task_does_not_deliver_an_event_twice(
    deliveries: Deliveries, runtime: StubRuntime, store: Store, final: DeliveryStatus
) -> None:
    store.deliveries.put(
        "r1", DeliveryState(destination="FunctionGraph", outcome="success", state=final), 60
    )
    deliveries.run(job(), StubTask())  # type: ignore[arg-type]
    assert runtime.calls == []
    assert state(store).state is final


@pytest.mark.parametrize("attempts_before", [0, 1, 3])
def test_a_temporary_failure_within_the_deadline_retries_with_backoff(
    deliveries: Deliveries, runtime: StubRuntime, store: Store, settings, attempts_before: int
) -> None:
    if attempts_before:
        store.deliveries.put(
            "r1",
            DeliveryState(
                destination="FunctionGraph",
                outcome="success",
                state="pending",
                attempts=attempts_before,
            ),
            60,
        )
    runtime.fail = Unavailable("the state store cannot be reached")
    task = StubTask()
    first_at = time.time() - 1
    with pytest.raises(RetryRequested):
        deliveries.run(job(first_at=first_at), task)  # type: ignore[arg-type]
    [(countdown, kwargs)] = task.retries
    ceiling = min(settings.retry_backoff_max, settings.retry_backoff_base * 2**attempts_before)
    assert ceiling / 2 <= countdown <= ceiling
    assert DeliveryJob.model_validate(kwargs) == job(first_at=first_at)
    assert (state(store).state, state(store).attempts) == (
        DeliveryStatus.PENDING,
        attempts_before + 1,
    )
    assert state(store).error == "the state store cannot be reached"
    assert store.dead_letters.count() == 0


def test_a_job_without_a_first_attempt_time_starts_its_deadline_now(
    deliveries: Deliveries, runtime: StubRuntime
) -> None:
    runtime.fail = Unavailable("down")
    task = StubTask()
    before = time.time()
    with pytest.raises(RetryRequested):
        deliveries.run(job(first_at=0.0), task)  # type: ignore[arg-type]
    assert task.retries[0][1]["first_at"] >= before


def test_a_temporary_failure_past_the_deadline_is_dead_lettered_once(
    deliveries: Deliveries, runtime: StubRuntime, store: Store, settings
) -> None:
    runtime.fail = Unavailable("down")
    late = job(first_at=time.time() - settings.delivery_deadline - 1)
    task = StubTask()
    deliveries.run(late, task)  # type: ignore[arg-type]
    runtime.calls.clear()
    deliveries.run(late, task)  # type: ignore[arg-type]  # a copy: never tried after
    assert runtime.calls == []
    assert task.retries == []
    assert store.dead_letters.identities() == ["r1:success"]
    assert store.scans.stats()["dead_letters"] == 1
    letter = DeadLetter.model_validate_json(store.dead_letters.get("r1:success") or "")
    assert letter.reason == "delivery deadline passed; last error: down"
    assert (letter.attempts, letter.event, letter.agency) == (1, EVENT, "writer")
    assert (state(store).state, state(store).attempts) == (DeliveryStatus.DEAD_LETTERED, 1)


@pytest.mark.parametrize(
    "failure",
    [FunctionNotFound("function x is not known"), ValueError("bad param")],
    ids=["refused", "invalid"],
)
def test_a_permanent_refusal_is_dead_lettered_at_once(
    deliveries: Deliveries, runtime: StubRuntime, store: Store, failure: Exception
) -> None:
    runtime.fail = failure
    task = StubTask()
    deliveries.run(job(first_at=time.time()), task)  # type: ignore[arg-type]
    assert task.retries == []
    assert state(store).state is DeliveryStatus.DEAD_LETTERED
    assert state(store).error == str(failure)
    assert store.dead_letters.count() == 1


def test_a_call_the_guard_refuses_in_the_task_is_dropped(
    deliveries: Deliveries, runtime: StubRuntime, store: Store
) -> None:
    runtime.fail = ChainBroken("call dropped: too deep")
    task = StubTask()
    deliveries.run(job(first_at=time.time()), task)  # type: ignore[arg-type]
    assert task.retries == []
    assert state(store).state is DeliveryStatus.DROPPED
    assert store.dead_letters.count() == 0


# -- the dead-letter store -----------------------------------------------------------------------


def letter(n: int) -> DeadLetter:
    return DeadLetter.model_validate(
        job(DIS, request_id=f"req-{n}").model_dump()
        | {"reason": "refused", "attempts": n, "at": 1000.0 + n}
    )


@pytest.fixture
def dead_letters(fake_client: Client) -> DeadLetters:
    for n in range(1, 6):
        entry = letter(n)
        fake_client.store.dead_letters.add(entry.identity, entry.model_dump_json(), entry.at)
    return fake_client.dead_letters()


def test_dead_letters_list_oldest_first_and_show_one(dead_letters: DeadLetters) -> None:
    assert dead_letters.count() == 5
    assert [d.attempts for d in dead_letters.page(limit=2, offset=1)] == [2, 3]
    assert dead_letters.get("req-4:success").agency == "writer"
    with pytest.raises(DeadLetterNotFound, match="executor dlq list"):
        dead_letters.get("req-9:success")


def test_resend_queues_each_entry_once_with_a_fresh_deadline(
    dead_letters: DeadLetters, fake_client: Client, celery: RecordingCelery
) -> None:
    before = time.time()
    assert dead_letters.resend(["req-1:success", "req-9:success", "req-1:success"]) == [
        "req-1:success"
    ]
    [(task, options)] = celery.sent
    assert (task, options["task_id"], options["queue"]) == (
        DELIVER_TASK,
        "req-1:success",
        DELIVERY_QUEUE,
    )
    assert options["kwargs"]["first_at"] >= before
    pending = fake_client.store.deliveries.state("req-1", "success")
    assert pending is not None and pending.state is DeliveryStatus.PENDING
    assert pending.error == "sent again from the dead-letter store; was: refused"
    assert "req-1:success" not in dead_letters.identities()


def test_a_resend_the_broker_refuses_puts_the_entry_back(
    dead_letters: DeadLetters, celery: RecordingCelery, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(name: str, **options: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(celery, "send_task", refuse)
    with pytest.raises(Unavailable, match="still in the dead-letter store"):
        dead_letters.resend(["req-2:success"])
    assert dead_letters.get("req-2:success").attempts == 2
    assert dead_letters.count() == 5


def test_purge_removes_named_entries_then_all(dead_letters: DeadLetters) -> None:
    assert dead_letters.purge(["req-2:success", "req-9:success"]) == 1
    assert dead_letters.purge([]) == 0
    assert dead_letters.identities() == [
        "req-1:success",
        "req-3:success",
        "req-4:success",
        "req-5:success",
    ]
    assert dead_letters.purge_all() == 4
    assert dead_letters.count() == 0
    assert dead_letters.page() == ()
