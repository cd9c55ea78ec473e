"""Run the scenarios one after another against one private redis-server.

Each scenario gets a fresh worker (same pool, concurrency and prefetch) on a flushed Redis,
a warm-up batch that is not measured, then ``n`` messages sent as fast as one producer can.
Latency runs from just before a message is sent to the ``task_postrun`` of the last task of
its flow; throughput from the first send to the last completion. With several rounds the
scenarios take turns, so a slow spell of a shared machine falls on all of them alike, and
each figure and ratio is the median over the rounds.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from executor.core.settings import Settings
from executor.ops.bench.footprint import bytes_per_message
from executor.ops.bench.processes import MemorySampler, S3Server, bench_worker, tree_cpu_seconds
from executor.ops.bench.report import (
    Report,
    Run,
    Setup,
    median_ratios,
    median_run,
    percentile,
    waiting_ratio,
)
from executor.ops.bench.scenarios import SCENARIOS, Scenario
from executor.ops.bench.workload import DONE_KEY, OBS_AGENCY, OBS_BUCKET, READY_KEY, Workload, build
from executor.ops.servers import RedisServer, WorkerProcess, wait_for

Progress = Callable[[str, bool], None]
# How many flows of a measured batch completed: label, done, total.
Counter = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Options:
    n: int = 2000
    pool: str = "prefork"
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    prefetch: int | None = None
    only: Sequence[str] = tuple(SCENARIOS)
    warmup: int = 50
    rounds: int = 1
    timeout: float = 600.0


class Bench:
    def __init__(
        self, options: Options, progress: Progress, counter: Counter | None = None
    ) -> None:
        unknown = [key for key in options.only if key not in SCENARIOS]
        if unknown:
            raise ValueError(
                f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
            )
        self.options = options
        self.progress = progress
        self.counter = counter
        self._s3: S3Server | None = None

    def run(self) -> Report:
        options = self.options
        rounds: list[dict[str, Run]] = []
        with tempfile.TemporaryDirectory(prefix="executor-bench-") as scratch:
            server = RedisServer(prefix="executor-bench-redis-").start()
            try:
                env = {"EXECUTOR_BROKER_URL": server.url, "EXECUTOR_REDIS_URL": server.url}
                if any(SCENARIOS[key].needs_s3 for key in options.only):
                    self._s3 = S3Server()
                    self._s3.create_bucket(OBS_BUCKET)
                    env["EXECUTOR_AGENCY_FILE"] = _agency_file(Path(scratch), self._s3.url)
                workload = build(Settings(broker_url=server.url, redis_url=server.url))
                waiting = self._waiting_bytes(workload, server)
                for number in range(1, options.rounds + 1):
                    prefix = f"round {number}/{options.rounds} " if options.rounds > 1 else ""
                    rounds.append(
                        {
                            key: self._scenario(SCENARIOS[key], workload, server, env, prefix)
                            for key in options.only
                        }
                    )
            finally:
                if self._s3 is not None:
                    self._s3.close()
                server.close()
        setup = Setup(
            cpus=os.cpu_count() or 1,
            pool=options.pool,
            concurrency=options.concurrency,
            prefetch=options.prefetch,
            n=options.n,
            warmup=options.warmup,
            rounds=options.rounds,
            worker="fresh worker per scenario",
        )
        runs = {key: median_run([r[key] for r in rounds]) for key in options.only}
        ratios = median_ratios(rounds).model_copy(
            update={"bytes_per_waiting_vs_celery": waiting_ratio(waiting)}
        )
        return Report(runs=runs, ratios=ratios, setup=setup, rounds=rounds, waiting_bytes=waiting)

    def _waiting_bytes(self, workload: Workload, server: RedisServer) -> dict[str, float]:
        """Redis bytes per message of (a) and (b) waiting in the queue, no worker running:
        everything each leaves in Redis until it runs (message, record, history, indexes)."""
        rdb, count = server.client, min(self.options.n, 2000)
        found: dict[str, float] = {}
        for key in ("a", "b"):
            if key not in self.options.only:
                continue
            rdb.flushdb()
            send = functools.partial(self._send, SCENARIOS[key], workload)
            found[key] = bytes_per_message(rdb, send, count)
            self.progress(f"Redis bytes per waiting message ({key}): {found[key]:,.0f}", True)
        rdb.flushdb()
        return found

    def _scenario(
        self,
        scenario: Scenario,
        workload: Workload,
        server: RedisServer,
        env: dict[str, str],
        prefix: str,
    ) -> Run:
        options, rdb = self.options, server.client
        label = f"{prefix}({scenario.key}) {scenario.title}"
        rdb.flushdb()
        stored = self._s3.count(OBS_BUCKET) if scenario.needs_s3 and self._s3 else 0
        worker = bench_worker(
            env, pool=options.pool, concurrency=options.concurrency, prefetch=options.prefetch
        )
        self.progress(f"{label}: starting a worker", False)
        try:
            wait_for(lambda: bool(rdb.exists(READY_KEY)) or not worker.alive(), 60, "the worker")
            if not worker.alive():
                raise RuntimeError(f"the benchmark worker exited:\n{worker.output()}")
            sampler = MemorySampler(worker.pid)
            try:
                self._send(scenario, workload, options.warmup)
                self._wait(server, options.warmup, label + ": warm-up", worker)
                rdb.delete(DONE_KEY)
                cpu = self._cpu(worker, server)
                started, first, sent_at = self._send(scenario, workload, options.n)
                producer_cpu = time.process_time() - cpu[1]
                done = self._wait(server, options.n, label, worker)
                worker_cpu, _, redis_cpu = (
                    after - before
                    for after, before in zip(self._cpu(worker, server), cpu, strict=True)
                )
            finally:
                peak = sampler.stop()
        finally:
            worker.close()
        if scenario.needs_s3 and self._s3 is not None:
            written = self._s3.count(OBS_BUCKET) - stored
            if written != options.warmup + options.n:
                raise RuntimeError(
                    f"{label}: {written} events reached the bucket, "
                    f"expected {options.warmup + options.n}"
                )
        latencies = [(done[rid] - started[rid]) * 1000 for rid in started if rid in done]
        last = max(done.values())
        return Run(
            title=scenario.title,
            n=options.n,
            enqueue_per_s=round(options.n / (sent_at - first), 1),
            throughput_per_s=round(options.n / (last - first), 1),
            p50_ms=round(percentile(latencies, 50), 2),
            p95_ms=round(percentile(latencies, 95), 2),
            p99_ms=round(percentile(latencies, 99), 2),
            peak_rss_mib=round(peak / 2**20, 1),
            seconds=round(last - first, 3),
            worker_cpu_ms=round(worker_cpu * 1000 / options.n, 3),
            producer_cpu_ms=round(producer_cpu * 1000 / options.n, 3),
            redis_cpu_ms=round(redis_cpu * 1000 / options.n, 3),
        )

    @staticmethod
    def _cpu(worker: WorkerProcess, server: RedisServer) -> tuple[float, float, float]:
        """CPU seconds so far of the worker tree, this producer, and redis-server."""
        return (
            tree_cpu_seconds(worker.pid),
            time.process_time(),
            tree_cpu_seconds(server.pid),
        )

    @staticmethod
    def _send(
        scenario: Scenario, workload: Workload, n: int
    ) -> tuple[dict[str, float], float, float]:
        """Send ``n`` messages; their send times by root id, the first send and the last."""
        started: dict[str, float] = {}
        send = scenario.send
        first = time.time()
        for i in range(n):
            at = time.time()
            started[send(workload, {"i": i})] = at
        return started, first, time.time()

    def _wait(
        self, server: RedisServer, n: int, label: str, worker: WorkerProcess
    ) -> dict[str, float]:
        """Completion times by root id, once ``n`` flows completed."""
        rdb = server.client
        deadline = time.monotonic() + self.options.timeout
        shown = -1
        while (count := int(rdb.llen(DONE_KEY))) < n:
            if not worker.alive():
                raise RuntimeError(f"the benchmark worker exited:\n{worker.output()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{label}: only {count} of {n} completed within {self.options.timeout:.0f} s"
                )
            if count != shown:
                self._count(label, count, n)
                shown = count
            time.sleep(0.05)
        self._count(label, n, n)
        self.progress(f"{label}: {n}/{n} done", True)
        done: dict[str, float] = {}
        for entry in cast("list[str]", rdb.lrange(DONE_KEY, 0, -1)):
            root, _, at = entry.partition(" ")
            done.setdefault(root, float(at))
        return done

    def _count(self, label: str, done: int, total: int) -> None:
        if self.counter is not None:
            self.counter(label, done, total)
        elif done < total:
            self.progress(f"{label}: {done}/{total} done", False)


def _agency_file(directory: Path, endpoint: str) -> str:
    """The agency that grants the OBS scenario the local S3 server (which takes any keys)."""
    path = directory / "agencies.toml"
    path.write_text(
        f"[agencies.{OBS_AGENCY}.obs]\n"
        f'endpoint_url = "{endpoint}"\n'
        'access_key_id = "bench"\n'
        'secret_access_key = "bench"\n'
        'addressing_style = "path"\n',
        encoding="utf-8",
    )
    return str(path)
