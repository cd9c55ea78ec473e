"""What the integration tests share about invocations: fast settings for the workers, where
the ``sink`` function records events, routes between test functions, and waits on statuses and
queues."""

from __future__ import annotations

import time
from typing import Any

import redis

from executor import Client
from executor.core.constants import DELIVERY_QUEUE, INVOCATION_QUEUE
from tests.support.services import wait_for

EVENTS_KEY = "test:events"
# Where kombu's Redis transport keeps the messages a worker took and has not acknowledged yet.
UNACKED = "unacked"

FAST = {
    "EXECUTOR_RETRY_BACKOFF_BASE": "0.05",
    "EXECUTOR_RETRY_BACKOFF_MAX": "0.4",
    "EXECUTOR_RECONCILE_INTERVAL": "0.5",
    "EXECUTOR_RECONCILE_GRACE": "0.5",
    "EXECUTOR_CONFIG_CACHE_TTL": "0.2",
}


def route(
    client: Client,
    function: str,
    *,
    success: str | None = None,
    failure: str | None = None,
    **policy: Any,
) -> None:
    """Store ``function``'s async config with FunctionGraph destinations to other functions."""
    side: dict[str, Any] = {}
    if success:
        side["on_success"] = {
            "destination": "FunctionGraph",
            "param": {"func_urn": str(client.resolve(success))},
        }
    if failure:
        side["on_failure"] = {
            "destination": "FunctionGraph",
            "param": {"func_urn": str(client.resolve(failure))},
        }
    client.put_async_config(function, {**policy, "destination_config": side})


def wait_status(client: Client, request_id: str, *statuses: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        record = client.get_invocation(request_id)
        if record.status.value in statuses:
            return record
        time.sleep(0.05)
    raise AssertionError(
        f"{request_id} still {record.status if record else None}, wanted {statuses}"
    )


def queued(rdb: Any) -> int:
    """Messages waiting in the invocation queues: the shared one and every function's own."""
    return sum(int(rdb.llen(q)) for q in rdb.scan_iter(match=f"{INVOCATION_QUEUE}*", _type="list"))


def drained(rdb: redis.Redis) -> bool:
    """No message waits in a queue (the shared one or a function's own), and no worker holds
    one (running, or due for a retry)."""
    return queued(rdb) + rdb.llen(DELIVERY_QUEUE) + rdb.hlen(UNACKED) == 0


def barrier(client: Client, rdb: redis.Redis, timeout: float = 20.0) -> None:
    """Return once everything queued so far has been handled, to assert what did not happen.

    A follow-up invocation must end first, and then no message may wait in any queue or be
    held by a worker.
    """
    rid = client.invoke_async("barrier")
    wait_status(client, rid, "SUCCESS", timeout=timeout)
    wait_for(lambda: drained(rdb), timeout, "the queues to drain")
