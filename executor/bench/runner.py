"""Run the scenarios one after another against one private redis-server.

Each scenario gets a fresh worker (same pool, concurrency and prefetch) on a flushed Redis,
a warm-up batch that is not measured, then ``n`` messages sent as fast as one producer can.
Latency runs from just before a message is sent to the ``task_postrun`` of the last task of
its flow; throughput from the first send to the last completion.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from executor.bench.processes import MemorySampler, RedisServer, S3Server, WorkerProcess, wait_for
from executor.bench.report import Report, Run, Setup, percentile, ratios
from executor.bench.scenarios import SCENARIOS, Scenario
from executor.bench.workload import DONE_KEY, READY_KEY, Workload, build
from executor.settings import Settings

Progress = Callable[[str, bool], None]


@dataclass(frozen=True)
class Options:
    n: int = 2000
    pool: str = "prefork"
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    prefetch: int | None = None
    only: Sequence[str] = tuple(SCENARIOS)
    warmup: int = 50
    timeout: float = 600.0


class Bench:
    def __init__(self, options: Options, progress: Progress) -> None:
        unknown = [key for key in options.only if key not in SCENARIOS]
        if unknown:
            raise ValueError(
                f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
            )
        self.options = options
        self.progress = progress

    def run(self) -> Report:
        options = self.options
        redis_server = RedisServer()
        s3: S3Server | None = None
        try:
            env = {"EXECUTOR_BROKER_URL": redis_server.url, "EXECUTOR_REDIS_URL": redis_server.url}
            if any(SCENARIOS[key].needs_s3 for key in options.only):
                s3 = S3Server()
                env.update(_obs_env(s3.url))
                os.environ.update(env)
            workload = build(Settings(broker_url=redis_server.url, redis_url=redis_server.url))
            runs = {
                key: self._scenario(SCENARIOS[key], workload, redis_server, env)
                for key in options.only
            }
        finally:
            if s3 is not None:
                s3.close()
            redis_server.close()
        setup = Setup(
            cpus=os.cpu_count() or 1,
            pool=options.pool,
            concurrency=options.concurrency,
            prefetch=options.prefetch,
            n=options.n,
            warmup=options.warmup,
            worker="fresh worker per scenario",
        )
        return Report(runs=runs, ratios=ratios(runs), setup=setup)

    def _scenario(
        self, scenario: Scenario, workload: Workload, server: RedisServer, env: dict[str, str]
    ) -> Run:
        options, rdb = self.options, server.client
        label = f"({scenario.key}) {scenario.title}"
        rdb.flushdb()
        worker = WorkerProcess(
            env, pool=options.pool, concurrency=options.concurrency, prefetch=options.prefetch
        )
        self.progress(f"{label}: starting a worker", False)
        try:
            wait_for(lambda: bool(rdb.exists(READY_KEY)) or not worker.alive(), 60, "the worker")
            if not worker.alive():
                raise RuntimeError(f"the benchmark worker exited:\n{worker.output()}")
            sampler = MemorySampler(worker.proc.pid)
            try:
                self._send(scenario, workload, options.warmup)
                self._wait(server, options.warmup, label + ": warm-up", worker)
                rdb.delete(DONE_KEY)
                started, first, sent_at = self._send(scenario, workload, options.n)
                done = self._wait(server, options.n, label, worker)
            finally:
                peak = sampler.stop()
        finally:
            worker.stop()
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
                self.progress(f"{label}: {count}/{n} done", False)
                shown = count
            time.sleep(0.05)
        self.progress(f"{label}: {n}/{n} done", True)
        done: dict[str, float] = {}
        for entry in cast("list[str]", rdb.lrange(DONE_KEY, 0, -1)):
            root, _, at = entry.partition(" ")
            done.setdefault(root, float(at))
        return done


def _obs_env(endpoint: str) -> dict[str, str]:
    """How the OBS destination reaches the local S3 server (credentials moto accepts)."""
    return {
        "EXECUTOR_OBS_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
