"""Real processes for the integration tests: a private redis-server and Celery workers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: object, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """``redis-server`` on a free loopback port, in a private directory."""

    def __init__(self, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run 'make install'")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="executor-redis-")
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.dir,
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
        ]
        if self.appendonly:
            args += ["--appendfsync", "always"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(up, 10, f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """``executor worker`` in a subprocess, with its log kept for assertions and failures."""

    def __init__(
        self,
        app: str,
        env: Mapping[str, str],
        *,
        pool: str = "solo",
        concurrency: int = 2,
        queues: str | None = None,
        hostname: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.env = {**os.environ, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
        self.pool = pool
        self.concurrency = concurrency
        self.queues = queues
        self.hostname = hostname or f"w{free_port()}@%h"
        self.extra = extra
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open for the process)
            prefix="executor-worker-", suffix=".log", delete=False
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Worker:
        args = [
            sys.executable,
            "-m",
            "executor",
            "worker",
            "--app",
            self.app,
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            self.hostname,
            "--loglevel",
            "INFO",
            *self.extra,
        ]
        if self.queues:
            args += ["--queues", self.queues]
        self.proc = subprocess.Popen(
            args,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        if wait:
            wait_for(
                lambda: "ready." in self.output() or self.proc.poll() is not None,
                30,
                "worker start",
            )  # type: ignore[union-attr]
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.output()}")
        return self

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not finish."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
