"""Every hop adds one entry to the call chain, whatever the hop: a chain of FunctionGraph
destinations and a chain of ``context.invoke_async`` calls both stop at exactly
``EXECUTOR_MAX_CHAIN_DEPTH`` functions."""

from __future__ import annotations

import pytest

from executor import Client
from tests.apps.hardening_functions import CHAIN_LENGTH
from tests.apps.hardening_functions import app as hardening_app
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.hardening_functions:app"


@pytest.mark.parametrize("depth", [1, 3, 5, 16])
def test_both_kinds_of_chain_stop_at_the_maximum_depth(settings, rdb, start_worker, depth):
    assert depth < CHAIN_LENGTH
    env = {"EXECUTOR_MAX_CHAIN_DEPTH": str(depth)}
    start_worker(APP, pool="prefork", concurrency=2, env=env)
    client = Client(
        settings.model_copy(update={"max_chain_depth": depth}), registry=hardening_app.registry
    )
    for index in range(CHAIN_LENGTH - 1):
        target = {"func_urn": str(client.resolve(f"hop{index + 1}"))}
        client.put_async_config(
            f"hop{index}",
            {
                "destination_config": {
                    "on_success": {"destination": "FunctionGraph", "param": target}
                }
            },
        )
    client.invoke_async("hop0", {"tag": "graph"})
    client.invoke_async("call0", {"tag": "calls"})

    def last(tag: str) -> str | None:
        return rdb.get(f"test:hop:{tag}:{depth - 1}")

    def graph_dropped() -> bool:
        rid = last("graph")
        if rid is None:
            return False
        deliveries = client.get_invocation(rid).deliveries
        return bool(deliveries) and deliveries[0].state == "dropped"

    def calls_dropped() -> bool:
        rid = last("calls")
        return rid is not None and client.get_invocation(rid).cycle_drops == 1

    # The drop recorded on the last function is the barrier: nothing ran after it.
    wait_for(graph_dropped, 60, "the FunctionGraph chain to be cut", 0.1)
    wait_for(calls_dropped, 60, "the invoke_async chain to be cut", 0.1)
    assert rdb.lrange("test:hops:graph", 0, -1) == [str(i) for i in range(depth)]
    assert rdb.lrange("test:hops:calls", 0, -1) == [str(i) for i in range(depth)]
    graph_last = client.get_invocation(last("graph"))
    assert len(graph_last.chain) == depth - 1
    assert f"would be {depth + 1} calls deep" in graph_last.deliveries[0].error
    assert len(client.get_invocation(last("calls")).chain) == depth - 1
