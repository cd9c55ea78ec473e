"""``executor invoke --request-id/--delay``, ``invocations cancel --recursive`` and
``invocations redrive``, run as a user runs them, against a real worker."""

from __future__ import annotations

import json

import pytest

from tests.support.invocations import wait_status

pytestmark = pytest.mark.integration

APP = "tests.apps.control_functions:app"


def test_invoke_with_request_id_and_delay_then_recursive_cancel(run, client, start_worker):
    start_worker(APP).stop()
    rid = run("invoke", "tally", "--payload", '{"n": 1}', "--request-id", "job-1", "--delay", "60")
    assert rid.stdout.strip() == "job-1"
    assert (
        run("invoke", "tally", "--payload", '{"n": 1}', "--request-id", "job-1").stdout.strip()
        == "job-1"
    )
    conflict = run("invoke", "tally", "--payload", '{"n": 2}', "--request-id", "job-1", ok=False)
    assert conflict.stderr.startswith("error FSS.1409:")
    bad = run("invoke", "tally", "--delay", "4000", ok=False)
    assert "error FSS.0400: delay must be between 0 and 3600" in bad.stderr
    child = client.invoke_async("tally", {"n": 3}, delay=60, origin="job-1")
    shown = json.loads(run("invocations", "show", "job-1", "--json").stdout)
    assert shown["status"] == "WAIT" and shown["due_at"] > shown["enqueued_at"] + 59
    cancelled = json.loads(run("invocations", "cancel", "job-1", "--recursive").stdout)
    assert cancelled["status"] == "DISCARD"
    assert cancelled["cancelled"] == ["job-1", child]


def test_redrive_by_id_and_by_function(run, client, start_worker, rdb):
    start_worker(APP)
    failed = [client.invoke_async("gate", {"n": n}) for n in range(5)]
    for rid in failed:
        wait_status(client, rid, "FAIL")
    first = f"{failed[0]}.r1"
    one = json.loads(run("invocations", "redrive", failed[0]).stdout)
    assert one == {"redriven": {failed[0]: first}, "refused": {}}
    wait_status(client, first, "FAIL")  # the gate is still closed
    rdb.set("test:gate", "open")
    bulk = run(
        "invocations",
        "redrive",
        "--function",
        "gate",
        "--status",
        "FAIL",
        "--since",
        "2020-01-01T00:00:00",
    )
    answer = json.loads(bulk.stdout)
    # failed[0] and its failed redrive are listed both, and redriven once, as the second
    expected = {rid: f"{rid}.r1" for rid in failed[1:]} | {failed[0]: f"{failed[0]}.r2"}
    assert answer == {"redriven": expected, "refused": {}}
    assert "5/5" in bulk.stderr  # the progress bar's last state
    for rid in {*expected.values()}:
        wait_status(client, rid, "SUCCESS")
    assert rdb.hgetall("test:gate:runs") == {"0": "3", "1": "2", "2": "2", "3": "2", "4": "2"}
    again = run("invocations", "redrive", failed[1], ok=False)
    assert "succeeded; nothing to redrive" in json.loads(again.stdout)["refused"][failed[1]]
    neither = run("invocations", "redrive", ok=False)
    assert "name request ids, or give --function" in neither.stderr
