"""SMN: SNS-compatible topics (moto over real HTTP) and signed webhook subscriptions."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

import destinations
from destinations import Delivery, PermanentDeliveryError
from destinations.smn import SMNParam, signature
from executor import ResultEvent
from executor.runtime.hops import EngineRuntime
from tests.support.destination_services import (
    HOOK_SECRET,
    TOPIC_URN,
    recorded_event,
    topic_copied_to_a_queue,
    wait_delivery,
)

pytestmark = pytest.mark.integration


def smn(topic_urn: str = TOPIC_URN) -> dict[str, object]:
    return {"destination": "SMN", "param": json.dumps({"topic_urn": topic_urn})}


def test_sns_publish_carries_the_event_and_its_attributes(dest_client, dest_env, aws, start_worker):
    sqs = aws.client("sqs")
    queue = topic_copied_to_a_queue(aws)
    dest_client.put_async_config(
        "report",
        {
            "max_async_retry_attempts": 0,
            "destination_config": {"on_success": smn(), "on_failure": smn()},
        },
    )
    start_worker("tests.apps.destination_functions:app", env=dest_env)
    ok = dest_client.invoke_async("report", {"value": 1})
    bad = dest_client.invoke_async("report", {"fail": "nope"})
    for rid in (ok, bad):
        record = wait_delivery(dest_client, rid, {"delivered", "dead-lettered"})
        assert [d.state for d in record.deliveries] == ["delivered"]

    messages = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=2
    )["Messages"]
    by_id = {json.loads(m["Body"])["request_context"]["request_id"]: m for m in messages}
    assert set(by_id) == {ok, bad}
    for rid, outcome, condition in (
        (ok, "success", "Success"),
        (bad, "failure", "RetriesExhausted"),
    ):
        message = by_id[rid]
        assert json.loads(message["Body"]) == recorded_event(dest_client, rid)
        ResultEvent.model_validate_json(message["Body"])
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert attributes == {
            "function_urn": str(dest_client.resolve("report")),
            "condition": condition,
            "event_id": f"{rid}:{outcome}",
        }


def test_webhooks_are_signed_retried_and_posted_once_each(
    dest_client, dest_env, webhook, start_worker
):
    webhook.answers["/second"] = [503, 503]
    dest_client.put_async_config("notify", {"destination_config": {"on_success": smn()}})
    start_worker("tests.apps.destination_functions:app", env=dest_env)
    rid = dest_client.invoke_async("notify", {"value": "signed"})
    record = wait_delivery(dest_client, rid, {"delivered", "dead-lettered"})
    [delivery] = record.deliveries
    assert delivery.state == "delivered"
    assert delivery.attempts == 3

    first, second = webhook.at("/first"), webhook.at("/second")
    assert len(first) == 1, "a subscription that took the event is not posted again"
    assert len(second) == 3
    for received in (*first, second[-1]):
        assert json.loads(received.body) == recorded_event(dest_client, rid)
        ResultEvent.model_validate_json(received.body)
        expected = hmac.new(HOOK_SECRET.encode(), received.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(received.headers["X-Signature"], expected)
        assert received.headers["Content-Type"] == "application/json"
        assert received.headers["X-Event-Id"] == f"{rid}:success"
        assert received.headers["X-Topic-Urn"] == TOPIC_URN
    assert signature(b"other secret", first[0].body) != first[0].headers["X-Signature"]


def test_refusals_are_dead_lettered(dest_client, dest_env, webhook, start_worker):
    """A missing SNS topic and a subscriber answering 404 are permanent: one attempt each."""
    webhook.answers["/first"] = [404]
    dest_client.put_async_config("report", {"destination_config": {"on_success": smn()}})
    dest_client.put_async_config("notify", {"destination_config": {"on_success": smn()}})
    start_worker("tests.apps.destination_functions:app", env=dest_env)
    to_sns = dest_client.invoke_async("report", {"value": 1})
    to_hooks = dest_client.invoke_async("notify", {"value": 1})
    for rid, reason in ((to_sns, "NotFound"), (to_hooks, "answered 404 Not Found")):
        [delivery] = wait_delivery(dest_client, rid, {"dead-lettered"}).deliveries
        assert delivery.attempts == 1
        assert reason in delivery.error
    assert len(webhook.at("/second")) == 1


def test_topic_without_subscription_is_refused(dest_client):
    other = "urn:smn:local-1:default:nobody-listens"
    with pytest.raises(PermanentDeliveryError, match="has no subscription in agency 'hooks'"):
        destinations.get("SMN").deliver(
            Delivery(
                identity="r:success",
                request_id="r",
                outcome="success",
                function_urn=str(dest_client.resolve("notify")),
                event={},
                param=SMNParam(topic_urn=other),
                agency="hooks",
            ),
            EngineRuntime(
                dest_client.settings,
                dest_client.engine.agencies,
                dest_client.store.markers,
                dest_client.engine.admission.invoke,
            ),
        )
