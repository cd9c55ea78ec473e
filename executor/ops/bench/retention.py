"""What a flow leaves in Redis once its retention is over.

A flow is one invocation with a FunctionGraph destination and the invocation it starts (the
benchmark's ``source`` and ``sink``). With the shortest retention (60 s), ``flows`` of them run
on a private redis-server and worker; once every one has ended and been retired, the bytes
every key of the store holds (``MEMORY USAGE key SAMPLES 0``) are summed again, and what grew
is shared out over the flows. What is left are counters: fleet-wide, per function, per minute.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import redis

from executor.core.settings import Settings
from executor.ops.bench.processes import bench_worker
from executor.ops.bench.workload import SOURCE, build
from executor.ops.servers import RedisServer, wait_for
from executor.state.keys import SHARDS, STATS, sharded

RETENTION = 60


@dataclass(frozen=True)
class RetentionReport:
    flows: int
    bytes_per_flow: float
    keys_left: dict[str, int]  # new keys left after retention, by kind
    seconds: float  # from the first invocation to the last retirement


def measure(flows: int, progress: Callable[[str], None] = print) -> RetentionReport:
    server = RedisServer(prefix="executor-retention-").start()
    env = {
        "EXECUTOR_BROKER_URL": server.url,
        "EXECUTOR_STATUS_RETENTION": str(RETENTION),
        "EXECUTOR_RECONCILE_INTERVAL": "1",
    }
    worker = bench_worker(env, pool="prefork", concurrency=2, prefetch=None)
    try:
        client = build(Settings(broker_url=server.url, status_retention=RETENTION)).app.client
        rdb = server.client
        wait_for(lambda: rdb.hlen("ae:{g}:catalogue") > 0, 60, "the worker to start")
        before = _sizes(rdb)
        began = time.monotonic()
        for n in range(flows):
            client.invoke_async(SOURCE, {"n": n})
        progress(f"sent {flows:,} flows")

        def ended() -> bool:
            stats = client.store.scans.stats()
            done = sum(v for k, v in stats.items() if k.endswith("|success"))
            return done >= 2 * flows

        wait_for(ended, 120 + flows / 10, "every invocation to end", interval=1)
        progress("every invocation ended; waiting for the retention to pass")

        def retired() -> bool:
            return not any(True for _ in rdb.scan_iter(match="ae:{*}:inv:*", count=1000))

        wait_for(retired, RETENTION + 120 + flows / 100, "every invocation to retire", interval=1)
        seconds = time.monotonic() - began
        time.sleep(2)  # a list of children left in another shard goes a moment later
        after = _sizes(rdb)
    finally:
        worker.stop()
        server.close()
    grown = sum(max(0, size - before.get(key, 0)) for key, size in after.items())
    kinds = Counter(_kind(key) for key in after if key not in before)
    return RetentionReport(flows, round(grown / flows, 1), dict(kinds), round(seconds, 1))


def _sizes(rdb: redis.Redis) -> dict[str, int]:
    keys = [str(key) for key in rdb.scan_iter(match="ae:*", count=1000)]
    pipe = rdb.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return {k: int(size or 0) for k, size in zip(keys, pipe.execute(), strict=True)}


def _kind(key: str) -> str:
    """What a key is, without its shard or names: ``stats``, ``m`` (a minute's counters)."""
    if key in {sharded(STATS, s) for s in range(SHARDS)}:
        return "stats"
    return key.split("}:", 1)[-1].split(":", 1)[0]
