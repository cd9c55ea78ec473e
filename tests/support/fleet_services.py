"""Real processes and probes for the fleet tests: Flower, RabbitMQ vhosts, metrics, memory."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from executor.core.invocation import Status
from executor.state.keys import record_key
from tests.support.services import ROOT, free_port, wait_for

TERMINAL = {Status.SUCCESS.value, Status.FAIL.value, Status.DISCARD.value}


def executor_env(env: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONPATH": str(ROOT)}


def run_executor(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the ``executor`` command as an operator would, and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "executor", *args],
        env=executor_env(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def http_get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")


class Flower:
    """``executor flower`` in a subprocess on a free port."""

    def __init__(self, env: Mapping[str, str], app: str = "tests.apps.functions:app") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open for the process)
            prefix="executor-flower-", suffix=".log"
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "executor",
                "flower",
                "--app",
                app,
                "--port",
                str(self.port),
                "--address",
                "127.0.0.1",
            ],
            env=executor_env(env),
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> Flower:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"flower exited:\n{self.output()}")
            try:
                return http_get(f"{self.url}/healthcheck")[0] == 200
            except OSError:
                return False

        wait_for(up, timeout, "flower to answer")
        return self

    def wait_receiving(self, auth: tuple[str, str], timeout: float = 30) -> None:
        """Wait until a worker's heartbeat reaches Flower: its event receiver is bound."""

        def receiving() -> bool:
            status, text = http_get(f"{self.url}/metrics", auth)
            return status == 200 and "flower_worker_online{" in text

        wait_for(receiving, timeout, "flower to receive worker events", interval=0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus endpoint, keyed by name and sorted labels."""
    status, text = http_get(url)
    assert status == 200, text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def wait_port(port: int, timeout: float = 20) -> None:
    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, timeout, f"port {port}")


def statuses(rdb: redis.Redis, request_ids: Iterable[str]) -> list[str]:
    pipe = rdb.pipeline(transaction=False)
    for rid in request_ids:
        pipe.hget(record_key(rid), "status")
    return [s.decode() if isinstance(s, bytes) else (s or "") for s in pipe.execute()]


def wait_terminal(rdb: redis.Redis, request_ids: list[str], timeout: float) -> list[str]:
    """Wait until every invocation has ended; returns their final statuses."""
    deadline = time.monotonic() + timeout
    found = statuses(rdb, request_ids)
    while time.monotonic() < deadline:
        found = statuses(rdb, request_ids)
        if all(s in TERMINAL for s in found):
            return found
        time.sleep(0.2)
    waiting = sum(s not in TERMINAL for s in found)
    raise TimeoutError(f"{waiting} of {len(request_ids)} invocations did not end in {timeout}s")


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        current = todo.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page
        except OSError:
            continue
        todo.extend(children.get(current, ()))
    return total


class RssSampler:
    """Samples the resident memory of process trees in a thread; keeps the peak of their sum."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.pids: list[int] = []
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, pid: int) -> None:
        self.pids.append(pid)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def sample(self) -> int:
        """The current sum; it counts towards the peak too."""
        now = sum(tree_rss(pid) for pid in list(self.pids))
        self.peak = max(self.peak, now)
        return now

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


class RabbitVhost:
    """A private vhost on the machine's RabbitMQ, deleted afterwards."""

    def __init__(self) -> None:
        self.name = f"executor-test-{uuid.uuid4().hex[:8]}"
        self.url = f"amqp://guest:guest@127.0.0.1:5672/{self.name}"

    @staticmethod
    def available() -> bool:
        if shutil.which("rabbitmqctl") is None:
            return False
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", 5672)) == 0

    def _ctl(self, *args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    def create(self) -> RabbitVhost:
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        return self

    def delete(self) -> None:
        self._ctl("delete_vhost", self.name)


def raw_message(rdb: redis.Redis, queue: str) -> dict[str, Any]:
    """The oldest message waiting in a Redis broker queue, as kombu stored it."""
    raw = rdb.lindex(queue, -1)
    assert raw is not None, f"no message in {queue}"
    return dict(json.loads(raw))
