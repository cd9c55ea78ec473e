"""Retention with a real worker: what can be shown is what is listed, until both are gone.

The shortest retention there is (60 s), invocations that end long after they were accepted
(delayed ones, retried ones), the events they hand to FunctionGraph destinations and the
calls they make from their handlers: each is listed exactly as long as it can be read, and
once retired nothing of it is left but counters.
"""

from __future__ import annotations

import time

import pytest
import redis

from executor import Client
from executor.core.errors import InvocationNotFound
from tests.support.invocations import route, wait_status

pytestmark = pytest.mark.integration

RETENTION = 60
# Keys that count (fleet-wide, per function, per minute), and the leases of periodic work:
# none belongs to an invocation.
SHARED = (":stats", ":m:", ":t:", ":lock:")


def shown(client: Client, request_id: str) -> bool:
    try:
        client.get_invocation(request_id)
    except InvocationNotFound:
        return False
    return True


def listed(client: Client, functions: list[str]) -> set[str]:
    found: set[str] = set()
    for function in functions:
        page = client.list_invocations(function, limit=500)
        assert page.next_marker is None
        found.update(i.request_id for i in page.invocations)
    return found


def test_each_invocation_is_listed_exactly_as_long_as_it_can_be_shown(
    client: Client, start_worker, rdb: redis.Redis
) -> None:
    start_worker(env={"EXECUTOR_STATUS_RETENTION": str(RETENTION)})
    route(client, "flaky", success="sink")
    before = set(rdb.keys("ae:*"))
    started = [client.invoke_async("flaky", {"fail_times": 1}) for _ in range(8)]
    started += [client.invoke_async("hello", {"n": n}, delay=3) for n in range(8)]
    started += [client.invoke_async("ping", {"tag": f"t{n}"}) for n in range(4)]
    for request_id in started:
        wait_status(client, request_id, "SUCCESS", timeout=60)
    every = set(started)
    for request_id in started:
        every.update(client.children(request_id))
    assert len(every) == len(started) + 12  # a sink for each flaky, a pong for each ping
    for request_id in every:
        wait_status(client, request_id, "SUCCESS", timeout=60)
    functions = ["flaky", "hello", "ping", "sink", "pong"]

    seen_gone: set[str] = set()
    deadline = time.monotonic() + RETENTION + 60
    while time.monotonic() < deadline:
        # Read between two looks: what could be shown before and after the listing must be
        # listed; what could not be shown before it must not be (once gone, it stays gone).
        before_listing = {rid for rid in every if shown(client, rid)}
        in_listings = listed(client, functions) & every
        after_listing = {rid for rid in every if shown(client, rid)}
        assert before_listing & after_listing <= in_listings
        assert in_listings <= before_listing
        seen_gone |= every - after_listing
        if seen_gone == every:
            break
        time.sleep(0.25)
    assert seen_gone == every, f"{len(every - seen_gone)} not retired"

    left = sorted(set(rdb.keys("ae:*")) - before)
    assert [key for key in left if not any(part in key for part in SHARED)] == []
    for key in rdb.keys("ae:*"):
        assert not any(request_id in key for request_id in every), key
