"""A destination that stays down: one delivery chain per event, dead-lettered once, then quiet.

The stream destination points at a closed port, so every attempt fails as a temporary error.
The reconciler runs every half second with an outbox grace far below the delivery deadline, so
it would re-send the event many times over if it did not see the live chain.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from executor import Client, Settings
from executor.core.invocation import DeliveryStatus
from executor.state.keys import chain_key
from tests.apps.hardening_functions import app as hardening_app
from tests.support.services import free_port, wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.hardening_functions:app"


@pytest.fixture
def down_env(env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    agencies = tmp_path / "down.toml"
    agencies.write_text(
        f'[agencies.writer.dis]\nmaxlen = 100\nredis_url = "redis://127.0.0.1:{free_port()}/0"\n'
    )
    return {**env, "EXECUTOR_AGENCY_FILE": str(agencies)}


def reporting_to_a_dead_stream(settings: Settings, down_env: dict[str, str]) -> Client:
    """A client whose ``report`` function sends each success to the stream that is down."""
    client = Client(
        settings.model_copy(update={"agency_file": down_env["EXECUTOR_AGENCY_FILE"]}),
        registry=hardening_app.registry,
    )
    stream = {"destination": "DIS", "param": json.dumps({"stream_name": "down"})}
    client.put_async_config(
        "report", {"max_async_retry_attempts": 0, "destination_config": {"on_success": stream}}
    )
    return client


def _passes(client: Client) -> int:
    return client.store.scans.stats().get("reconcile_passes", 0)


@pytest.mark.parametrize(
    ("deadline", "grace", "events", "workers"),
    [(3, 0.5, 1, 1), (5, 1, 3, 2), (4, 2, 2, 1)],
)
def test_one_chain_per_event_dead_lettered_once(
    down_env, settings, rdb, start_worker, deadline, grace, events, workers
):
    extra = {
        **down_env,
        "EXECUTOR_DELIVERY_DEADLINE": str(deadline),
        "EXECUTOR_OUTBOX_GRACE": str(grace),
    }
    fleet = [start_worker(APP, pool="prefork", concurrency=2, env=extra) for _ in range(workers)]
    client = reporting_to_a_dead_stream(settings, down_env)
    ids = [client.invoke_async("report", {"n": n}) for n in range(events)]

    def delivery(request_id: str) -> Any:
        return client.store.deliveries.state(request_id, "success")

    def all_dead() -> bool:
        return all(
            (d := delivery(r)) is not None and d.state is DeliveryStatus.DEAD_LETTERED for r in ids
        )

    wait_for(all_dead, deadline + 30, "every event to be dead-lettered", 0.1)
    # A barrier, not a pause: the reconciler passes again over more than one outbox grace, and
    # the delivery queue drains; a re-send or a late attempt would have happened by then.
    passes = _passes(client)
    wait_for(lambda: _passes(client) >= passes + int(grace / 0.5) + 3, 30, "reconciler passes")
    wait_for(lambda: rdb.llen("executor.deliveries") == 0, 10, "the delivery queue to drain")

    logs = "".join(worker.output() for worker in fleet)
    assert client.store.scans.stats()["dead_letters"] == events
    assert client.store.dead_letters.count() == events
    for request_id in ids:
        identity = f"{request_id}:success"
        state = delivery(request_id)
        retries = len(re.findall(rf"delivery of {identity} to DIS failed", logs))
        dead = len(re.findall(rf"event {identity} dead-lettered", logs))
        assert dead == 1, logs
        assert f"re-sent the success event of {request_id}" not in logs
        # one chain: every attempt but the last asked for a retry, and the record counts each
        assert retries == state.attempts - 1 >= 1
        record = client.get_invocation(request_id)
        assert record.ended_at is not None
        assert state.updated_at <= record.ended_at + deadline + 2
        assert state.state is DeliveryStatus.DEAD_LETTERED


def test_lost_chain_is_resent_once_with_the_first_deadline(down_env, settings, rdb, start_worker):
    """A chain whose message is lost (here: the queue is emptied) is re-sent by the reconciler
    once its next attempt is overdue; the deadline still counts from the first attempt, and a
    replaced chain stops."""
    extra = {
        **down_env,
        "EXECUTOR_DELIVERY_DEADLINE": "10",
        "EXECUTOR_OUTBOX_GRACE": "0.5",
        "EXECUTOR_SOFT_TIME_LIMIT": "1",
        "EXECUTOR_TIME_LIMIT": "1.5",
    }
    client = reporting_to_a_dead_stream(settings, down_env)
    runner = start_worker(APP, pool="solo", queues="invocations", env=extra)
    request_id = client.invoke_async("report", {"n": 1})
    wait_for(lambda: rdb.llen("executor.deliveries") == 1, 20, "the delivery task to be queued")
    first_at = json.loads(rdb.hget(chain_key(f"{request_id}:success"), "first_at"))
    rdb.delete("executor.deliveries")
    deliverer = start_worker(APP, pool="prefork", concurrency=2, queues="deliveries", env=extra)

    def dead() -> bool:
        state = client.store.deliveries.state(request_id, "success")
        return state is not None and state.state is DeliveryStatus.DEAD_LETTERED

    wait_for(dead, 40, "the re-sent chain to dead-letter the event", 0.1)
    logs = runner.output() + deliverer.output()
    # Until the delivery worker is up, each re-sent chain may look lost too and be replaced;
    # whatever the number of re-sends, one chain made the attempts and dead-lettered once.
    assert logs.count(f"re-sent the success event of {request_id}") >= 1
    assert logs.count(f"event {request_id}:success dead-lettered") == 1
    state = client.store.deliveries.state(request_id, "success")
    assert state is not None and state.updated_at <= first_at + 10 + 2
    # A busy machine may start the new chain past the deadline: then it makes one attempt.
    retries = logs.count(f"delivery of {request_id}:success to DIS failed")
    assert retries == state.attempts - 1
    assert client.store.scans.stats()["dead_letters"] == 1
