"""Config writes racing from several processes never store a cycle of FunctionGraph destinations.

Each round, every process puts one edge of a cycle at the same instant (after a barrier); the
stored graph must stay acyclic, at least one put of the round must be refused, and every config
that was stored can be put again unchanged.
"""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import pytest

from executor import Client, Settings
from executor.core.errors import CycleDetected
from executor.state import keys
from tests.apps.hardening_functions import app as hardening_app

pytestmark = pytest.mark.integration

ROUNDS = 8


def _client(url: str) -> Client:
    return Client(Settings(broker_url=url, config_cache_ttl=0), registry=hardening_app.registry)


def _body(client: Client, target: str) -> dict[str, Any]:
    ref = {"destination": "FunctionGraph", "param": {"func_urn": str(client.resolve(target))}}
    return {"destination_config": {"on_success": ref}}


def _racer(url: str, source: str, target: str, barrier: Any, results: Any) -> None:
    client = _client(url)
    body = _body(client, target)
    for _ in range(ROUNDS):
        barrier.wait()
        try:
            client.put_async_config(source, body)
            results.put((source, "stored"))
        except CycleDetected:
            results.put((source, "refused"))
        barrier.wait()


def _edges(rdb: Any) -> dict[str, str]:
    edges = {}
    for urn in rdb.smembers(keys.CONFIGS):
        body = json.loads(rdb.get(keys.config_key(urn)))
        target = body["destination_config"]["on_success"]["param"]
        target = json.loads(target) if isinstance(target, str) else target
        edges[urn.split(":")[-2]] = target["func_urn"].split(":")[-2]
    return edges


def _has_cycle(edges: dict[str, str]) -> bool:
    for start in edges:
        node, seen = start, set()
        while node in edges and node not in seen:
            seen.add(node)
            node = edges[node]
            if node == start:
                return True
    return False


@pytest.mark.parametrize(("length", "per_edge"), [(2, 1), (3, 1), (5, 1), (2, 3), (3, 2), (4, 2)])
def test_racing_puts_never_store_a_cycle(redis_server, rdb, env, length, per_edge):
    functions = [f"hop{i}" for i in range(length)]
    racers = [
        (functions[i], functions[(i + 1) % length]) for i in range(length) for _ in range(per_edge)
    ]
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(racers) + 1, timeout=60)
    results = context.Queue()
    processes = [
        context.Process(target=_racer, args=(redis_server.url, s, t, barrier, results))
        for s, t in racers
    ]
    for process in processes:
        process.start()
    client = _client(redis_server.url)
    try:
        for _ in range(ROUNDS):
            barrier.wait()
            barrier.wait()
            outcomes = [results.get(timeout=30) for _ in racers]
            edges = _edges(rdb)
            assert not _has_cycle(edges), edges
            assert len(edges) == length - 1, (edges, outcomes)
            assert any(result == "refused" for _, result in outcomes)
            for source, target in edges.items():
                client.put_async_config(source, _body(client, target))
            for urn in rdb.smembers(keys.CONFIGS):
                rdb.delete(keys.config_key(urn))
            rdb.delete(keys.CONFIGS)
    finally:
        for process in processes:
            process.join(30)
    assert all(process.exitcode == 0 for process in processes)
