"""Health checks of one node: the broker, the state store and the local worker.

``executor health`` runs them for probes (Kubernetes, systemd, load balancers): it exits
non-zero when one of them does not answer within the timeout, and says which one and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from executor.core.settings import Settings
from executor.runtime.celery.broker_url import read_broker
from executor.runtime.celery.workers import node_name
from executor.state.connection import connect, describe, reachable

if TYPE_CHECKING:
    from executor.runtime.celery.types import Celery

__all__ = ["Check", "check_broker", "check_worker", "node_name"]


@dataclass(frozen=True)
class Check:
    """The outcome of one check; ``detail`` names what was checked, or why it failed."""

    name: str
    ok: bool
    detail: str
    seconds: float


def _timed(name: str, probe: Callable[[], str]) -> Check:
    started = time.monotonic()
    try:
        detail = probe()
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
    return Check(name, True, detail, time.monotonic() - started)


def check_broker(celery: Celery, timeout: float) -> Check:
    url = celery.conf.broker_url
    if isinstance(url, str):
        url = read_broker(url).masked()

    def probe() -> str:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            connection.default_channel  # noqa: B018  (a channel proves the broker talks back)
        return str(url)

    return _timed("broker", probe)


def check_store(settings: Settings, timeout: float) -> Check:
    where = describe(settings)

    def probe() -> str:
        # A health check reports the store as it is now, without riding out a failover.
        once = settings.model_copy(update={"redis_failover_seconds": 0.0})
        client = connect(once, timeout=timeout, connect_timeout=timeout)
        try:
            with reachable():
                client.ping()
        finally:
            client.close()
        return where

    return _timed("state store", probe)


def check_worker(celery: Celery, node: str, timeout: float) -> Check:
    def probe() -> str:
        replies = celery.control.ping(destination=[node], timeout=timeout, limit=1)
        if not any(node in reply for reply in replies or ()):
            raise TimeoutError(
                f"worker {node} did not answer a ping within {timeout:g}s; check that it runs "
                "with this --hostname and the same EXECUTOR_BROKER_URL"
            )
        return node

    return _timed("worker", probe)


def run_checks(
    settings: Settings, celery: Celery, *, node: str | None, timeout: float
) -> list[Check]:
    """Broker and state store always; the worker named ``node`` unless it is None."""
    checks = [check_broker(celery, timeout), check_store(settings, timeout)]
    if node is not None and checks[0].ok:
        checks.append(check_worker(celery, node, timeout))
    elif node is not None:
        checks.append(Check("worker", False, "not pinged: the broker does not answer", 0.0))
    return checks
