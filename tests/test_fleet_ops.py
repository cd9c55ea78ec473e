"""Operating a fleet: health checks, routing to dedicated workers, the one reconciler pass per
period, structured logs and the Prometheus metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.apps.fleet_functions import DONE
from tests.support.fleet_services import (
    executor_env,
    run_executor,
    scrape,
    wait_port,
    wait_terminal,
)
from tests.support.services import ROOT, free_port, stat, wait_for

pytestmark = pytest.mark.integration

APP = "tests.apps.fleet_functions:app"
SECRET = "tok-9f8e7d-must-not-be-logged"


def test_health_passes_when_broker_store_and_worker_answer(env, start_worker):
    start_worker(APP, hostname="probe@%h")
    result = run_executor("health", "--node", "probe@%h", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ok", "ok", "ok"]
    assert "probe@" in lines[2]


def test_health_fails_when_the_local_worker_does_not_answer(env):
    result = run_executor("health", "--node", "absent@%h", "--timeout", "1", env=env)
    assert result.returncode == 1
    assert "FAIL worker" in result.stdout
    assert "did not answer a ping" in result.stdout


def test_health_fails_when_the_state_store_is_down(env):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = run_executor(
        "health", "--no-worker", "--json", "--timeout", "1", env={**env, "EXECUTOR_REDIS_URL": dead}
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("broker", True),
        ("state store", False),
    ]


def test_health_fails_when_the_broker_is_down(env):
    dead = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = run_executor(
        "health",
        "--timeout",
        "1",
        env={**env, "EXECUTOR_BROKER_URL": dead, "EXECUTOR_REDIS_URL": dead},
    )
    assert result.returncode == 1
    assert "FAIL broker" in result.stdout
    assert "not pinged" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_a_function_pinned_to_its_queue_runs_only_on_its_dedicated_worker(
    client, rdb, start_worker
):
    general = start_worker(APP, queues="invocations,deliveries")
    dedicated = start_worker(APP, queues="heavy")
    light = [client.invoke_async("tick", {"n": i}) for i in range(3)]
    heavy = [client.invoke_async("crunch", {"n": i}) for i in range(3)]
    assert wait_terminal(rdb, light + heavy, 30) == ["SUCCESS"] * 6
    assert all(f"fn:default:crunch:latest[{rid}]" in dedicated.output() for rid in heavy)
    assert not any(rid in dedicated.output() for rid in light)
    assert not any(rid in general.output() for rid in heavy)


def test_many_workers_make_one_reconcile_pass_per_period(env, rdb, start_worker):
    interval = 0.3
    for _ in range(3):
        start_worker(APP, env={"EXECUTOR_RECONCILE_INTERVAL": str(interval)})

    def passes() -> int:
        return stat(rdb, "reconcile_passes")

    first, started = passes(), time.monotonic()
    time.sleep(4)
    made, elapsed = passes() - first, time.monotonic() - started
    # The lease lasts 0.9 of a period: no two passes start closer than that, whichever worker
    # runs them. Three workers without the lease would make about 3 * elapsed / interval.
    most = elapsed / (0.9 * interval) + 1
    print(f"\nreconciler: 3 workers, {made} passes in {elapsed:.1f}s (at most {most:.0f})")
    assert 1 <= made <= most


def test_json_logs_carry_request_id_and_urn_but_no_payload(client, rdb, start_worker):
    worker = start_worker(APP, pool="prefork", env={"EXECUTOR_LOG_FORMAT": "json"})
    rid = client.invoke_async("chatty", {"token": SECRET})
    assert wait_terminal(rdb, [rid], 30) == ["SUCCESS"]
    worker.stop()
    text = [line for line in worker.output().splitlines() if line.strip()]
    # Celery's signal handlers write their shutdown notices straight to stderr.
    assert all(line.startswith("worker: ") for line in text if not line.startswith("{"))
    lines = [json.loads(line) for line in text if line.startswith("{")]
    urn = str(client.resolve("chatty"))
    mine = [line for line in lines if line.get("request_id") == rid]
    assert all(line["function_urn"] == urn for line in mine)
    messages = [line["message"] for line in mine]
    assert "working on attempt 2" in messages  # the handler's own context.logger
    assert any("retry 1 of 1" in m for m in messages)  # the engine's retry decision
    assert any(m.endswith("received") for m in messages)  # Celery's own lines
    assert SECRET not in worker.output()


def test_metrics_count_per_function_and_destination_fleet_wide(env, client, rdb, start_worker):
    port = free_port()
    start_worker(APP, queues="invocations,deliveries", env={"EXECUTOR_METRICS_PORT": str(port)})
    wait_port(port)
    client.put_async_config(
        "chatty",
        {
            "max_async_retry_attempts": 1,
            "destination_config": {
                "on_success": {
                    "destination": "FunctionGraph",
                    "param": {"func_urn": str(client.resolve("tick"))},
                }
            },
        },
    )
    ticks = [client.invoke_async("tick", {"n": i}) for i in range(3)]
    chatty = client.invoke_async("chatty", {})
    # Nothing consumes "heavy" here: these wait in the broker.
    waiting = [client.invoke_async("crunch", {}) for _ in range(2)]
    client.cancel(waiting[0])
    assert wait_terminal(rdb, [*ticks, chatty], 30) == ["SUCCESS"] * 4
    wait_for(lambda: rdb.hlen(DONE) == 4, 30, "the destination's tick")

    tick, chat, crunch = (str(client.resolve(n)) for n in ("tick", "chatty", "crunch"))
    samples = scrape(f"http://127.0.0.1:{port}/metrics")

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("executor_state_store_up") == 1
    assert value("executor_broker_up") == 1
    assert value("executor_invocations_accepted_total", function=tick) == 4
    assert value("executor_invocations_finished_total", function=tick, status="SUCCESS") == 4
    assert value("executor_invocations_accepted_total", function=chat) == 1
    assert value("executor_invocation_retries_total", function=chat) == 1
    assert value("executor_invocations_finished_total", function=chat, status="FAIL") == 0
    assert value("executor_deliveries_total", destination="FunctionGraph", state="delivered") == 1
    assert value("executor_invocations_finished_total", function=crunch, status="DISCARD") == 1
    assert value("executor_invocations_in_flight", function=crunch) == 1
    assert value("executor_queue_depth", queue="heavy") == 2
    assert value("executor_queue_depth", queue="executor.invocations") == 0
    assert value("executor_oldest_waiting_seconds", function=crunch) > 0
    assert value("executor_oldest_waiting_seconds", function=tick) == 0
    assert value("executor_orphans_redriven_total") == 0

    # The standalone exporter reads the same fleet-wide counters.
    other = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "executor", "metrics", "--app", APP, "--port", str(other)],
        env=executor_env(env),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(other)
        again = scrape(f"http://127.0.0.1:{other}/metrics")
    finally:
        exporter.terminate()
        exporter.wait(10)
    key = ("executor_invocations_accepted_total", (("function", tick),))
    assert again[key] == samples[key]
