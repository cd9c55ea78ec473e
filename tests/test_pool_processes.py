"""A prefork pool process holds none of its worker's Redis connections.

A pool process forked after the worker connected (a replacement for one that died) used to keep
a copy of the main process's broker connection. When the main process then died before it, the
main process's ``BRPOP`` stayed blocked on the server, and the next message pushed to the queue
went to it: popped, delivered to no one, and in no queue.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from executor import Client
from tests.apps.hardening_functions import app as hardening_app
from tests.support.invocations import wait_status
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.hardening_functions:app"
LEASE = {"EXECUTOR_RUNNER_LEASE": "3"}


@pytest.fixture
def known(client: Client) -> Client:
    return Client(client.settings, registry=hardening_app.registry)


def local_ports(pid: int) -> set[int]:
    """The local ports of the TCP connections process ``pid`` holds."""
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in held:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_a_worker_that_dies_before_its_pool_process_takes_no_message_with_it(
    known, rdb, start_worker
):
    worker = start_worker(APP, pool="prefork", concurrency=1, env=LEASE)
    try:
        held = known.invoke_async("hold", {"seconds": 60})
        wait_for(lambda: rdb.get(f"test:pid:{held}"), 20, "the run to start")
        os.kill(int(rdb.get(f"test:pid:{held}")), signal.SIGKILL)
        # The pool forks a process in its place, which runs the invocation again.
        wait_for(lambda: int(rdb.get(f"test:runs:{held}") or 0) >= 2, 30, "the second run")
        replacement = int(rdb.get(f"test:pid:{held}"))
        # The worker's consumer waits with BRPOP; the pool process holds no copy of it.
        consumer = {
            int(c["addr"].rsplit(":", 1)[1]) for c in rdb.client_list() if c["cmd"] == "brpop"
        }
        assert consumer and consumer <= local_ports(worker.pid)
        assert not consumer & local_ports(replacement)

        os.kill(worker.pid, signal.SIGKILL)  # the main process alone: its pool process runs on
        worker.proc.wait(10)
        request_id = known.invoke_async("echo")
        start_worker(APP, pool="solo")
        record = wait_status(known, request_id, "SUCCESS", timeout=30)
        assert record.attempts == 1
    finally:
        with contextlib.suppress(ProcessLookupError):  # a pool process outlives its parent
            os.killpg(worker.pid, signal.SIGKILL)
