"""``executor bench`` runs every scenario and writes its report; speed is not asserted here."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import redis

from executor.ops.bench.footprint import Send, bytes_per_message, settle
from tests.support.fleet_services import RabbitVhost, run_executor

pytestmark = pytest.mark.integration

RUN_KEYS = {
    "title",
    "n",
    "enqueue_per_s",
    "throughput_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "peak_rss_mib",
    "seconds",
    "worker_cpu_ms",
    "producer_cpu_ms",
    "redis_cpu_ms",
}


def short_run(report: Path) -> tuple[str, ...]:
    """The options of a bench run kept short, its JSON report written to ``report``."""
    return ("--warmup", "5", "--concurrency", "2", "--json", str(report))


def test_bench_writes_every_scenario_and_ratio(tmp_path: Path) -> None:
    report = tmp_path / "out" / "bench.json"
    result = run_executor("bench", "--n", "20", *short_run(report), env={}, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(report.read_text())
    assert set(data["runs"]) == {"a", "b", "c", "d", "e", "f"}
    for run in data["runs"].values():
        assert set(run) == RUN_KEYS
        assert run["n"] == 20
        assert run["throughput_per_s"] > 0
        assert run["enqueue_per_s"] > 0
        assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"]
        assert run["peak_rss_mib"] > 0
    ratios = data["ratios"]
    for name in (
        "invoke_vs_celery",
        "destination_vs_link",
        "enqueue_vs_apply_async",
        "capped_vs_invoke",
    ):
        assert ratios[name] > 0
    waiting = data["waiting_bytes"]
    assert set(waiting) == {"a", "b"}
    # A plain message alone is hundreds of bytes; an invocation holds at least as much.
    assert 300 < waiting["a"] <= waiting["b"]
    assert ratios["bytes_per_waiting_vs_celery"] == round(waiting["b"] / waiting["a"], 3)
    assert "Redis bytes waiting (b)/(a)" in result.stdout
    assert data["setup"]["rounds"] == 1
    assert "throughput (b)/(a)" in result.stdout
    assert "invoke_async -> OBS" in result.stdout


def shared_and_own_keys(rdb: redis.Redis, shards: int = 8) -> Send:
    """Messages shaped like invocations: each creates its own hash and adds to a shared queue
    and to one of ``shards`` shared sorted sets."""
    numbers = itertools.count()

    def send(n: int) -> None:
        pipe = rdb.pipeline(transaction=False)
        for i in itertools.islice(numbers, n):
            pipe.hset(f"rec:{i}", mapping={"status": "queued", "at": 1.7e9 + i})
            pipe.zadd(f"idx:{i % shards}", {f"request-{i:012d}": 1.7e9 + i})
            pipe.rpush("queue", "m" * 600)
        pipe.execute()

    return send


def test_waiting_bytes_are_the_same_for_a_few_messages_as_for_many(rdb: redis.Redis) -> None:
    found = {}
    for count in (20, 2000):
        rdb.flushdb()
        found[count] = bytes_per_message(rdb, shared_and_own_keys(rdb), count)
        assert {rdb.object("encoding", f"idx:{shard}") for shard in range(8)} == {"skiplist"}
    own = int(rdb.memory_usage("rec:0", samples=0) or 0)
    # Its own hash, 600 bytes in the queue, and an entry of an index set.
    assert own + 600 < found[20] < own + 600 + 300
    assert found[20] == pytest.approx(found[2000], rel=0.02)


def test_waiting_bytes_refuse_keys_that_stay_compact(rdb: redis.Redis) -> None:
    rdb.flushdb()
    with pytest.raises(RuntimeError, match=r"still compact \(idx:0, idx:1, "):
        settle(rdb, shared_and_own_keys(rdb), batch=10, limit=3)


def test_bench_refuses_an_unknown_scenario() -> None:
    result = run_executor("bench", "--only", "a,z", env={}, timeout=60)
    assert result.returncode != 0
    assert "unknown scenario z" in result.stderr


def test_bench_stores_compares_one_master_with_a_cluster(tmp_path: Path) -> None:
    if not RabbitVhost.available():
        pytest.fail("RabbitMQ does not answer on 127.0.0.1:5672: 'make rabbitmq' starts it")
    vhost = RabbitVhost().create()
    report = tmp_path / "stores.json"
    try:
        result = run_executor(
            "bench",
            "--stores",
            "--broker",
            vhost.url,
            "--n",
            "30",
            *short_run(report),
            env={},
            timeout=240,
        )
    finally:
        vhost.delete()
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(report.read_text())
    assert list(data) == ["1 master", "3-master cluster"]
    for run in data.values():
        assert run["n"] == 30
        assert run["throughput_per_s"] > 0
        assert 0 < run["p50_ms"] <= run["p95_ms"]
    assert "| 3-master cluster |" in result.stdout


def test_bench_stores_needs_a_rabbitmq_broker() -> None:
    result = run_executor("bench", "--stores", "--broker", "redis://h:1/0", env={}, timeout=60)
    assert result.returncode == 2
    assert "must be a RabbitMQ URL" in result.stderr
