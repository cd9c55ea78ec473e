"""``executor api`` (and so the console) as a private process, for the bench, the demo and the
tests."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from executor.ops.servers import free_port, log_file, wait_for


class ApiProcess:
    """``executor api`` (and so the console) on a free loopback port, its output in ``log``.

    The environment is this process's with ``env`` on top; ``app`` is the ``--app`` module.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        app: str | None = None,
        cwd: str | Path | None = None,
        log: str | Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.app = app
        self.cwd = cwd
        self.log = log_file(log, "executor-api-")
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        args = [sys.executable, "-m", "executor", "api", "--host", "127.0.0.1"]
        args += ["--port", str(self.port)]
        return [*args, "--app", self.app] if self.app else args

    def start(self, timeout: float = 30) -> ApiProcess:
        """Start it and return once ``/health`` answers."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args(), env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd
            )
        wait_for(lambda: self._answers() or not self.alive(), timeout, "the API to start")
        if not self.alive():
            raise RuntimeError(f"the API exited at start:\n{self.output()}")
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # it answers, even if the store does not
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None or not self.alive():
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def close(self) -> None:
        """Stop it and remove its log."""
        self.stop()
        self.log.unlink(missing_ok=True)
