"""One master against a Redis Cluster of three as the state store, side by side.

The broker is RabbitMQ (kombu has no Redis Cluster transport); the workload is
``invoke_async`` of a no-op function (scenario b). Each round starts a fresh store of each kind
and a fresh worker, sends a warm-up batch, then ``n`` invocations from one producer, and waits
until every one has run. The stores take turns, so a slow spell of a shared machine falls on
both; figures are medians over the rounds.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

from executor.core.settings import Settings
from executor.ops.bench.cluster import LocalCluster
from executor.ops.bench.processes import bench_worker
from executor.ops.bench.report import percentile
from executor.ops.bench.scenarios import SCENARIOS
from executor.ops.bench.workload import DONE_KEY, READY_KEY, build
from executor.ops.servers import RedisServer, wait_for
from executor.state.connection import connect

Progress = Callable[[str, bool], None]
STORES = ("1 master", "3-master cluster")


@dataclass(frozen=True)
class StoreRun:
    store: str
    n: int
    enqueue_per_s: float
    throughput_per_s: float
    p50_ms: float
    p95_ms: float


def compare_stores(
    *,
    broker: str,
    n: int,
    rounds: int,
    warmup: int,
    pool: str,
    concurrency: int,
    progress: Progress,
    timeout: float = 600.0,
) -> dict[str, StoreRun]:
    """Medians per store over ``rounds`` rounds."""
    if not broker.startswith("amqp://"):
        raise ValueError("--broker must be a RabbitMQ URL (amqp://...), ideally a private vhost")
    runs: dict[str, list[StoreRun]] = {store: [] for store in STORES}
    for number in range(1, rounds + 1):
        for store in STORES:
            label = f"round {number}/{rounds} {store}"
            runs[store].append(
                _one(store, broker, n, warmup, pool, concurrency, label, progress, timeout)
            )
    return {store: _median(store, n, found) for store, found in runs.items()}


def _one(
    store: str,
    broker: str,
    n: int,
    warmup: int,
    pool: str,
    concurrency: int,
    label: str,
    progress: Progress,
    timeout: float,
) -> StoreRun:
    server = RedisServer(prefix="executor-bench-redis-").start() if store == STORES[0] else None
    cluster = LocalCluster(masters=3) if server is None else None
    try:
        env = {"EXECUTOR_BROKER_URL": broker}
        if cluster is not None:
            env |= {"EXECUTOR_REDIS_MODE": "cluster", "EXECUTOR_REDIS_URL": cluster.url}
        else:
            env |= {"EXECUTOR_REDIS_URL": cast("RedisServer", server).url}
        settings = Settings(**{k.removeprefix("EXECUTOR_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]
        store_client = connect(settings)
        workload = build(settings)
        send = SCENARIOS["b"].send
        worker = bench_worker(env, pool=pool, concurrency=concurrency, prefetch=None)
        progress(f"{label}: starting a worker", False)
        try:
            wait_for(
                lambda: bool(store_client.exists(READY_KEY)) or not worker.alive(), 60, "worker"
            )
            if not worker.alive():
                raise RuntimeError(f"the benchmark worker exited:\n{worker.output()}")

            def wait_done(count: int) -> None:
                deadline = time.monotonic() + timeout
                while int(store_client.llen(DONE_KEY)) < count:
                    if not worker.alive() or time.monotonic() > deadline:
                        raise RuntimeError(f"{label}: the worker stopped or timed out")
                    time.sleep(0.05)

            for i in range(warmup):
                send(workload, {"i": i})
            wait_done(warmup)
            store_client.delete(DONE_KEY)
            progress(f"{label}: sending {n}", False)
            started: dict[str, float] = {}
            first = time.time()
            for i in range(n):
                at = time.time()
                started[send(workload, {"i": i})] = at
            sent = time.time()
            wait_done(n)
        finally:
            worker.stop()
        done: dict[str, float] = {}
        for entry in cast("list[str]", store_client.lrange(DONE_KEY, 0, -1)):
            root, _, finished = entry.partition(" ")
            done.setdefault(root, float(finished))
        latencies = [(done[r] - started[r]) * 1000 for r in started if r in done]
        progress(f"{label}: {len(done)}/{n} done", True)
        return StoreRun(
            store=store,
            n=n,
            enqueue_per_s=round(n / (sent - first), 1),
            throughput_per_s=round(n / (max(done.values()) - first), 1),
            p50_ms=round(percentile(latencies, 50), 2),
            p95_ms=round(percentile(latencies, 95), 2),
        )
    finally:
        if server is not None:
            server.close()
        if cluster is not None:
            cluster.close()


def _median(store: str, n: int, runs: list[StoreRun]) -> StoreRun:
    def mid(field: str) -> float:
        return round(float(statistics.median(float(getattr(r, field)) for r in runs)), 2)

    return StoreRun(
        store=store,
        n=n,
        enqueue_per_s=mid("enqueue_per_s"),
        throughput_per_s=mid("throughput_per_s"),
        p50_ms=mid("p50_ms"),
        p95_ms=mid("p95_ms"),
    )


def table(found: dict[str, StoreRun]) -> str:
    lines = [
        "| state store | enqueue/s | invocations/s | p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in found.values():
        lines.append(
            f"| {run.store} | {run.enqueue_per_s} | {run.throughput_per_s} | "
            f"{run.p50_ms} | {run.p95_ms} |"
        )
    return "\n".join(lines)


def write(found: dict[str, StoreRun], path: Path) -> None:
    path.write_text(json.dumps({k: asdict(v) for k, v in found.items()}, indent=2) + "\n")
