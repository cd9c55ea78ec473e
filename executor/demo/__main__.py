"""Run the demo: a private redis-server, workers, three invocations, their events; then, on a
terminal, the console with those invocations in it until Ctrl-C."""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from executor.core import extras
from executor.core.params import FUNCTION_GRAPH
from executor.ops.api_process import ApiProcess
from executor.ops.servers import RedisServer, WorkerProcess


@contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server, unless EXECUTOR_BROKER_URL names one already."""
    if os.environ.get("EXECUTOR_BROKER_URL"):
        yield os.environ["EXECUTOR_BROKER_URL"]
        return
    try:
        server = RedisServer(prefix="executor-demo-")
    except RuntimeError:
        sys.exit("redis-server is not installed: run 'make install' or set EXECUTOR_BROKER_URL")
    with server:
        print(f"started a private redis-server on port {server.port}")
        yield server.url


@contextmanager
def worker(queues: str, name: str) -> Iterator[None]:
    log = Path(tempfile.gettempdir()) / f"executor-demo-{name}.log"
    log.unlink(missing_ok=True)
    process = WorkerProcess(
        "executor.demo.functions:app",
        pool="prefork",
        concurrency=2,
        queues=queues,
        hostname=f"{name}@%h",
        log=log,
    ).start(wait=False)
    print(f"started worker {name} on {queues} (log: {log})")
    try:
        yield
    finally:
        process.stop()
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
            "destination": FUNCTION_GRAPH,
            "param": {"func_urn": str(app.client.resolve(AUDIT))},
        }
        with worker("invocations,deliveries", "main"):
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
                if sys.stdout.isatty():
                    serve_console(app.client.settings.project_id)


def serve_console(project: str) -> None:
    """``executor api`` with a fresh token, until Ctrl-C; the workers stay up meanwhile, so
    what the console redrives or invokes runs."""
    absent = extras.missing("api")
    if absent:
        print(extras.needs("the console", "api", absent))
        return
    token = secrets.token_urlsafe(12)
    log = Path(tempfile.gettempdir()) / "executor-demo-api.log"
    log.unlink(missing_ok=True)
    api = ApiProcess(
        {"EXECUTOR_API_TOKENS": f"{token}:{project}"},
        app="executor.demo.functions:app",
        log=log,
    ).start()
    print(f"\nconsole: {api.url}/console (log: {log})")
    print(f"sign in with the token {token} (project {project}); Ctrl-C stops the demo")
    try:
        while api.alive():
            time.sleep(0.5)
        print(f"the console stopped; see {log}")
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        api.stop()


def print_table(ids: dict[str, str]) -> None:
    from executor.demo.functions import app as demo

    print(f"\n{'function':10} {'request id':38} {'status':8} {'attempts':8} condition")
    for name, rid in ids.items():
        record = demo.client.get_invocation(rid)
        print(f"{name:10} {rid:38} {record.status.value:8} {record.attempts:<8} {record.condition}")


if __name__ == "__main__":
    main()
