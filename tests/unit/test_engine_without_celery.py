"""The engine's rules (admission, lifecycle, execution, the flow gate, deliveries) run without
Celery: imported afresh where importing Celery fails, they admit an invocation through a stub
of the publishing interface and decide how its message's task ends."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest

RULES = (
    "executor.runtime.admission",
    "executor.runtime.lifecycle",
    "executor.runtime.execution",
    "executor.runtime.dispatcher",
    "executor.runtime.delivery",
)
# Reloaded afresh for each test here, and put back as they were after it.
_FRESH = ("executor", "destinations", "celery", "kombu", "billiard")


@pytest.fixture
def fresh_modules() -> Iterator[None]:
    saved = dict(sys.modules)
    for name in list(sys.modules):
        if name.split(".")[0] in _FRESH:
            del sys.modules[name]
    try:
        yield
    finally:
        for name in [name for name in sys.modules if name not in saved]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_importing_the_rules_loads_no_celery(fresh_modules: None) -> None:
    for module in RULES:
        importlib.import_module(module)
    assert "celery" not in sys.modules
    assert not [name for name in sys.modules if name.startswith("celery.")]


class Publisher:
    """The publishing interface, recording what it is asked to queue."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, int]] = []

    def invocation(
        self, entry: Any, request_id: str, message: Any, retries: int = 0, countdown: Any = None
    ) -> None:
        self.sent.append((request_id, message, retries))

    def fused(
        self, entry: Any, request_id: str, message: Any, origin: Any = None, retries: int = 0
    ) -> None:
        return None

    def delivery(self, job: Any) -> None:
        raise AssertionError("no destination is configured")


class Stopped(BaseException):
    """Stands for the broker client's termination of a handler."""


def handler(payload: dict[str, Any], context: Any) -> Any:
    if payload.get("stop"):
        raise Stopped()
    if payload.get("fail"):
        raise ValueError("bad")
    return {"echo": payload}


def test_the_rules_decide_runs_with_a_stub_publisher_and_no_celery(fresh_modules: None) -> None:
    sys.modules["celery"] = None  # type: ignore[assignment]  # any import of Celery fails
    from executor.core.policies import ChainLimit
    from executor.core.registry import FunctionSpec, Registry
    from executor.core.settings import Settings
    from executor.core.urn import parse_urn
    from executor.runtime.admission import Admission
    from executor.runtime.delivery import Deliveries
    from executor.runtime.execution import Execution
    from executor.runtime.lifecycle import Lifecycle
    from executor.state.configs import Configs
    from executor.state.functions import Functions
    from executor.state.store import Store

    settings = Settings(
        broker_url="redis://127.0.0.1:1/0",
        region="r1",
        project_id="p1",
        retry_backoff_base=0.01,
        retry_backoff_max=0.02,
        config_cache_ttl=0,
    )
    store = Store(settings, client=fakeredis.FakeRedis(decode_responses=True))
    name = "urn:fss:r1:p1:function:default:echo:latest"
    urn = parse_urn(name, region="r1", project="p1")
    registry = Registry()
    registry.add(FunctionSpec(urn=urn, handler=handler, queue="q-echo"))
    functions = Functions(
        settings, registry, store.catalogue, Configs(store.redis, store.leases, 0), store.flows
    )
    publisher = Publisher()
    chain = [ChainLimit(settings.max_chain_depth)]
    admission = Admission(settings, store, functions, publisher, chain)
    deliveries = Deliveries(settings, store.deliveries, store.dead_letters, publisher, None)  # type: ignore[arg-type]
    lifecycle = Lifecycle(settings, store, functions, admission, deliveries)
    spec = registry.get(urn)

    def run(payload: dict[str, Any]) -> tuple[str, str, int]:
        request_id = admission.invoke(name, payload)
        [(sent_id, message, retries)] = publisher.sent
        publisher.sent.clear()
        assert sent_id == request_id
        execution = Execution(lifecycle, spec, message, sent_id, retries, stops=(Stopped,))
        try:
            end = execution.run().end.value
        except Stopped:
            end = "stopped"
        status = store.records.status(request_id)
        assert status is not None
        return end, status.value, len(publisher.sent)

    # A success: queued through the publishing interface, run, recorded.
    assert run({"n": 1}) == ("success", "SUCCESS", 0)
    # A failure with retries left: the task is retried, the invocation waits for it.
    assert run({"fail": True})[:2] == ("retry", "WAIT")
    # What stops a handler without failing it goes through, and ends nothing.
    end, status, _ = run({"stop": True})
    assert end == "stopped"
    assert status not in ("SUCCESS", "FAIL", "DISCARD")
    assert "celery" in sys.modules and sys.modules["celery"] is None
