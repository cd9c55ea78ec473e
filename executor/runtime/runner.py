"""This process as the runner of invocations: who it is, and the heartbeat of its claims.

A running claim names its runner (host, process id and a token of the process) and holds a
lease. One thread per process renews the leases of every invocation the process is running, so
a lease lapses only when its runner stops; a duplicate message that finds a live lease is a
duplicate, not a lost worker. On the runner's own host a dead process is known at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from executor.state.leases import Leases

log = logging.getLogger("executor.runner")


def runner_gone(runner: str) -> bool:
    """True when ``runner`` ran on this host and its process no longer exists."""
    host, _, rest = runner.partition("|")
    pid = rest.partition("|")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Runner:
    """The identity and heartbeat of this process; see the module's docstring."""

    def __init__(self, leases: Leases, lease: float) -> None:
        self.leases = leases
        self.lease = lease
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._pid = 0
        self._identity = ""

    @property
    def identity(self) -> str:
        """``host|pid|token``, fresh in each process (a pool child forks from its parent)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._identity = f"{socket.gethostname()}|{self._pid}|{uuid.uuid4().hex[:12]}"
            self._running = set()
            self._lock = threading.Lock()
            threading.Thread(target=self._beat, name="executor-heartbeat", daemon=True).start()
        return self._identity

    def lease_until(self, now: float) -> float:
        return now + self.lease

    @contextmanager
    def running(self, request_id: str) -> Iterator[None]:
        """Keep the claim of ``request_id`` alive while the block runs."""
        self.identity  # noqa: B018 (starts the heartbeat of this process)
        with self._lock:
            self._running.add(request_id)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(request_id)

    def _beat(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(self.lease / 3)
            with self._lock:
                ids = list(self._running)
            if not ids:
                continue
            try:
                self.leases.renew(ids, self._identity, time.time() + self.lease)
            except Exception as exc:  # the next beat tries again; a lapse only risks a rerun
                log.warning("could not renew the leases of %d invocations: %s", len(ids), exc)
