from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_success_reaches_function_destination(client, start_worker, events):
    start_worker()
    client.put_async_config(
        "hello",
        {
            "destination_config": {
                "on_success": {
                    "destination": "FunctionGraph",
                    "param": {"func_urn": str(client.resolve("sink"))},
                }
            }
        },
    )
    rid = client.invoke_async("hello", {"name": "ann"})
    [event] = events(1)
    assert event["request_context"]["request_id"] == rid
    assert event["response_payload"] == {"greeting": "hello ann", "attempt": 1}
