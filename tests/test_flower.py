"""Flower, run by ``executor flower``, sees invocations and deliveries but never their payloads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from destinations.functiongraph import target_request_id
from executor import Client, Settings
from executor.core.constants import CONDITION_RETRIES_EXHAUSTED
from tests.support.fleet_services import Flower, http_get, raw_message, run_executor
from tests.support.invocations import queued, wait_status
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

USER, PASSWORD = "ops", "s3cret-pw"
SECRET = "card-4111-1111"
# Celery's parent process reports a retry when the attempt returns, and Flower takes a retry
# over any other state: a retry that runs and succeeds first would be shown as RETRY. Retries
# half a second away keep the reports in order.
SPACED_RETRIES = {"EXECUTOR_RETRY_BACKOFF_BASE": "1", "EXECUTOR_RETRY_BACKOFF_MAX": "2"}


def test_flower_refuses_to_start_without_credentials(env):
    result = run_executor("flower", "--app", "tests.apps.functions:app", "--port", "1", env=env)
    assert result.returncode == 1
    assert "EXECUTOR_FLOWER_BASIC_AUTH" in result.stderr


def test_flower_finds_invocations_with_payloads_masked(env, client, start_worker):
    start_worker(pool="prefork", concurrency=2, env=SPACED_RETRIES)
    flower = Flower({**env, "EXECUTOR_FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"})
    try:
        flower.wait_ready()
        flower.wait_receiving((USER, PASSWORD))
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
        hello = client.invoke_async("hello", {"name": SECRET})
        # flaky fails once: its retry is a new message that Celery builds from the request.
        flaky = client.invoke_async("flaky", {"fail_times": 1, "card": SECRET})
        # A FunctionGraph event is delivered in place: Flower sees it as the sink's invocation.
        delivery = target_request_id(f"{hello}:success")

        def info(task_id: str) -> dict[str, object]:
            status, body = http_get(f"{flower.url}/api/task/info/{task_id}", (USER, PASSWORD))
            return json.loads(body) if status == 200 else {}

        def seen() -> bool:
            return all(info(t).get("state") == "SUCCESS" for t in (hello, flaky, delivery))

        wait_for(seen, 30, "flower to see the invocations succeed", interval=0.3)
        shown = {task_id: info(task_id) for task_id in (hello, flaky, delivery)}
        assert shown[hello]["name"] == "fn:default:hello:latest"
        assert shown[flaky]["name"] == "fn:default:flaky:latest"
        assert shown[delivery]["name"] == "fn:default:sink:latest"
        assert "<masked>" in str(shown[hello]["kwargs"])
        assert "<masked>" in str(shown[flaky]["kwargs"])
        assert all(SECRET not in json.dumps(task) for task in shown.values())

        status, _ = http_get(f"{flower.url}/api/tasks")
        assert status == 401
        status, _ = http_get(f"{flower.url}/api/tasks", (USER, "wrong"))
        assert status == 401
        assert PASSWORD not in " ".join(flower.proc.args)  # type: ignore[arg-type]
    finally:
        flower.stop()


@pytest.mark.parametrize("show", [False, True])
def test_payloads_in_task_headers_follow_the_setting(settings, rdb, start_worker, show):
    start_worker(queues="heavy")  # publishes the catalogue; consumes nothing of the default queue
    producer = Client(Settings(**{**settings.model_dump(), "show_payloads": show}))
    producer.invoke_async("hello", {"name": SECRET})
    headers = raw_message(rdb, producer.lookup(producer.resolve("hello")).queue)["headers"]
    assert (SECRET in headers["kwargsrepr"]) is show
    assert headers["task"] == "fn:default:hello:latest"


@pytest.fixture
def flower(env) -> Iterator[Flower]:
    """``executor flower`` with basic auth, once it answers."""
    running = Flower({**env, "EXECUTOR_FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"})
    try:
        yield running.wait_ready()
    finally:
        running.stop()


def task_info(flower: Flower) -> Callable[[str], dict[str, Any]]:
    def info(task_id: str) -> dict[str, Any]:
        status, body = http_get(f"{flower.url}/api/task/info/{task_id}", (USER, PASSWORD))
        return json.loads(body) if status == 200 else {}

    return info


@pytest.mark.parametrize(("pool", "retries"), [("prefork", 2), ("solo", 1)])
def test_flower_states_follow_the_status_records(
    env, client, rdb, start_worker, flower, pool, retries
):
    start_worker().stop()  # publishes the catalogue, then no worker hears the revoke below
    client.put_async_config("boom", {"max_async_retry_attempts": retries})
    cancelled = client.invoke_async("hello", {"name": SECRET})
    client.cancel(cancelled)
    worker = start_worker(pool=pool, concurrency=2, env=SPACED_RETRIES)
    failed = client.invoke_async("boom", {"card": SECRET})
    succeeded = client.invoke_async("hello", {"name": "ok"})
    info = task_info(flower)

    wanted = {cancelled: "REVOKED", failed: "FAILURE", succeeded: "SUCCESS"}

    def seen() -> bool:
        return all(info(t).get("state") == state for t, state in wanted.items())

    wait_for(seen, 40, f"flower to show {wanted}", interval=0.3)
    shown = info(failed)
    assert shown["name"] == "fn:default:boom:latest"
    assert shown["exception"] == "ValueError('always fails')"
    assert shown["retries"] == retries
    assert SECRET not in json.dumps(shown)

    # The record is the task's own FAIL, not a platform failure written over it by the hook.
    record = wait_status(client, failed, "FAIL")
    assert record.attempts == retries + 1
    assert record.condition == CONDITION_RETRIES_EXHAUSTED
    assert record.error_code == CONDITION_RETRIES_EXHAUSTED
    assert record.error_message == "ValueError: always fails"
    assert [t.status.value for t in record.history if t.status][-1] == "FAIL"
    assert not any("platform" in t.note for t in record.history)
    assert client.get_invocation(cancelled).status.value == "DISCARD"
    assert client.get_invocation(succeeded).status.value == "SUCCESS"

    # Acknowledged, never run again: the queue and the unacked set drain, the runs stay put.
    def drained() -> bool:
        return queued(rdb) == 0 and rdb.hlen("unacked") == 0

    wait_for(drained, 20, "every message acknowledged")
    assert int(rdb.get(f"test:runs:{failed}")) == retries + 1
    assert "raised unexpected: ValueError('always fails')" in worker.output()
