"""Run the demo: a private redis-server, workers, three invocations, their events."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server, unless EXECUTOR_BROKER_URL names one already."""
    if os.environ.get("EXECUTOR_BROKER_URL"):
        yield os.environ["EXECUTOR_BROKER_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: run 'make install' or set EXECUTOR_BROKER_URL")
    port, folder = _free_port(), tempfile.mkdtemp(prefix="executor-demo-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            with suppress(redis.ConnectionError):
                if redis.Redis.from_url(url).ping():
                    break
            time.sleep(0.05)
        print(f"started a private redis-server on port {port}")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def worker(queues: str, name: str) -> Iterator[None]:
    log = open(os.path.join(tempfile.gettempdir(), f"executor-demo-{name}.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "executor",
            "worker",
            "--app",
            "executor.demo.functions:app",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--queues",
            queues,
            "--hostname",
            f"{name}@%h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    print(f"started worker {name} on {queues} (log: {log.name})")
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        print(f"stopped worker {name}")


def main() -> None:
    with private_redis() as url:
        os.environ["EXECUTOR_BROKER_URL"] = url
        os.environ.setdefault("EXECUTOR_RETRY_BACKOFF_BASE", "0.5")
        os.environ.setdefault("EXECUTOR_RECONCILE_INTERVAL", "1")
        from executor.demo.functions import AUDIT, EVENTS, app

        store = app.client.store.redis
        store.delete(EVENTS)
        audit = {
            "destination": "FunctionGraph",
            "param": {"func_urn": str(app.client.resolve(AUDIT))},
        }
        with worker("executor.invocations,executor.deliveries", "main"):
            app.client.put_async_config("greet", {"destination_config": {"on_success": audit}})
            app.client.put_async_config(
                "charge",
                {"max_async_retry_attempts": 2, "destination_config": {"on_failure": audit}},
            )
            app.client.put_async_config(
                "report",
                {"max_async_event_age_in_seconds": 2, "destination_config": {"on_failure": audit}},
            )
            ids = {
                "greet": app.invoke_async("greet", {"name": "Ada"}),
                "charge": app.invoke_async("charge", {"card": "4242", "amount": 10}),
                "report": app.invoke_async("report", {"month": "2026-11"}),
            }
            for name, rid in ids.items():
                print(f"invoked {name}: request id {rid}")
            print("no worker consumes the 'batch' queue yet, so 'report' waits past its 2 s age")
            time.sleep(3)
            with worker("batch", "batch"):
                seen = 0
                deadline = time.monotonic() + 40
                while seen < len(ids) and time.monotonic() < deadline:
                    item = store.blpop([EVENTS], timeout=1)
                    if item is None:
                        continue
                    event = json.loads(item[1])
                    seen += 1
                    context = event["request_context"]
                    print(
                        f"\nresult event {seen}: {context['function_urn'].rsplit(':', 2)[1]} "
                        f"condition={context['condition'] or 'success'!r}"
                    )
                    print(json.dumps(event, indent=2))
                print_table(ids)
                if seen < len(ids):
                    sys.exit(f"only {seen} of {len(ids)} events arrived; see the worker logs")


def print_table(ids: dict[str, str]) -> None:
    from executor.demo.functions import app as demo

    print(f"\n{'function':10} {'request id':38} {'status':8} {'attempts':8} condition")
    for name, rid in ids.items():
        record = demo.client.get_invocation(rid)
        print(f"{name:10} {rid:38} {record.status.value:8} {record.attempts:<8} {record.condition}")


if __name__ == "__main__":
    main()
