"""Every file in deploy/ parses, and every ``executor`` command it runs exists in the CLI with
the options it gives (parsed by the CLI's own command tree, values and types included)."""

from __future__ import annotations

import configparser
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from executor.cli.common import load_app
from executor.core.constants import DELIVERY_QUEUE, INVOCATION_QUEUE
from executor.core.settings import Settings
from tests.support.cli import command as executor_command
from tests.support.services import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
UNITS = sorted(p for p in (DEPLOY / "systemd").iterdir() if p.suffix in (".service", ".timer"))
TIME_LIMIT = Settings.model_fields["time_limit"].default


def k8s_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in K8S:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    template = doc.get("spec", {}).get("template", {})
    return list(template.get("spec", {}).get("containers", []))


def probe_commands(container: dict[str, Any]) -> list[list[str]]:
    probes = (container.get(p) for p in ("startupProbe", "readinessProbe", "livenessProbe"))
    return [p["exec"]["command"] for p in probes if p and "exec" in p]


def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def example_env() -> dict[str, str]:
    values = {}
    for path in (DEPLOY / "systemd").glob("*.env.example"):
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key] = value
    return values


def systemd_argv(line: str) -> list[str]:
    """An Exec line as the service runs it: %% unescaped, ${VAR} from the example env files."""
    env = example_env()
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line).replace("%%", "%")
    return shlex.split(line)


def executor_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv after ``executor``) for every command that runs the CLI."""
    found: list[tuple[str, list[str]]] = []
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, service in compose["services"].items():
        found.append((f"compose:{name}", list(service.get("command") or [])))
        test = (service.get("healthcheck") or {}).get("test") or []
        found.append((f"compose:{name}:healthcheck", test[1:] if test[:1] == ["CMD"] else test))
    for where, doc in k8s_documents():
        for container in containers(doc):
            found.append((where, [*container.get("command", []), *container.get("args", [])]))
            found += [(f"{where}:probe", command) for command in probe_commands(container)]
    for path in UNITS:
        service = unit(path)
        for key, value in service.items("Service") if service.has_section("Service") else []:
            if key.startswith("Exec"):
                found.append((f"{path.name}:{key}", systemd_argv(value)))
    for where, argv in found:
        if argv and Path(argv[0]).name == "executor":
            yield where, argv[1:]


COMMANDS = list(executor_commands())


def test_every_manifest_parses():
    compose = yaml.safe_load(COMPOSE.read_text())
    assert {"redis", "minio", "worker", "api", "flower"} <= set(compose["services"])
    kinds = {doc["kind"] for _, doc in k8s_documents()}
    assert {"Deployment", "Service", "ScaledObject", "ConfigMap"} <= kinds
    for path in UNITS:
        assert unit(path).sections(), path
    assert {argv[0] for _, argv in COMMANDS} >= {"worker", "api", "flower", "health"}


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_command_and_option_exists_in_the_cli(where, argv):
    group = executor_command()
    command: Any = group
    rest = list(argv)
    while hasattr(command, "get_command"):
        name, *rest = rest
        found = command.get_command(command.context_class(command), name)
        assert found is not None, f"{where}: 'executor' has no command {name!r}"
        command = found
    context = command.make_context(argv[0], rest)  # unknown options or bad values raise
    app = context.params.get("app")
    if app:
        load_app(app)


def test_every_long_running_executor_container_is_probed_with_executor_health():
    for where, doc in k8s_documents():
        for container in containers(doc):
            if container.get("command", [""])[0] != "executor":
                continue
            probes = probe_commands(container)
            assert any(p[:2] == ["executor", "health"] for p in probes), where
            worker = container["command"][1] == "worker"
            assert worker != any("--no-worker" in p for p in probes), where
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, service in compose["services"].items():
        if (service.get("command") or [""])[0] == "executor":
            assert service["healthcheck"]["test"][1:3] == ["executor", "health"], name


def test_autoscaling_follows_the_queues_workers_consume():
    from executor.demo.functions import app

    queues = {INVOCATION_QUEUE, DELIVERY_QUEUE} | app.registry.queues()
    deployments = {
        doc["metadata"]["name"] for _, doc in k8s_documents() if doc["kind"] == "Deployment"
    }
    scaled = [doc for _, doc in k8s_documents() if doc["kind"] == "ScaledObject"]
    assert scaled
    for doc in scaled:
        assert doc["spec"]["scaleTargetRef"]["name"] in deployments
        for trigger in doc["spec"]["triggers"]:
            assert trigger["metadata"]["listName"] in queues


def test_stopping_waits_for_running_invocations():
    """Each manager stops a worker with SIGTERM to its main process and waits past the time
    limit, so the warm shutdown can let running invocations finish."""
    for where, doc in k8s_documents():
        commands = [c.get("command", [])[:2] for c in containers(doc)]
        if ["executor", "worker"] in commands:
            grace = doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            assert grace > TIME_LIMIT, where
    compose = yaml.safe_load(COMPOSE.read_text())
    for service in compose["services"].values():
        if (service.get("command") or [])[:2] == ["executor", "worker"]:
            minutes = int(service["stop_grace_period"].removesuffix("m"))
            assert minutes * 60 > TIME_LIMIT
    worker = unit(DEPLOY / "systemd" / "executor-worker@.service")
    assert worker.get("Service", "KillMode") == "mixed"
    assert int(worker.get("Service", "TimeoutStopSec")) > TIME_LIMIT


def test_every_long_running_executor_process_is_started_again_whatever_its_exit_status():
    """A worker exits 1 when it cannot go on (a failed start-up, a broker that refuses its
    acknowledgements); only a restart on every exit brings it back."""
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, service in compose["services"].items():
        if (service.get("command") or [""])[0] == "executor":
            assert service.get("restart") in ("always", "unless-stopped"), name
    for where, doc in k8s_documents():
        for container in containers(doc):
            if container.get("command", [""])[0] == "executor":
                assert doc["kind"] == "Deployment", where
                policy = doc["spec"]["template"]["spec"].get("restartPolicy", "Always")
                assert policy == "Always", where
    for path in (p for p in UNITS if p.suffix == ".service"):
        service = unit(path)
        if service.get("Service", "Type", fallback="simple") == "oneshot":
            continue
        assert service.get("Service", "Restart") == "always", path.name
