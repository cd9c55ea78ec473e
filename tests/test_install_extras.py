"""The base install and its extras: a producer and a worker need none of the extras.

``pip install async-executor`` brings what a producer needs (invoke, status, configure) and what
a worker needs to run functions; a feature whose extra is missing says in one line which extra
to install. The import checks run in a fresh interpreter where the extras' packages are made
absent, so they hold whatever this environment has installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from executor.core import extras
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent

# Made absent in the child: every package that comes with an extra. A module of this package
# that imports one of them is recorded (what a third-party library tries on its own is not).
ABSENT = sorted({module for modules in extras.MODULES.values() for module in modules})
HIDE = textwrap.dedent(
    """
    import importlib.abc, json, sys
    ABSENT = frozenset(%r)
    TRIED = []

    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] not in ABSENT:
                return None
            frame = sys._getframe(1)
            while frame is not None and (
                frame.f_code.co_filename.startswith("<frozen")
                or frame.f_code.co_filename.endswith("importlib/__init__.py")
            ):
                frame = frame.f_back
            importer = frame.f_globals.get("__name__", "") if frame is not None else ""
            if importer.partition(".")[0] in ("executor", "destinations"):
                TRIED.append(f"{importer} imports {name}")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, Absent())
    """
) % (ABSENT,)

# The producer's path and everything a worker loads: the runtime, the destinations' modules
# that need no extra, the state store and the command line the worker runs under.
PRODUCER_AND_WORKER = textwrap.dedent(
    """
    import importlib, pkgutil
    from executor import Client, FunctionApp
    from executor.runtime.client import Client as _
    import executor.cli.main, executor.core, executor.state, executor.runtime, executor.runtime.celery

    app = FunctionApp()

    @app.function("hello")
    def hello(event, context):
        return event

    skipped = {"executor.runtime.celery.spans"}
    for package in (executor.core, executor.state, executor.runtime, executor.runtime.celery,
                    executor.cli):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            if info.name not in skipped:
                importlib.import_module(info.name)
    import destinations, destinations.functiongraph, destinations.dis, destinations.smn
    app.celery.loader.import_default_modules()
    Client.invoke_async
    loaded = sorted(
        m for m in sys.modules
        if m.startswith(("executor.api", "executor.ops.bench", "executor.runtime.celery.spans",
                         "executor.ops.metrics", "executor.ops.flower", "destinations.obs",
                         "destinations._aws"))
    )
    print(json.dumps({"tried": TRIED, "loaded": loaded}))
    """
)


def hidden(body: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter of this environment without the extras' packages."""
    return subprocess.run(
        [sys.executable, "-c", HIDE + body, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_producer_and_worker_import_no_extra() -> None:
    done = hidden(PRODUCER_AND_WORKER)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found == {"tried": [], "loaded": []}


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["api"], "api"),
        (["flower"], "flower"),
        (["metrics"], "metrics"),
        (["bench", "--n", "5"], "bench"),
        (["bench", "--help"], "bench"),
    ],
)
def test_a_command_without_its_extra_names_it_in_one_line(argv: list[str], extra: str) -> None:
    done = hidden("from executor.cli import main; main()", *argv)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: executor {argv[0]} needs the [{extra}] extra (")
    assert line.endswith(f"pip install 'async-executor[{extra}]'")


def test_a_worker_asked_for_metrics_without_the_extra_names_it() -> None:
    done = hidden(
        "import os; os.environ.update(EXECUTOR_METRICS_PORT='9808', "
        "EXECUTOR_BROKER_URL='redis://127.0.0.1:1/0')\n"
        "from executor.cli import main; main()",
        *("worker", "--app", "tests.apps.functions:app", "--pool", "solo"),
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: EXECUTOR_METRICS_PORT (the worker's metrics exporter) needs the [metrics] extra "
        "(prometheus_client not installed): pip install 'async-executor[metrics]'"
    ]


def test_a_destination_without_its_client_library_fails_naming_the_extra() -> None:
    done = hidden(
        textwrap.dedent(
            """
            import destinations
            from destinations import PermanentDeliveryError
            assert destinations.get("DIS").kind == "DIS"  # Redis streams need no extra
            try:
                destinations.get("OBS")
            except PermanentDeliveryError as exc:
                print(exc)
            """
        )
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "the OBS destination needs boto3, which is not installed on this worker: "
        "pip install 'async-executor[aws]' on the workers, then send the dead letter again"
    )


APP = """
import json

from executor import FunctionApp

app = FunctionApp()


@app.function("hello")
def hello(event, context):
    return {"greeting": f"hello {event['name']}"}


OBS = {"destination": "OBS", "param": json.dumps({"bucket": "results", "prefix": "runs"})}


@app.function("stored", agency="writer", config={"destination_config": {"on_success": OBS}})
def stored(event, context):
    return event
"""

# The OBS endpoint is never reached: the worker has no boto3 to reach it with.
AGENCIES = """
[agencies.writer.obs]
endpoint_url = "http://127.0.0.1:9"
addressing_style = "path"
"""

PRODUCER = """
import json, time
from executor import Client, FunctionNotFound

client = Client()
deadline = time.monotonic() + 60


def invoke(name):
    while True:  # until the worker has registered the function
        try:
            return client.invoke_async(name, {"name": "ann"})
        except FunctionNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def ended(rid, deliveries):
    while time.monotonic() < deadline:
        record = client.get_invocation(rid)
        if record.settled and len(record.deliveries) == deliveries:
            return record
        time.sleep(0.1)
    return record


hello, stored = invoke("hello"), invoke("stored")
found = {"hello": ended(hello, 0), "stored": ended(stored, 1)}
print(json.dumps({name: r.model_dump(mode="json") for name, r in found.items()}))
"""


@pytest.fixture(scope="module")
def base_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the package's wheel installed without any extra."""
    where = tmp_path_factory.mktemp("base-install")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(where), str(ROOT)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    [wheel] = where.glob("async_executor-*.whl")
    venv.create(where / "venv", with_pip=True)
    subprocess.run(
        [where / "venv" / "bin" / "pip", "install", "-q", str(wheel)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    (where / "base_app.py").write_text(APP)
    (where / "producer.py").write_text(PRODUCER)
    (where / "agencies.toml").write_text(AGENCIES)
    return where


def test_base_install_runs_a_producer_and_a_worker(base_install: Path) -> None:
    bin_dir = base_install / "venv" / "bin"
    listed = subprocess.run(
        [bin_dir / "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not installed & {
        "fastapi", "uvicorn", "jinja2", "pygal", "flower", "psutil", "boto3",
        "opentelemetry-api", "prometheus-client", "itsdangerous", "python-multipart",
    }  # fmt: skip

    server = RedisServer().start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")},
        "EXECUTOR_BROKER_URL": server.url,
        "EXECUTOR_AGENCY_FILE": str(base_install / "agencies.toml"),
        "PYTHONPATH": "",
    }
    worker = subprocess.Popen(
        [bin_dir / "executor", "worker", "--app", "base_app:app", "--pool", "solo"],
        cwd=base_install,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        produced = subprocess.run(
            [bin_dir / "python", "producer.py"],
            cwd=base_install,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert produced.returncode == 0, produced.stderr
        found = json.loads(produced.stdout.splitlines()[-1])
        assert found["hello"]["status"] == "SUCCESS"
        # A destination whose client library is missing: the function ran, its event waits in
        # the dead-letter store with a line that names the extra.
        assert found["stored"]["status"] == "SUCCESS"
        [delivery] = found["stored"]["deliveries"]
        assert (delivery["state"], delivery["attempts"]) == ("dead-lettered", 1)
        assert delivery["error"] == (
            "the OBS destination needs boto3, which is not installed on this worker: "
            "pip install 'async-executor[aws]' on the workers, then send the dead letter again"
        )
        rid = found["hello"]["request_id"]
        shown = subprocess.run(
            [bin_dir / "executor", "invocations", "show", rid, "--json"],
            cwd=base_install,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["status"] == "SUCCESS"
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)
        server.close()
        print(output[-4000:])

    api = subprocess.run(
        [bin_dir / "executor", "api"],
        cwd=base_install,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert api.returncode == 1
    assert api.stderr.splitlines() == [
        "error: executor api needs the [api] extra (fastapi, uvicorn, jinja2, itsdangerous, "
        "pygal, botocore not installed): pip install 'async-executor[api]'"
    ]


def test_without_opentelemetry_nothing_is_traced_and_an_upstream_trace_passes_on() -> None:
    upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    done = hidden(
        textwrap.dedent(
            f"""
            import logging, os, types
            logging.basicConfig(format="%(levelname)s %(message)s")
            os.environ["OTEL_SERVICE_NAME"] = "shop"
            from executor.runtime import tracing
            with tracing.producing("urn") as sent:
                print(repr(sent), tracing.enabled(), tracing.ids(), tracing.traceparent())
            with tracing.delivering(types.SimpleNamespace(traceparent={upstream!r}), 1) as sent:
                print(sent)
            """
        )
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["'' False None ", upstream]
    assert done.stderr.splitlines() == [
        "WARNING no traces: tracing (OTEL_SERVICE_NAME is set) needs the [otel] extra "
        "(opentelemetry-api not installed): pip install 'async-executor[otel]'"
    ]
