"""The shared process helpers, up to the point where a process would start."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import pytest

from executor.ops import servers
from executor.ops.servers import RedisServer, WorkerProcess, free_port, wait_for


def test_a_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_wait_for_returns_once_ready_and_names_what_it_waited_for() -> None:
    calls = iter([False, False, True])
    wait_for(lambda: next(calls), 5, "the third call", interval=0.001)
    with pytest.raises(TimeoutError, match=r"timed out after 0.05 s waiting for the moon"):
        wait_for(lambda: False, 0.05, "the moon", interval=0.01)


def test_a_missing_redis_server_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="redis-server is not installed; 'make install'"):
        RedisServer()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the binary's path only")
def test_a_redis_server_gets_its_own_port_and_directory_before_it_starts() -> None:
    first, second = RedisServer(), RedisServer(prefix="executor-unit-")
    try:
        assert first.port != second.port
        assert first.url == f"redis://127.0.0.1:{first.port}/0"
        assert Path(second.dir).name.startswith("executor-unit-")
        assert first.proc is None
        with pytest.raises(RuntimeError, match="not started"):
            _ = first.pid
    finally:
        first.close()
        second.close()
    assert not Path(first.dir).exists()


def test_a_worker_command_carries_every_option(tmp_path: Path) -> None:
    worker = WorkerProcess(
        "mod:app",
        {"EXECUTOR_X": "1"},
        pool="prefork",
        concurrency=3,
        queues="a,b",
        hostname="h@%h",
        loglevel="WARNING",
        prefetch=4,
        extra=("--without-heartbeat",),
        log=tmp_path / "w.log",
    )
    assert worker.args() == [
        sys.executable,
        "-m",
        "executor",
        "worker",
        "--app",
        "mod:app",
        "--pool",
        "prefork",
        "--concurrency",
        "3",
        "--hostname",
        "h@%h",
        "--loglevel",
        "WARNING",
        "--without-heartbeat",
        "--queues",
        "a,b",
        "--prefetch",
        "4",
    ]
    assert worker.env["EXECUTOR_X"] == "1"
    assert "PATH" in worker.env
    assert (worker.alive(), worker.output()) == (False, "")
    worker.stop()
    worker.kill()


def test_a_worker_without_a_log_gets_its_own_file_which_close_removes() -> None:
    worker = WorkerProcess("mod:app")
    assert worker.log.exists()
    assert worker.hostname.endswith("@%h")
    assert "--queues" not in worker.args()
    assert "--prefetch" not in worker.args()
    worker.close()
    assert not worker.log.exists()
