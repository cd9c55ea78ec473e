"""What a worker does with a message of a function it does not know: sends it on, counted;
lets it wait after a run of rebounds; ends it once aged out; drops a copy of an ended one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from executor import Client
from executor.core.invocation import Status
from executor.runtime.lifecycle import Lifecycle
from executor.runtime.rebound import HEADER, MAX_PAUSE, REBOUNDS, Rebound
from executor.state import keys
from executor.state.functions import Functions
from executor.state.keys import DUE, sharded_for
from executor.state.store import Store


class Producer:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, body: bytes, **options: Any) -> None:
        self.published.append({"body": body, **options})


class Broker:
    """The part of a Celery app ``Rebound`` uses: a producer."""

    def __init__(self) -> None:
        self.producer = Producer()

    @contextmanager
    def producer_or_acquire(self) -> Iterator[Producer]:
        yield self.producer


class Message:
    def __init__(self, request_id: str, rebounds: int | None = None) -> None:
        self.headers: dict[str, Any] = {"id": request_id, "task": "fn:default:gone:latest"}
        if rebounds is not None:
            self.headers[HEADER] = rebounds
        self.body = b'[[], {"payload": 1}, {}]'
        self.content_type = "application/json"
        self.content_encoding = "utf-8"
        self.properties = {"priority": 0, "correlation_id": request_id}
        self.delivery_info = {"routing_key": "came-from"}


@pytest.fixture
def broker() -> Broker:
    return Broker()


@pytest.fixture
def rebound(
    broker: Broker, fake_client: Client, store: Store, functions: Functions, lifecycle: Lifecycle
) -> Rebound:
    return Rebound(broker, fake_client.settings, store, functions, lifecycle)


def test_a_message_is_sent_on_to_its_functions_queue_counted(
    rebound: Rebound, broker: Broker, fake_client: Client
) -> None:
    request_id = fake_client.invoke_async("hello", {"n": 1})
    assert rebound.handle(Message(request_id, rebounds=2))
    [sent] = broker.producer.published
    assert sent["routing_key"] == "q-hello"  # the catalogue's queue, not the one it came from
    assert sent["exchange"] == ""
    assert sent["body"] == Message(request_id).body
    assert sent["headers"] == {**Message(request_id).headers, HEADER: 3}
    assert sent["correlation_id"] == request_id


def test_a_function_no_catalogue_names_goes_back_where_it_came_from(
    rebound: Rebound, broker: Broker, fake_client: Client, store: Store
) -> None:
    request_id = fake_client.invoke_async("hello")
    store.redis.hset(keys.record_key(request_id), "urn", str(fake_client.resolve("gone")))
    assert rebound.handle(Message(request_id))
    assert broker.producer.published[0]["routing_key"] == "came-from"
    assert broker.producer.published[0]["headers"][HEADER] == 1


def test_after_a_run_of_rebounds_it_waits_for_a_pause_that_grows_with_its_wait(
    rebound: Rebound, broker: Broker, fake_client: Client, store: Store
) -> None:
    request_id = fake_client.invoke_async("hello")
    record = store.records.record(request_id)
    assert record is not None
    enqueued = record.enqueued_at
    waited = 1_000.0
    store.redis.hset(keys.record_key(request_id), "enqueued_at", repr(enqueued - waited))
    before = time.time()
    assert rebound.handle(Message(request_id, rebounds=REBOUNDS))
    assert broker.producer.published == []
    due = store.redis.zscore(sharded_for(DUE, request_id), request_id)
    assert due is not None
    assert before + waited * 0.1 <= due <= time.time() + MAX_PAUSE


def test_the_pause_is_at_least_a_reconcile_period_and_at_most_its_deadline(
    rebound: Rebound, fake_client: Client, store: Store
) -> None:
    request_id = fake_client.invoke_async("hello")
    assert rebound.handle(Message(request_id, rebounds=REBOUNDS + 5))
    due = store.redis.zscore(sharded_for(DUE, request_id), request_id)
    record = store.records.record(request_id)
    assert record is not None
    assert due == pytest.approx(
        min(time.time() + fake_client.settings.reconcile_interval, record.deadline), abs=1
    )


def test_an_aged_out_invocation_ends_discarded(
    rebound: Rebound, broker: Broker, fake_client: Client, store: Store
) -> None:
    request_id = fake_client.invoke_async("hello")
    store.redis.hset(keys.record_key(request_id), "deadline", repr(time.time() - 1))
    assert rebound.handle(Message(request_id, rebounds=1))
    record = store.records.record(request_id)
    assert record is not None and record.status is Status.DISCARD
    assert broker.producer.published == []


def test_a_copy_of_an_ended_invocation_is_dropped(
    rebound: Rebound, broker: Broker, fake_client: Client, store: Store
) -> None:
    request_id = fake_client.invoke_async("hello")
    fake_client.cancel(request_id)
    assert rebound.handle(Message(request_id))
    assert broker.producer.published == []
    assert store.redis.zscore(sharded_for(DUE, request_id), request_id) is None


def test_a_broker_that_refuses_is_answered_false(rebound: Rebound, fake_client: Client) -> None:
    def refuse(body: bytes, **options: Any) -> None:
        raise ConnectionError("down")

    rebound.celery.producer_or_acquire().__enter__().publish = refuse
    assert not rebound.handle(Message(fake_client.invoke_async("hello")))
