"""The ``executor`` command, run as a user runs it, against a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import wait_status
from services import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def run(env):
    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "executor", *args],
            env={**os.environ, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert (done.returncode == 0) is ok, done.stdout + done.stderr
        return done

    return run


def test_config_invoke_and_invocations(run, client, start_worker):
    start_worker()
    body = json.dumps({"max_async_retry_attempts": 0, "max_async_event_age_in_seconds": 60})
    stored = json.loads(run("config", "put", "boom", "--body", body).stdout)
    assert stored["max_async_retry_attempts"] == 0
    assert stored["func_urn"].endswith(":boom:latest")
    assert json.loads(run("config", "get", "boom").stdout) == stored
    listed = json.loads(run("config", "list", "boom").stdout)
    assert listed["count"] == 1

    rid = run("invoke", "boom", "--payload", '{"x": 1}').stdout.strip()
    wait_status(client, rid, "FAIL")
    shown = json.loads(run("invocations", "show", rid).stdout)
    assert shown["status"] == "FAIL"
    assert shown["attempts"] == 1
    assert shown["payload"] == {"x": 1}
    page = json.loads(run("invocations", "list", "boom", "--status", "FAIL").stdout)
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
            "functions:celery",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "executor.invocations,executor.deliveries",
            "-n",
            "plain@%h",
        ],
        env={**os.environ, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"},
        cwd=ROOT / "tests",
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
