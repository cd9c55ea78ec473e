"""An invocation whose message is gone (lost by the broker, or acknowledged after a run that
recorded no outcome) is published again, and only then."""

from __future__ import annotations

import time

import pytest

from executor.state.keys import record_key
from tests.apps.fleet_functions import DONE, STARTED
from tests.support.fleet_services import wait_terminal
from tests.support.invocations import UNACKED
from tests.support.services import stat, wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.fleet_functions:app"


def test_a_message_lost_by_the_broker_is_published_again(client, rdb, start_worker):
    # This worker reconciles; nothing consumes "heavy", where crunch's messages wait.
    start_worker(APP, queues="invocations,deliveries", env={"EXECUTOR_ORPHAN_GRACE": "1"})
    rid = client.invoke_async("crunch", {"n": 1})

    def passes() -> int:
        return stat(rdb, "reconcile_passes")

    time.sleep(1.5)  # past the grace: only the message in the queue keeps it from a re-publish
    seen = passes()
    wait_for(lambda: passes() >= seen + 2, 10, "two reconcile passes")
    assert rdb.llen("heavy") == 1
    assert stat(rdb, "orphans_redriven") == 0

    rdb.delete("heavy")  # what a Redis restart between BRPOP and the worker's bookkeeping does
    wait_for(lambda: stat(rdb, "orphans_redriven") == 1, 10, "the re-publish")
    assert rdb.llen("heavy") == 1

    start_worker(APP, queues="heavy")
    assert wait_terminal(rdb, [rid], 20) == ["SUCCESS"]
    assert rdb.hget(STARTED, rid) == "1"
    assert rdb.hget(DONE, rid) == "1"
    assert stat(rdb, "orphans_redriven") == 1


def test_a_run_that_ended_without_its_outcome_runs_again(client, rdb, start_worker):
    fast = {"EXECUTOR_ORPHAN_GRACE": "1", "EXECUTOR_RUNNER_LEASE": "3"}
    first = start_worker(APP, queues="heavy", env=fast)
    rid = client.invoke_async("crunch", {"n": 1, "seconds": 30})
    wait_for(lambda: rdb.hget(STARTED, rid) == "1", 20, "the first run")
    first.kill()
    # What an acknowledgement sent for a run whose outcome was never written leaves behind:
    # the record RUNNING under a dead runner, and no message anywhere.
    rdb.delete(UNACKED, f"{UNACKED}_index")
    assert rdb.llen("heavy") == 0

    start_worker(APP, queues="invocations,deliveries,heavy", env=fast)
    wait_for(lambda: stat(rdb, "orphans_redriven") == 1, 20, "the re-publish")
    assert wait_terminal(rdb, [rid], 60) == ["SUCCESS"]
    assert rdb.hget(STARTED, rid) == "2"
    assert rdb.hget(DONE, rid) == "1"
    assert rdb.hget(record_key(rid), "crashes") == "1"
