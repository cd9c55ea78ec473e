"""The message a state-store script writes equals what Celery's ``send_task`` writes.

Field by field, except what is new for every message (its delivery tag, the milliseconds left
until it expires, the event's clock and time), so a Celery or kombu release that changes the
format fails here rather than in production.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import signals

from executor import Client, Settings
from executor.core.messages import InvocationMessage
from executor.runtime.celery.app import FunctionApp

pytestmark = pytest.mark.integration


def _app(settings: Settings) -> FunctionApp:
    app = FunctionApp(settings)

    @app.function("shape")
    def shape(event: Any, context: Any) -> None:
        return None

    return app


def _decoded(raw: str) -> dict[str, Any]:
    message = dict(json.loads(raw))
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


@pytest.fixture
def channel(rdb: redis.Redis) -> Iterator[Any]:
    pubsub = rdb.pubsub()
    pubsub.psubscribe("*celeryev*")
    assert pubsub.get_message(timeout=2)["type"] == "psubscribe"
    yield pubsub
    pubsub.close()


def _published(pubsub: Any) -> tuple[str, dict[str, Any]]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = pubsub.get_message(timeout=0.5)
        if found and found["type"] == "pmessage":
            return str(found["channel"]), _decoded(found["data"])
    raise AssertionError("no task-sent event was published")


def _without(message: dict[str, Any], *paths: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(message))
    for path in paths:
        *parents, leaf = path.split(".")
        node = copy
        for part in parents:
            node = node[part]
        node.pop(leaf)
    return copy


@pytest.mark.parametrize("show", [False, True])
@pytest.mark.parametrize("payload", [{"n": 1}, ["ü", 2.5, None], "text"])
def test_fused_message_and_event_equal_what_send_task_writes(settings, rdb, channel, show, payload):
    app = _app(settings.model_copy(update={"show_payloads": show}))
    client = app.client
    entry = client.lookup(client.resolve("shape"))
    now = time.time()
    message = InvocationMessage(
        payload=payload,
        urn=entry.urn,
        chain=("a", "b"),
        enqueued_at=now,
        deadline=now + 321.5,
        origin="from-somewhere",
        in_record=True,
    )
    client.engine.publisher.invocation(entry, "same-id", message)
    expected = _decoded(rdb.rpop(entry.queue))
    expected_channel, expected_event = _published(channel)

    queued = client.engine.publisher.fused(entry, "same-id", message)
    assert queued is not None
    assert queued.queue == entry.queue
    assert queued.channel == expected_channel
    fused = _decoded(queued.message)
    event = _decoded(queued.event)

    assert fused["body"] == expected["body"]
    assert fused["headers"] == expected["headers"]
    assert ("<masked>" in fused["headers"]["kwargsrepr"]) is not show
    assert abs(int(fused["properties"]["expiration"]) - 321_500) < 5_000
    per_message = ("properties.delivery_tag", "properties.expiration")
    assert _without(fused, *per_message) == _without(expected, *per_message)
    assert fused["properties"]["delivery_tag"] != expected["properties"]["delivery_tag"]

    assert event["body"]["clock"] > expected_event["body"]["clock"]
    assert event["body"]["timestamp"] >= expected_event["body"]["timestamp"]
    per_event = ("body.clock", "body.timestamp", "properties.delivery_tag")
    assert _without(event, *per_event) == _without(expected_event, *per_event)


SECRET_REPR = "never-shown"


def test_accept_writes_record_and_message_in_one_script(settings, rdb, channel):
    app = _app(settings)
    queue = app.client.lookup(app.client.resolve("shape")).queue
    calls: list[str] = []
    original = app.client.engine.publisher.invocation
    app.client.engine.publisher.invocation = lambda *a, **k: (
        calls.append("celery") or original(*a, **k)
    )  # type: ignore[method-assign]
    rid = app.client.invoke_async("shape", {"k": SECRET_REPR})
    assert calls == []
    record = app.client.get_invocation(rid)
    assert record.payload == {"k": SECRET_REPR}
    message = _decoded(rdb.lindex(queue, -1))
    assert message["headers"]["id"] == rid
    assert "payload" not in message["body"][1]
    assert SECRET_REPR not in json.dumps(message)
    _, event = _published(channel)
    assert event["body"]["uuid"] == rid
    # The same id and payload again is the same invocation: nothing more is queued. A given
    # id goes through its own script, which also writes the record and message together.
    assert app.client.invoke_async("shape", {"k": SECRET_REPR}, request_id=rid) == rid
    assert rdb.llen(queue) == 1
    given = app.client.invoke_async("shape", {"k": 5}, request_id="given-id")
    assert calls == []
    assert _decoded(rdb.lindex(queue, 0))["headers"]["id"] == given
    assert app.client.get_invocation(given).payload == {"k": 5}
    assert app.client.invoke_async("shape", {"k": 5}, request_id="given-id") == given
    assert rdb.llen(queue) == 2


def test_publish_signal_receivers_keep_messages_in_celerys_publisher(settings, rdb):
    app = _app(settings)
    seen: list[str] = []

    def receiver(sender: Any = None, headers: Any = None, **_: Any) -> None:
        seen.append(headers["id"])

    signals.before_task_publish.connect(receiver)
    try:
        rid = app.client.invoke_async("shape", {"k": 2})
    finally:
        signals.before_task_publish.disconnect(receiver)
    assert seen == [rid]
    queue = app.client.lookup(app.client.resolve("shape")).queue
    assert _decoded(rdb.lindex(queue, -1))["headers"]["id"] == rid


@pytest.mark.parametrize(
    ("change", "transport"),
    [
        ({"broker_url": "redis://127.0.0.1:1/0"}, {}),
        ({}, {"global_keyprefix": "tenant:"}),
        ({}, {"priority_steps": [0, 5]}),
    ],
)
def test_other_brokers_and_options_are_not_fused(settings, change, transport):
    changed = settings.model_copy(update={"redis_url": settings.broker_url, **change})
    client = Client(changed)
    if transport:
        client.celery.conf.broker_transport_options = {
            **client.celery.conf.broker_transport_options,
            **transport,
        }
    assert client.engine.publisher.routes.available() is False


def test_another_database_of_the_same_server_is_not_fused(settings):
    other = settings.broker_url.rsplit("/", 1)[0] + "/3"
    client = Client(
        settings.model_copy(update={"broker_url": other, "redis_url": settings.broker_url})
    )
    assert client.engine.publisher.routes.available() is False
    assert Client(settings).engine.publisher.routes.available() is True


def test_queue_with_priority_is_not_fused(settings):
    from kombu import Queue

    app = _app(settings)
    entry = app.client.lookup(app.client.resolve("shape"))
    app.celery.conf.task_queues = [Queue(entry.queue, max_priority=5)]
    assert app.client.engine.publisher.routes.available() is True
    assert app.client.engine.publisher.routes.route(entry.task, entry.queue) is None


def test_without_task_sent_events_nothing_is_published(settings, rdb, channel):
    app = _app(settings)
    app.celery.conf.task_send_sent_event = False
    entry = app.client.lookup(app.client.resolve("shape"))
    route = app.client.engine.publisher.routes.route(entry.task, entry.queue)
    assert route is not None
    assert route.channel == ""
    rid = app.client.invoke_async("shape", {"k": 3})
    assert _decoded(rdb.lindex(entry.queue, -1))["headers"]["id"] == rid
    # A later invocation with events on is the barrier: its event is the first one seen.
    app.celery.conf.task_send_sent_event = True
    app.client.engine.publisher.routes._routes.clear()
    later = app.client.invoke_async("shape", {"k": 4})
    _, event = _published(channel)
    assert event["body"]["uuid"] == later
