"""The processes a benchmark starts and watches: an S3 server, and the CPU and memory of each.

redis-server and workers are the shared ones of ``executor.ops.servers``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import boto3
import psutil

from executor.ops.servers import WorkerProcess, free_port, wait_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Server:
    """A moto server: the local S3-compatible endpoint of the OBS scenario."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, 30, f"the S3 server on port {self.port}")

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def _client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )

    def create_bucket(self, name: str) -> None:
        self._client().create_bucket(Bucket=name)

    def count(self, bucket: str) -> int:
        """How many objects the bucket holds."""
        pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sum(page.get("KeyCount", 0) for page in pages)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def bench_worker(
    env: Mapping[str, str], *, pool: str, concurrency: int, prefetch: int | None
) -> WorkerProcess:
    """``executor worker`` on the benchmark app, started; it says it is ready in the store."""
    return WorkerProcess(
        "executor.ops.bench.worker:app",
        env,
        pool=pool,
        concurrency=concurrency,
        prefetch=prefetch,
        loglevel="WARNING",
        hostname=f"bench{free_port()}@%h",
    ).start(wait=False)


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its live children."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class MemorySampler:
    """The peak resident memory of a process and all its children, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._loop, name="bench-memory", daemon=True)
        self._thread.start()

    def _sample(self) -> int:
        total = 0
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self._interval)

    def stop(self) -> int:
        """Stop sampling; the peak in bytes."""
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())
        return self.peak
