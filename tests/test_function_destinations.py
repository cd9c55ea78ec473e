"""FunctionGraph events are delivered by the worker that ends the invocation, not a queue."""

from __future__ import annotations

import json

import pytest

from executor.core.constants import DELIVERY_QUEUE
from tests.apps.functions import app
from tests.support.invocations import route, wait_status
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

# Every queue of the app's functions (the shared one and each function's own), no deliveries.
NO_DELIVERIES = ",".join(q for q in app.queues() if q != DELIVERY_QUEUE)


def test_function_destination_needs_no_delivery_queue(client, start_worker, events):
    start_worker(queues=NO_DELIVERIES)
    route(client, "hello", success="sink")
    rid = client.invoke_async("hello", {"name": "in place"})
    [event] = events(1)
    assert event["request_context"]["request_id"] == rid
    [delivery] = client.get_invocation(rid).deliveries
    assert (delivery.destination, delivery.state, delivery.attempts) == (
        "FunctionGraph",
        "delivered",
        1,
    )


def test_a_failed_delivery_in_place_goes_to_the_delivery_task(client, start_worker, rdb):
    start_worker(queues=NO_DELIVERIES)
    # A target that no worker registered: the attempt in place fails, the task takes over.
    client.put_async_config(
        "hello",
        {
            "destination_config": {
                "on_success": {
                    "destination": "FunctionGraph",
                    "param": {"func_urn": str(client.resolve("nobody-runs-this"))},
                }
            }
        },
    )
    rid = client.invoke_async("hello", {"name": "fallback"})
    wait_status(client, rid, "SUCCESS")
    wait_for(lambda: rdb.llen(DELIVERY_QUEUE) == 1, 10, "the delivery task to be queued")
    message = json.loads(rdb.lindex(DELIVERY_QUEUE, 0))
    assert message["headers"]["task"] == "executor.deliver"
    assert message["headers"]["id"] == f"{rid}:success"
    [delivery] = client.get_invocation(rid).deliveries
    assert delivery.state == "pending"
