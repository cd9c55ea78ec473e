"""How long a listing of invocations takes as a function's invocations pile up.

One private redis-server is filled step by step to each size (mostly waiting invocations, as a
backlog is, and some in every other status, accepted over an hour), and at each size the first
and the 50th page of every status filter, of no filter and of a time window are asked for
``calls`` times through ``Client.list_invocations``, which the HTTP API, the CLI and the
console answer with. Invocations are written through the state store's transitions, as
producers and workers write them, without a broker or handlers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from executor.core.invocation import Status
from executor.core.settings import Settings
from executor.ops.servers import RedisServer
from executor.runtime.client import Client
from executor.state.store import Store
from executor.state.writes import Finish, NewInvocation

URN = "urn:fss:local-1:default:function:default:load:latest"
PAGE = 100
# What share of a function's invocations each status holds: a backlog, and what has ended.
MIX: tuple[tuple[Status, float], ...] = (
    (Status.RUNNING, 0.05),
    (Status.SUCCESS, 0.15),
    (Status.FAIL, 0.07),
    (Status.DISCARD, 0.03),
)
HOUR = 3600.0


@dataclass(frozen=True)
class Timing:
    """p50 and p95 of the calls of one page of one filter, in milliseconds."""

    filter: str
    page: int
    p50: float
    p95: float
    shown: int


@dataclass
class SizeReport:
    size: int
    index_bytes: float  # bytes the indexes by status hold per invocation
    timings: list[Timing] = field(default_factory=list)


def measure(
    sizes: list[int], calls: int = 10, progress: Callable[[str], None] = print
) -> list[SizeReport]:
    """Fill a private store to each of ``sizes`` in turn and time its listings there."""
    server = RedisServer(prefix="executor-listings-").start()
    try:
        settings = Settings(broker_url=server.url)
        client = Client(settings)
        start = time.time() - HOUR
        filled = 0
        reports = []
        for size in sorted(sizes):
            progress(f"writing invocations {filled:,} to {size:,}")
            _fill(client.store, start, filled, size)
            filled = size
            report = SizeReport(size, _index_bytes(server, size))
            for name, query in _filters(start):
                for page in (1, 50):
                    report.timings.append(_time(client, name, query, page, calls))
            progress(f"{size:,} stored: timed {len(report.timings)} pages")
            reports.append(report)
        return reports
    finally:
        server.close()


def _filters(start: float) -> list[tuple[str, dict[str, Any]]]:
    window = {"since": start + 0.4 * HOUR, "until": start + 0.6 * HOUR}
    found: list[tuple[str, dict[str, Any]]] = [("none", {})]
    found += [(s.value, {"status": s}) for s in Status]
    found.append(("window", window))
    found.append(("FAIL in window", {"status": Status.FAIL, **window}))
    return found


def _time(client: Client, name: str, query: dict[str, Any], page: int, calls: int) -> Timing:
    marker: str | None = None
    for _ in range(page - 1):  # walk to the page: each marker continues where the last ended
        marker = client.list_invocations(URN, limit=PAGE, marker=marker, **query).next_marker
        if marker is None:
            return Timing(name, page, 0.0, 0.0, 0)
    seconds = []
    shown = 0
    for _ in range(calls):
        began = time.perf_counter()
        found = client.list_invocations(URN, limit=PAGE, marker=marker, **query)
        seconds.append(time.perf_counter() - began)
        shown = found.count
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    return Timing(name, page, statistics.median(seconds) * 1000, p95 * 1000, shown)


def _fill(store: Store, start: float, first: int, last: int) -> None:
    """Invocations ``first`` to ``last`` - 1, spread over the hour after ``start``."""
    port = store.transitions
    for n in range(first, last):
        at = start + HOUR * (n % 3600) / 3600 + (n // 3600) * 1e-4
        rid = f"load-{n}"
        port.accept(NewInvocation(rid, URN, at, at + 2 * HOUR, (), "{}"))
        status = _status_of(n)
        if status in (Status.RUNNING, Status.SUCCESS, Status.FAIL):
            port.claim(rid, URN, 0, at + 0.5, 3, runner="bench", lease_until=at + 60)
        if status.terminal:
            port.finish(Finish(rid, URN, status, at + 1, 7 * 86_400))


def _status_of(n: int) -> Status:
    """The status of the ``n``-th invocation, so that every size holds the same mix."""
    slot = (n * 7919) % 100 / 100
    bound = 0.0
    for status, share in MIX:
        bound += share
        if slot < bound:
            return status
    return Status.WAIT


def _index_bytes(server: RedisServer, size: int) -> float:
    total = 0
    for key in server.client.scan_iter(match="ae:{*}:st:*", count=1000):
        total += int(server.client.memory_usage(key, samples=0) or 0)
    return round(total / size, 1)


def table(reports: list[SizeReport]) -> str:
    """The timings as a Markdown table, a row per size, filter and page."""
    lines = [
        "| stored | filter | page | p50 ms | p95 ms | shown |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for report in reports:
        for t in report.timings:
            lines.append(
                f"| {report.size:,} | {t.filter} | {t.page} | {t.p50:.1f} | {t.p95:.1f} | "
                f"{t.shown} |"
            )
    lines.append("")
    lines.extend(
        f"index by status at {r.size:,} stored: {r.index_bytes:,.1f} bytes per invocation"
        for r in reports
    )
    return "\n".join(lines)
