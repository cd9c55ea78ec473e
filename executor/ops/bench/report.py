"""What a benchmark measured: one result per scenario, the ratios, the table and the JSON."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Run(BaseModel):
    """One scenario: rates per second, latencies in milliseconds, memory in MiB.

    The CPU figures are per message, in milliseconds: where the time of a message goes.
    """

    model_config = _FROZEN

    title: str
    n: int
    enqueue_per_s: float
    throughput_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    peak_rss_mib: float
    seconds: float
    worker_cpu_ms: float
    producer_cpu_ms: float
    redis_cpu_ms: float

    @property
    def cpu_ms(self) -> float:
        return self.worker_cpu_ms + self.producer_cpu_ms + self.redis_cpu_ms


class Ratios(BaseModel):
    """Ours over plain Celery, each None when a side was not run.

    The ``cpu_`` ratios compare the CPU a message costs (worker, producer and Redis together),
    inverted: the throughput ratio a machine would show if CPU were its only limit. They move
    far less than throughput when other work shares the machine.
    """

    model_config = _FROZEN

    invoke_vs_celery: float | None
    destination_vs_link: float | None
    enqueue_vs_apply_async: float | None
    memory_vs_celery: float | None
    cpu_invoke_vs_celery: float | None
    cpu_destination_vs_link: float | None
    bytes_per_waiting_vs_celery: float | None = None
    # What flow control costs: a function with a max_instances set, over one without.
    capped_vs_invoke: float | None = None
    # A cap of 4 on a worker of concurrency 4, over the same function uncapped.
    tight_vs_invoke: float | None = None


class Setup(BaseModel):
    model_config = _FROZEN

    cpus: int
    pool: str
    concurrency: int
    prefetch: int | None
    n: int
    warmup: int
    rounds: int
    worker: str


class Report(BaseModel):
    model_config = _FROZEN

    runs: dict[str, Run]
    ratios: Ratios
    setup: Setup
    rounds: list[dict[str, Run]]
    # Redis bytes per message waiting in the queue, by scenario (a and b): see bench.footprint.
    waiting_bytes: dict[str, float] = {}

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


# Each ratio with the target it must meet and which way it is better.
TARGETS: dict[str, tuple[str, float, bool]] = {
    "invoke_vs_celery": ("throughput (b)/(a)", 0.85, True),
    "destination_vs_link": ("throughput (d)/(c)", 1.0, True),
    "enqueue_vs_apply_async": ("enqueue (b)/(a)", 1.5, True),
    "memory_vs_celery": ("peak memory (b)/(a)", 1.3, False),
    "bytes_per_waiting_vs_celery": ("Redis bytes waiting (b)/(a)", 1.3, False),
}


# The ratios taken within each round (the others are measured once per run).
_PER_ROUND = (
    "invoke_vs_celery",
    "destination_vs_link",
    "enqueue_vs_apply_async",
    "memory_vs_celery",
    "cpu_invoke_vs_celery",
    "cpu_destination_vs_link",
    "capped_vs_invoke",
    "tight_vs_invoke",
)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0-100) of ``values``."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median_run(runs: Sequence[Run]) -> Run:
    """Each figure's median over rounds of one scenario."""
    fields = {
        name: statistics.median(getattr(run, name) for run in runs)
        for name, info in Run.model_fields.items()
        if info.annotation is float
    }
    return runs[0].model_copy(update=fields)


def median_ratios(rounds: Sequence[dict[str, Run]]) -> Ratios:
    """Each ratio's median over rounds, every one taken within a round."""
    per_round = [ratios(runs) for runs in rounds]

    def median(name: str) -> float | None:
        values = [v for r in per_round if (v := getattr(r, name)) is not None]
        return round(statistics.median(values), 3) if values else None

    return Ratios(**{name: median(name) for name in Ratios.model_fields if name in _PER_ROUND})


def waiting_ratio(waiting_bytes: dict[str, float]) -> float | None:
    """Redis bytes per waiting invocation over those of a waiting plain Celery message."""
    if not waiting_bytes.get("a") or "b" not in waiting_bytes:
        return None
    return round(waiting_bytes["b"] / waiting_bytes["a"], 3)


def ratios(runs: dict[str, Run]) -> Ratios:
    def over(top: str, bottom: str, field: str) -> float | None:
        if top not in runs or bottom not in runs:
            return None
        denominator = getattr(runs[bottom], field)
        return round(getattr(runs[top], field) / denominator, 3) if denominator else None

    def cheaper(ours: str, theirs: str) -> float | None:
        if ours not in runs or theirs not in runs:
            return None
        cost = runs[ours].cpu_ms
        return round(runs[theirs].cpu_ms / cost, 3) if cost else None

    return Ratios(
        invoke_vs_celery=over("b", "a", "throughput_per_s"),
        destination_vs_link=over("d", "c", "throughput_per_s"),
        enqueue_vs_apply_async=over("b", "a", "enqueue_per_s"),
        memory_vs_celery=over("b", "a", "peak_rss_mib"),
        cpu_invoke_vs_celery=cheaper("b", "a"),
        cpu_destination_vs_link=cheaper("d", "c"),
        capped_vs_invoke=over("f", "b", "throughput_per_s"),
        tight_vs_invoke=over("g", "b", "throughput_per_s"),
    )


def table(report: Report) -> str:
    """The runs as an aligned text table, then the ratios against their targets."""
    header = (
        "",
        "scenario",
        "enqueue/s",
        "done/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "peak MiB",
        "CPU ms/msg: worker",
        "producer",
        "redis",
    )
    rows = [header]
    for key, run in report.runs.items():
        rows.append(
            (
                key,
                run.title,
                f"{run.enqueue_per_s:,.0f}",
                f"{run.throughput_per_s:,.0f}",
                f"{run.p50_ms:,.1f}",
                f"{run.p95_ms:,.1f}",
                f"{run.p99_ms:,.1f}",
                f"{run.peak_rss_mib:,.1f}",
                f"{run.worker_cpu_ms:.3f}",
                f"{run.producer_cpu_ms:.3f}",
                f"{run.redis_cpu_ms:.3f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    setup = report.setup
    lines.insert(
        0,
        (
            f"n={setup.n} per scenario, pool={setup.pool}, concurrency={setup.concurrency}, "
            f"prefetch={setup.prefetch or 'default'}, {setup.cpus} CPUs, {setup.worker}, "
            f"median of {setup.rounds} round(s)"
        ),
    )
    lines.append("")
    for name, (label, target, higher) in TARGETS.items():
        value = getattr(report.ratios, name)
        if value is None:
            continue
        met = value >= target if higher else value <= target
        sign = ">=" if higher else "<="
        verdict = "ok" if met else "MISSED"
        lines.append(f"{label:<27} {value:6.3f}   target {sign} {target:<4}  {verdict}")
    for name, label in (
        ("cpu_invoke_vs_celery", "by CPU (b)/(a)"),
        ("cpu_destination_vs_link", "by CPU (d)/(c)"),
    ):
        value = getattr(report.ratios, name)
        if value is not None:
            lines.append(f"{label:<27} {value:6.3f}   (CPU per message, inverted)")
    if report.ratios.capped_vs_invoke is not None:
        value = report.ratios.capped_vs_invoke
        lines.append(f"{'throughput (f)/(b)':<27} {value:6.3f}   (the cost of flow control)")
    if report.ratios.tight_vs_invoke is not None:
        value = report.ratios.tight_vs_invoke
        lines.append(f"{'throughput (g)/(b)':<27} {value:6.3f}   (a cap at the concurrency)")
    for key, size in report.waiting_bytes.items():
        lines.append(
            f"Redis bytes waiting ({key})     {size:,.0f}   per message, no worker running"
        )
    return "\n".join(lines)
