"""A state store written by the unsharded layout is refused at start, and left as it was."""

from __future__ import annotations

import pytest

from executor.core.errors import InvocationNotFound, StoreLayoutMismatch
from executor.state.keys import LAYOUT, LAYOUT_KEY
from tests.support.fleet_services import run_executor

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("legacy", ["ae:stats", "ae:deadlines"])
def test_a_store_of_the_previous_layout_is_refused_untouched(legacy, env, rdb, client):
    rdb.zadd(legacy, {"old-id": 1.0}) if legacy == "ae:deadlines" else rdb.hset(legacy, "f", 3)
    rdb.hset("ae:inv:old-id", mapping={"status": "WAIT", "urn": "u"})
    before = sorted(rdb.keys("*"))
    done = run_executor("worker", "--app", "tests.apps.functions:app", "--pool", "solo", env=env)
    assert done.returncode == 1
    assert f"previous, unsharded layout ({legacy}, ...)" in done.stderr
    assert "FLUSHDB" in done.stderr
    with pytest.raises(StoreLayoutMismatch):
        client.get_invocation("old-id")
    assert sorted(rdb.keys("*")) == before


def test_an_empty_store_is_marked_with_the_layout(client, rdb):
    with pytest.raises(InvocationNotFound):
        client.get_invocation("nothing-here")
    assert rdb.get(LAYOUT_KEY) == LAYOUT
