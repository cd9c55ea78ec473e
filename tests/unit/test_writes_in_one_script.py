"""Each step in one script, on fakeredis: the real publisher builds the messages, and the real scripts
write a record with its message, and end a source with its FunctionGraph target, in one step.

The broker is the store's own Redis here (the same URL), so nothing goes through Celery's
publisher: what Celery is asked to send is recorded, and must stay empty on these paths.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import fakeredis
import pytest
from celery import Celery

from destinations.functiongraph import target_request_id
from executor import Client, Settings
from executor.core.agency import Agencies
from executor.core.constants import CONDITION_SUCCESS, DELIVERY_QUEUE
from executor.core.events import build_event
from executor.core.invocation import DeliveryStatus, Status
from executor.core.registry import Registry
from executor.runtime.celery.celery_app import make_celery
from executor.runtime.lifecycle import Ending
from executor.state import keys
from executor.state.store import Store
from tests.support.names import fg, urn


class SendingCelery(Celery):  # type: ignore[misc]
    """A real Celery app, configured as the engine's, that keeps what it is asked to send."""

    sent: list[tuple[str, dict[str, Any]]]

    def send_task(self, name: str, **options: Any) -> None:
        self.sent.append((name, options))


@pytest.fixture
def fused(settings: Settings, registry: Registry, store: Store) -> Client:
    celery = make_celery(settings)
    celery.__class__ = SendingCelery
    celery.sent = []
    fake_client = Client(
        settings, celery=celery, registry=registry, store=store, agencies=Agencies()
    )
    assert fake_client.engine.publisher.routes.available()
    return fake_client


def queued(fake_redis: fakeredis.FakeRedis, queue: str) -> list[dict[str, Any]]:
    """The task messages in a queue, oldest first, with their bodies decoded."""
    found = []
    for raw in reversed(fake_redis.lrange(queue, 0, -1)):
        message = json.loads(raw)
        message["body"] = json.loads(base64.b64decode(message["body"]))
        found.append(message)
    return found


def end(fake_client: Client, request_id: str) -> bool:
    """End an invocation SUCCESS as its task would."""
    record = fake_client.get_invocation(request_id)

    def event() -> Any:
        return build_event(
            request_id=request_id,
            function_urn=record.function_urn,
            enqueued_at=record.enqueued_at,
            condition=CONDITION_SUCCESS,
            invoke_count=1,
            request_payload=record.payload,
            response_payload={"ok": 1},
        )

    ending = Ending(
        request_id=request_id,
        urn=record.function_urn,
        status=Status.SUCCESS,
        condition=CONDITION_SUCCESS,
        chain=record.chain,
        event=event,
    )
    return fake_client.engine.lifecycle.settle(ending)


def test_accept_writes_the_record_and_its_message_in_one_script(
    fused: Client, fake_redis: fakeredis.FakeRedis
) -> None:
    rid = fused.invoke_async("hello", {"n": 1})
    assert fused.celery.sent == []
    [message] = queued(fake_redis, "q-hello")
    headers = message["headers"]
    assert (headers["id"], headers["task"], headers["retries"]) == (
        rid,
        "fn:default:hello:latest",
        0,
    )
    args, kwargs, _ = message["body"]
    assert args == []
    assert kwargs["in_record"] is True and "payload" not in kwargs
    assert kwargs["urn"] == urn("hello")
    record = fused.get_invocation(rid)
    assert record.status is Status.WAIT and record.payload == {"n": 1}
    assert kwargs["deadline"] == record.deadline


def test_a_delayed_invocation_writes_no_message(
    fused: Client, fake_redis: fakeredis.FakeRedis
) -> None:
    rid = fused.invoke_async("hello", {"n": 1}, delay=30)
    assert queued(fake_redis, "q-hello") == []
    assert fused.celery.sent == []
    assert fake_redis.zscore(keys.sharded_for(keys.DUE, rid), rid) is not None


def test_a_source_ends_and_starts_its_functiongraph_target_in_one_script(
    fused: Client, fake_redis: fakeredis.FakeRedis
) -> None:
    fused.put_async_config("hello", {"destination_config": {"on_success": fg("next")}})
    source = fused.invoke_async("hello", {"n": 1})
    fake_redis.delete("q-hello")
    assert fused.engine.lifecycle.claim(source, urn("hello"), 0).attempts == 1
    assert end(fused, source)
    assert not end(fused, source)  # a redelivered source makes no second target
    target = target_request_id(f"{source}:success")
    [message] = queued(fake_redis, "q-next")
    assert message["headers"]["id"] == target
    assert fused.celery.sent == []
    started = fused.get_invocation(target)
    assert (started.status, started.origin) == (Status.WAIT, source)
    assert started.chain == ("urn:fss:r1:p1:function:default:hello",)
    assert started.payload["request_context"]["request_id"] == source
    [delivery] = fused.get_invocation(source).deliveries
    assert (delivery.state, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert fake_redis.zscore(keys.sharded_for(keys.OUTBOX, source), source) is None
    assert fused.store.records.children([source]) == [target]


def test_a_target_that_exists_leaves_the_source_to_the_delivery_task(
    fused: Client, fake_redis: fakeredis.FakeRedis
) -> None:
    fused.put_async_config("hello", {"destination_config": {"on_success": fg("next")}})
    source = fused.invoke_async("hello", {"n": 1})
    target = target_request_id(f"{source}:success")
    fused.invoke_async("next", {"made": "elsewhere"}, request_id=target)
    fused.engine.lifecycle.claim(source, urn("hello"), 0)
    assert end(fused, source)
    assert fused.get_invocation(source).status is Status.SUCCESS
    assert fused.get_invocation(target).payload == {"made": "elsewhere"}
    [(task, options)] = fused.celery.sent
    assert (task, options["queue"], options["task_id"]) == (
        "executor.deliver",
        DELIVERY_QUEUE,
        f"{source}:success",
    )
    [delivery] = fused.get_invocation(source).deliveries
    assert delivery.state is DeliveryStatus.PENDING
