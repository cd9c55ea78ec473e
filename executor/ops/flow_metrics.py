"""The flow-control metrics: what runs, what limits held back, how old events are when they
start (Lambda's AsyncEventAge) and how many ended without success (AsyncEventsDropped)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from executor.core.invocation import Status
from executor.core.series import AGE_BOUNDS
from executor.state.store import Store


def flow_metrics(store: Store, stats: dict[str, int], functions: Sequence[str]) -> list[Metric]:
    """Every flow-control metric of ``functions``, read now (a store error propagates)."""
    return list(_collect(store, stats, functions))


def _collect(store: Store, stats: dict[str, int], functions: Sequence[str]) -> Iterator[Metric]:
    running = GaugeMetricFamily(
        "executor_running", "Invocations RUNNING now, fleet-wide, per function", labels=["function"]
    )
    throttled = CounterMetricFamily(
        "executor_throttled",
        "Invocations held back by a flow limit, per function and the limit that held them",
        labels=["function", "reason"],
    )
    ages = HistogramMetricFamily(
        "executor_event_age_seconds",
        "Seconds from acceptance (or the due time) to the start of each attempt, per function",
        labels=["function"],
    )
    dropped = CounterMetricFamily(
        "executor_dropped",
        "Invocations that ended without success (their events dropped), per function and condition",
        labels=["function", "condition"],
    )
    for urn in functions:
        running.add_metric([urn], store.records.count(urn, Status.RUNNING, None, None))
        for reason, count in store.flows.throttled(urn).items():
            throttled.add_metric([urn, reason], count)
        cumulative, buckets = 0, []
        for n, bound in enumerate((*AGE_BOUNDS, float("inf"))):
            cumulative += stats.get(f"fn|{urn}|age|{n}", 0)
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
        ages.add_metric([urn], buckets, stats.get(f"fn|{urn}|age_ms", 0) / 1000)
        prefix = f"fn|{urn}|dropped|"
        for key, value in sorted(stats.items()):
            if key.startswith(prefix):
                dropped.add_metric([urn, key[len(prefix) :]], value)
    yield from (running, throttled, ages, dropped)
