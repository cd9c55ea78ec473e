"""Prometheus metrics of the whole fleet, beyond what Flower exports.

Flower counts Celery tasks; it cannot tell an accepted invocation from a retried message, nor
see destinations, cycle drops or how long work has waited. These metrics are read at scrape
time from counters the state store keeps (written inside its transition scripts, so they
are fleet-wide and survive worker restarts) and from the broker's queues. Any worker can serve
them (``EXECUTOR_METRICS_PORT``), as can ``executor metrics``; every server answers with the
same fleet-wide values, so scrape one of them, or aggregate with ``max``, not ``sum``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from executor.core.catalogue import CatalogueEntry
from executor.core.constants import DELIVERY_QUEUE, INVOCATION_QUEUE
from executor.core.invocation import Status
from executor.ops.flow_metrics import flow_metrics
from executor.runtime.celery.app import FunctionApp
from executor.runtime.celery.workers import on_worker_ready
from executor.runtime.orphans import REPUBLISHED
from executor.state.connection import STORE_ERRORS
from executor.state.store import Store

if TYPE_CHECKING:
    from executor.runtime.celery.types import Celery

log = logging.getLogger("executor.metrics")

_FINISHED = {"success": Status.SUCCESS, "fail": Status.FAIL, "discard": Status.DISCARD}
_DELIVERY_STATES = {
    "delivered": "delivered",
    "dropped": "dropped",
    "dead-lettered": "dead_lettered",
    "pending": "retrying",
}
# How far into a function's in-flight index to look for its oldest waiting invocation.
_OLDEST_SCAN = 1_000
_OLDEST_PAGE = 100


class FleetCollector(Collector):
    """Reads every metric at scrape time; a store that does not answer gives ``up`` 0."""

    def __init__(self, store: Store, celery: Celery) -> None:
        self.store = store
        self.celery = celery

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "executor_state_store_up", "1 when the state store answered this scrape"
        )
        try:
            stats = self.store.scans.stats()
            functions = self._functions(stats)
            queues = self._queues()
            oldest = {urn: self._oldest_waiting(urn) for urn in functions}
            in_flight = self._in_flight(functions)
            delayed = self.store.due.count()
            flows = flow_metrics(self.store, stats, functions)
        except STORE_ERRORS as exc:
            log.warning("metrics not collected: the state store did not answer (%s)", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._counters(stats, functions)
        yield from flows
        yield from self._broker(queues)
        waiting = GaugeMetricFamily(
            "executor_oldest_waiting_seconds",
            "Age of the oldest invocation in WAIT (queued or waiting for a retry), per function",
            labels=["function"],
        )
        active = GaugeMetricFamily(
            "executor_invocations_in_flight",
            "Invocations accepted and not yet ended (WAIT or RUNNING), per function",
            labels=["function"],
        )
        for urn in functions:
            waiting.add_metric([urn], oldest[urn])
            active.add_metric([urn], in_flight[urn])
        yield waiting
        yield active
        pending = GaugeMetricFamily(
            "executor_delayed_invocations",
            "Delayed invocations in the due-time index, not yet published",
        )
        pending.add_metric([], delayed)
        yield pending

    def _functions(self, stats: dict[str, int]) -> list[str]:
        known = {key.split("|")[1] for key in stats if key.startswith("fn|")}
        known.update(self.store.catalogue.entries())
        return sorted(known)

    def _counters(self, stats: dict[str, int], functions: list[str]) -> Iterator[Metric]:
        accepted = CounterMetricFamily(
            "executor_invocations_accepted",
            "Invocations accepted (recorded and queued), per function",
            labels=["function"],
        )
        finished = CounterMetricFamily(
            "executor_invocations_finished",
            "Invocations that ended, per function and final status",
            labels=["function", "status"],
        )
        retries = CounterMetricFamily(
            "executor_invocation_retries",
            "Retries scheduled after a failed run",
            labels=["function"],
        )
        for urn in functions:
            accepted.add_metric([urn], stats.get(f"fn|{urn}|accepted", 0))
            retries.add_metric([urn], stats.get(f"fn|{urn}|retries", 0))
            for field, status in _FINISHED.items():
                finished.add_metric([urn, status.value], stats.get(f"fn|{urn}|{field}", 0))
        deliveries = CounterMetricFamily(
            "executor_deliveries",
            "Delivery attempts of result events, per destination kind and what came of them",
            labels=["destination", "state"],
        )
        dead = CounterMetricFamily(
            "executor_dead_letters",
            "Events dead-lettered, per destination kind",
            labels=["destination"],
        )
        for key, value in sorted(stats.items()):
            _, _, rest = key.partition("delivery|")
            if not rest:
                continue
            kind, _, state = rest.rpartition("|")
            deliveries.add_metric([kind, _DELIVERY_STATES.get(state, state)], value)
            if state == "dead-lettered":
                dead.add_metric([kind], value)
        drops = CounterMetricFamily(
            "executor_cycle_drops", "Calls dropped because they would loop or go too deep"
        )
        drops.add_metric([], stats.get("cycle_drops", 0))
        passes = CounterMetricFamily(
            "executor_reconcile_passes", "Reconciler passes run, fleet-wide (one per period)"
        )
        passes.add_metric([], stats.get("reconcile_passes", 0))
        republished = stats.get(REPUBLISHED, 0)
        orphans = CounterMetricFamily(
            "executor_orphans_republished",
            "Invocations republished because the broker had lost their message",
        )
        orphans.add_metric([], republished)
        former = CounterMetricFamily(
            "executor_orphans_redriven", "The former name of executor_orphans_republished"
        )
        former.add_metric([], republished)
        yield from (accepted, finished, retries, deliveries, dead, drops, passes, orphans, former)

    def _queues(self) -> dict[str, int] | None:
        """Messages ready in each queue; None when the broker does not answer."""
        names = {INVOCATION_QUEUE, DELIVERY_QUEUE}
        names.update(
            CatalogueEntry.model_validate_json(raw).queue
            for raw in self.store.catalogue.entries().values()
        )
        depths: dict[str, int] = {}
        try:
            with self.celery.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1)
                for name in sorted(names):
                    channel = connection.channel()
                    try:
                        depths[name] = int(channel.queue_declare(queue=name, passive=True)[1])
                    except connection.channel_errors:  # never declared, so nothing waits in it
                        depths[name] = 0
                    finally:
                        _close(channel)
        except Exception as exc:
            log.warning("queue depths not collected: the broker did not answer (%s)", exc)
            return None
        return depths

    def _broker(self, queues: dict[str, int] | None) -> Iterator[Metric]:
        up = GaugeMetricFamily("executor_broker_up", "1 when the broker answered this scrape")
        up.add_metric([], 0 if queues is None else 1)
        yield up
        if queues is None:
            return
        depth = GaugeMetricFamily(
            "executor_queue_depth",
            "Messages waiting in each broker queue (not counting those reserved by workers)",
            labels=["queue"],
        )
        for name, count in queues.items():
            depth.add_metric([name], count)
        yield depth

    def _oldest_waiting(self, urn: str) -> float:
        oldest = self.store.scans.oldest_waiting(urn, _OLDEST_SCAN, _OLDEST_PAGE)
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def _in_flight(self, functions: list[str]) -> dict[str, int]:
        return self.store.scans.in_flight(functions)


def _close(channel: Any) -> None:
    try:
        channel.close()
    except Exception:  # a channel the broker already closed (AMQP 404) needs no closing
        log.debug("channel already closed", exc_info=True)


def registry_for(store: Store, celery: Celery) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store, celery))
    return registry


def serve(store: Store, celery: Celery, port: int, address: str) -> None:
    """Serve ``/metrics`` on ``address:port`` from a daemon thread."""
    start_http_server(port, addr=address, registry=registry_for(store, celery))
    log.info("serving fleet metrics on http://%s:%d/metrics", address, port)


def serve_from_worker(app: FunctionApp) -> None:
    """Start the exporter in the worker of ``app`` once it is ready, when
    ``EXECUTOR_METRICS_PORT`` asks for one (``executor worker`` calls this)."""
    settings = app.settings
    port = settings.metrics_port
    if not port:
        return

    def ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app.celery:
            return
        try:
            serve(app.engine.store, app.celery, port, settings.metrics_address)
        except OSError as exc:
            # Another worker on this host serves the same fleet-wide values already.
            log.warning("metrics not served on port %d (%s); another process holds it", port, exc)

    on_worker_ready(ready, uid=f"executor-metrics-{id(app)}")
