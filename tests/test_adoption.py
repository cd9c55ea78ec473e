"""``FunctionApp(celery=existing)``: functions join a Celery project without changing it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from executor import FunctionApp
from executor.core.constants import DELIVER_TASK
from executor.core.errors import InvalidParameter
from executor.core.settings import get_settings
from tests.support.fleet_services import raw_message
from tests.support.invocations import wait_status
from tests.support.services import ROOT, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def project(env, monkeypatch):
    """The project module, imported here with this test's broker and settings."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The process-wide settings are read once; another test may have read them already.
    get_settings.cache_clear()
    sys.modules.pop("tests.apps.adopted_app", None)
    yield importlib.import_module("tests.apps.adopted_app")
    get_settings.cache_clear()


def test_the_projects_settings_stay_and_the_engine_tasks_carry_their_own(project):
    conf = project.celery.conf
    assert conf.task_serializer == "pickle"
    assert conf.task_default_queue == "proj"
    assert conf.task_acks_late is False
    assert conf.task_time_limit == 3
    assert conf.task_routes == {"proj.*": {"queue": "proj"}}
    project.celery.finalize()
    settings = project.functions.settings
    for name in ("fn:default:double:latest", DELIVER_TASK):
        task = project.celery.tasks[name]
        assert task.serializer == "json"
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.acks_on_failure is True
        assert task.time_limit == settings.time_limit
        assert task.soft_time_limit == settings.soft_time_limit
    assert project.celery.tasks["proj.collect"].serializer == "pickle"
    assert project.celery.tasks["proj.collect"].acks_late is False


def test_an_app_that_refuses_json_is_refused(project):
    from celery import Celery

    pickled = Celery("pickled", broker="memory://", set_as_current=False)
    pickled.conf.accept_content = ["pickle"]
    with pytest.raises(InvalidParameter, match="add 'json' to its accept_content"):
        FunctionApp(project.functions.settings, celery=pickled)


def test_celerys_worker_command_runs_both_kinds(env, project, rdb, tmp_path):
    # Queued before any worker runs, so the messages can be read as the broker holds them.
    project.functions.publish_catalogue()
    doubled = project.functions.invoke_async("double", {"n": 21})
    slow = project.functions.invoke_async("slowish", {"seconds": 4})
    project.collect.delay({3, 1, 2})
    producer = project.functions.client
    function_message = raw_message(rdb, producer.lookup(producer.resolve("double")).queue)
    assert function_message["content-type"] == "application/json"
    assert function_message["headers"]["task"] == "fn:default:double:latest"
    plain_message = raw_message(rdb, "proj")
    assert plain_message["content-type"] == "application/x-python-serialize"

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.apps.adopted_app",
            "worker",
            "--pool",
            "prefork",
            "-c",
            "2",
            "-n",
            "adopted@%h",
            "--loglevel",
            "INFO",
        ],
        # Celery refuses to run a pickle-accepting worker as root unless told to (CI runs as root).
        env={**os.environ, **env, "PYTHONPATH": str(ROOT), "C_FORCE_ROOT": "1"},
        cwd=ROOT,
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    log = tmp_path / "worker.log"
    try:
        # A loaded machine may take a while to start the pool; the checks below start after.
        wait_for(lambda: "ready." in log.read_text(errors="replace"), 60, "the worker to start")
        client = project.functions.client
        assert wait_status(client, doubled, "SUCCESS", timeout=30).attempts == 1
        wait_for(lambda: rdb.llen(project.DONE_KEY) == 1, 30, "the project's own task")
        assert rdb.lrange(project.DONE_KEY, 0, -1) == ["1,2,3"]
        # Four seconds: past the project's 3-second limit, inside the engine's own.
        record = wait_status(client, slow, "SUCCESS", "FAIL", timeout=30)
        assert record.status.value == "SUCCESS", record
    except AssertionError:
        print((tmp_path / "worker.log").read_text())
        raise
    finally:
        worker.terminate()
        worker.wait(20)
