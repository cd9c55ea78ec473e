"""The ``executor`` command, run as a user runs it, against a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.apps.functions import app as functions_app
from tests.support.fleet_services import run_executor
from tests.support.invocations import wait_status
from tests.support.services import ROOT

pytestmark = pytest.mark.integration


def test_config_invoke_and_invocations(run, client, start_worker):
    start_worker()
    body = json.dumps({"max_async_retry_attempts": 0, "max_async_event_age_in_seconds": 60})
    stored = json.loads(run("config", "put", "boom", "--body", body).stdout)
    assert stored["max_async_retry_attempts"] == 0
    assert stored["func_urn"].endswith(":boom:latest")
    assert json.loads(run("config", "get", "boom", "--json").stdout) == stored
    listed = json.loads(run("config", "list", "boom", "--json").stdout)
    assert listed["count"] == 1

    rid = run("invoke", "boom", "--payload", '{"x": 1}').stdout.strip()
    wait_status(client, rid, "FAIL")
    shown = json.loads(run("invocations", "show", rid, "--json").stdout)
    assert shown["status"] == "FAIL"
    assert shown["attempts"] == 1
    assert shown["payload"] == {"x": 1}
    page = json.loads(run("invocations", "list", "boom", "--status", "FAIL", "--json").stdout)
    assert [i["request_id"] for i in page["invocations"]] == [rid]

    run("config", "delete", "boom")
    missing = run("config", "get", "boom", ok=False)
    assert "error FSS.0404" in missing.stderr


def test_errors_are_one_clear_line(run, client, start_worker):
    start_worker().stop()
    bad = run("config", "put", "hello", "--body", '{"max_async_retry_attempts": 9}', ok=False)
    assert bad.stderr.startswith("error FSS.0400: invalid async config: max_async_retry_attempts")
    assert "Traceback" not in bad.stderr
    alias = run("config", "get", "hello:!prod", ok=False)
    assert alias.stderr.startswith("error FSS.1014")
    ghost = run("invoke", "ghost", ok=False)
    assert ghost.stderr.startswith("error FSS.1051")
    not_json = run("invoke", "hello", "--payload", "{oops", ok=False)
    assert "not valid JSON" in not_json.stderr
    huge = "7" * 5000
    for args in (
        ("invoke", "hello", "--payload", f'{{"n": [{huge}]}}'),
        ("config", "put", "hello", "--body", f'{{"max_async_retry_attempts": {huge}}}'),
    ):
        refused = run(*args, ok=False)
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "has 5000 digits, more than 4300; send it as a string" in refused.stderr
    rid = run("invoke", "hello", "--payload", "{}").stdout.strip()
    cancelled = json.loads(run("invocations", "cancel", rid).stdout)
    assert cancelled["status"] == "DISCARD"


def test_celerys_own_worker_command_runs_functions(env, client, start_worker):
    start_worker().stop()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.apps.functions:celery",
            "worker",
            "--pool",
            "solo",
            "-Q",
            ",".join(functions_app.queues()),  # each function's queue, the shared one, deliveries
            "-n",
            "plain@%h",
        ],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        rid = client.invoke_async("hello", {"name": "celery"})
        record = wait_status(client, rid, "SUCCESS", timeout=30)
        assert record.attempts == 1
    finally:
        worker.terminate()
        worker.wait(20)


def test_tables_for_people_and_json_for_programs(run, env, client, start_worker):
    start_worker()
    client.put_async_config("boom", {"max_async_retry_attempts": 0})
    ok = client.invoke_async("hello", {"name": "table"})
    bad = client.invoke_async("boom", {})
    wait_status(client, ok, "SUCCESS")
    wait_status(client, bad, "FAIL")

    # Piped: whole ids, no colour codes, local times with how long ago.
    listed = run("invocations", "list", "hello").stdout
    assert "REQUEST ID" in listed and "STATUS" in listed
    assert ok in listed and "SUCCESS" in listed
    assert "\x1b[" not in listed
    assert " ago)" in listed
    assert "1 invocation" in listed
    shown = run("invocations", "show", bad).stdout
    assert bad in shown and "FAIL" in shown
    assert "RetriesExhausted: ValueError: always fails" in shown
    assert "history" in shown and "RUNNING" in shown
    configs = run("config", "list", "boom").stdout
    assert "RETRIES" in configs and ":boom:latest" in configs
    assert ":boom:latest" in run("config", "get", "boom").stdout

    # A narrow colour terminal: statuses coloured, long ids cut with an ellipsis.
    terminal = run_executor(
        "invocations", "list", "hello", env={**env, "FORCE_COLOR": "1", "COLUMNS": "60"}
    ).stdout
    assert "\x1b[32mSUCCESS" in terminal
    assert ok not in terminal
    assert ok[:6] in terminal and "…" in terminal
    assert max(len(line) for line in terminal.splitlines()) < 200


def test_watch_follows_an_invocation_to_its_end(run, client, start_worker):
    start_worker()
    client.put_async_config("boom", {"max_async_retry_attempts": 1})
    flaky = client.invoke_async("flaky", {"fail_times": 1})
    followed = run("invocations", "watch", flaky, "--interval", "0.05").stdout.splitlines()
    assert all(flaky in line for line in followed)
    assert "SUCCESS" in followed[-1]
    assert any("attempt 2" in line for line in followed)

    bad = client.invoke_async("boom", {})
    failed = run("invocations", "watch", bad, ok=False)
    assert "FAIL" in failed.stdout.splitlines()[-1]
    assert "RetriesExhausted" in failed.stdout


def test_watch_a_function_until_none_is_active(run, env, client, start_worker):
    start_worker()
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "executor",
            "invocations",
            "watch",
            "--function",
            "slow",
            "--interval",
            "0.1",
            "--timeout",
            "60",
        ],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    # The watch shows what is queued after it began: its first look is announced on stderr.
    assert watcher.stderr is not None
    assert "watching urn:fss:" in watcher.stderr.readline()
    rids = [client.invoke_async("slow", {"seconds": 0.5}) for _ in range(2)]
    out, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, out
    for rid in rids:
        mine = [line for line in out.splitlines() if rid in line]
        assert "SUCCESS" in mine[-1]
    assert run("invocations", "watch", "--function", "slow", rids[0], ok=False).stderr.startswith(
        "error FSS.0400"
    )
