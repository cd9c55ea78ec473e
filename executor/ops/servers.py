"""Private processes for the tests, the benchmark and the demo: redis-server and workers.

A ``RedisServer`` is a throwaway ``redis-server`` on a free loopback port with its own
directory, never the machine's own Redis. A ``WorkerProcess`` is ``executor worker`` in its
own process group (so stopping it reaches its pool children) with its output kept in a file.
``executor api`` is ``ApiProcess`` (ops.api_process).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import redis


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    ready: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``ready`` until it is true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


class RedisServer:
    """``redis-server`` on a free loopback port, in a private directory.

    ``start`` may be called again after ``stop``: the server comes back on the same port with
    the same directory (and so, with ``appendonly``, the same data).
    """

    def __init__(
        self,
        *,
        appendonly: bool = False,
        prefix: str = "executor-redis-",
        extra: Sequence[str] = (),
    ) -> None:
        """``extra``: more ``redis-server`` arguments (``--replicaof host port``, ...)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; 'make install' installs it")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendonly = appendonly
        self.extra = tuple(extra)
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = redis.Redis.from_url(self.url, decode_responses=True)

    def start(self, timeout: float = 10) -> RedisServer:
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
        args += self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            wait_for(lambda: self._answers(probe), timeout, f"redis-server on port {self.port}")
        finally:
            probe.close()
        return self

    def _answers(self, probe: redis.Redis) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} exited at start")
        try:
            return bool(probe.ping())
        except redis.RedisError:
            return False

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("redis-server is not started")
        return self.proc.pid

    def stop(self) -> None:
        """Stop the process; its directory stays for a restart."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the server dies without a chance to write or hand anything over."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        """Stop the process and remove its directory."""
        self.stop()
        self.client.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def log_file(log: str | Path | None, prefix: str) -> Path:
    """``log``, or a new temporary file named with ``prefix``."""
    if log is None:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
        os.close(handle)
        log = name
    return Path(log)


class WorkerProcess:
    """``executor worker --app APP`` in its own process group, its output in ``log``.

    The environment is this process's with ``env`` on top. Without ``log``, a new temporary
    file is used; a restart appends to it.
    """

    def __init__(
        self,
        app: str,
        env: Mapping[str, str] | None = None,
        *,
        pool: str = "solo",
        concurrency: int = 2,
        queues: str | None = None,
        hostname: str | None = None,
        loglevel: str = "INFO",
        prefetch: int | None = None,
        extra: Sequence[str] = (),
        cwd: str | Path | None = None,
        log: str | Path | None = None,
    ) -> None:
        self.app = app
        self.env = {**os.environ, **(env or {})}
        self.pool = pool
        self.concurrency = concurrency
        self.queues = queues
        self.hostname = hostname or f"w{free_port()}@%h"
        self.loglevel = loglevel
        self.prefetch = prefetch
        self.extra = tuple(extra)
        self.cwd = cwd
        self.log = log_file(log, "executor-worker-")
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
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
            self.loglevel,
            *self.extra,
        ]
        if self.queues:
            args += ["--queues", self.queues]
        if self.prefetch:
            args += ["--prefetch", str(self.prefetch)]
        return args

    def start(self, wait: bool = True, timeout: float = 30) -> WorkerProcess:
        """Start it; with ``wait``, return once it logs that it is ready (needs INFO logs)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args(),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
            )
        if wait:
            wait_for(lambda: "ready." in self.output() or not self.alive(), timeout, "worker start")
            if not self.alive():
                raise RuntimeError(f"worker exited at start:\n{self.output()}")
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the worker is not started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM to the group), then SIGKILL if it does not finish."""
        if self.proc is None or not self.alive():
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.proc is not None and self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def close(self) -> None:
        """Stop it and remove its log."""
        self.stop()
        self.log.unlink(missing_ok=True)
