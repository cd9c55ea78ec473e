"""What flow control costs a fleet: a grid of workers x flow-controlled functions on one private
redis-server, idle and under a light load.

Starting dozens of real workers is more than a small machine can measure fairly, so each
worker is its flow-control part alone: a ``Dispatcher`` on a store and a Redis client of its
own, as a worker process builds them, all in this process. Idle, nothing is invoked: what the
server counts over the window (``INFO commandstats``, ``INFO stats``, ``INFO cpu``) is what the
fleet's flow control asks of it. Under load, a producer invokes 10 a second spread over the
functions, and a runner takes each queued message off the broker list, records how long it
waited since it was accepted, and ends it as a worker would (its slot freed through the gate).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from executor.core.catalogue import function_queue
from executor.core.constants import INVOCATION_QUEUE
from executor.core.flow import FlowConfig
from executor.core.registry import FunctionSpec, Registry
from executor.core.settings import Settings
from executor.core.urn import parse_urn
from executor.ops.bench.report import percentile
from executor.ops.servers import RedisServer, WorkerProcess, wait_for
from executor.runtime.celery.engine import Engine
from executor.runtime.dispatcher import Dispatcher

Progress = Callable[[str], None]
GRID = (
    (2, 10, False),
    (8, 10, False),
    (8, 100, False),
    (8, 100, True),
    (8, 1000, False),
    (8, 1000, True),
)
REGION, PROJECT = "bench", "fleet"
APP = "executor.ops.bench.fleet_app:app"
_CAP = FlowConfig(max_instances=4)


@dataclass(frozen=True)
class Cell:
    workers: int
    functions: int
    fair_queues: bool
    commands_per_s: float
    cpu_percent: float
    connections_per_s: float
    hello_per_s: float
    load_p50_ms: float | None = None
    load_p95_ms: float | None = None
    loadavg: float = 0.0


def measure(
    grid: tuple[tuple[int, int, bool], ...] = GRID,
    seconds: float = 20.0,
    load: bool = True,
    progress: Progress = print,
) -> list[Cell]:
    cells = []
    for workers, functions, fair in grid:
        with RedisServer(prefix="executor-fleet-") as server:
            cell = _cell(server, workers, functions, fair, seconds, load)
        progress(
            f"{workers} workers x {functions} functions{' (fair queues)' if fair else ''}: "
            f"{cell.commands_per_s:,.0f} commands/s, CPU {cell.cpu_percent:.1f}%, "
            f"{cell.connections_per_s:.1f} connections/s"
            + (
                f"; 10/s load: start p50 {cell.load_p50_ms:.0f} ms, p95 {cell.load_p95_ms:.0f} ms"
                if cell.load_p95_ms is not None
                else ""
            )
        )
        cells.append(cell)
    return cells


def measure_real(
    grid: tuple[tuple[int, int, bool], ...] = GRID,
    seconds: float = 20.0,
    cap: int | None = 4,
    progress: Progress = print,
) -> list[Cell]:
    """The idle grid on real workers (solo pool): the whole worker's cost, not flow control's
    alone (the broker's consumer, the reconciler, the stall watch)."""
    cells = []
    for workers, functions, fair in grid:
        with RedisServer(prefix="executor-fleet-") as server:
            env = {
                "EXECUTOR_BROKER_URL": server.url,
                "EXECUTOR_REDIS_URL": server.url,
                "EXECUTOR_REGION": REGION,
                "EXECUTOR_PROJECT_ID": PROJECT,
                "EXECUTOR_FAIR_QUEUES": "1" if fair else "0",
                "EXECUTOR_BENCH_FUNCTIONS": str(functions),
                "EXECUTOR_BENCH_CAP": "" if cap is None else str(cap),
            }
            fleet = [WorkerProcess(APP, env, pool="solo", concurrency=1) for _ in range(workers)]
            try:
                for worker in fleet:
                    worker.start(wait=False)
                for worker in fleet:
                    wait_for(_ready(worker), 120, "worker start")
                time.sleep(10)  # the fleet settles
                idle = _window(server.client, seconds)
            finally:
                for worker in fleet:
                    worker.close()
        with open("/proc/loadavg") as f:
            loadavg = float(f.read().split()[0])
        cell = Cell(workers, functions, fair, *idle, loadavg=loadavg)
        progress(
            f"real: {workers} workers x {functions} functions{' (fair queues)' if fair else ''}"
            f": {cell.commands_per_s:,.0f} commands/s, CPU {cell.cpu_percent:.1f}%, "
            f"{cell.connections_per_s:.1f} connections/s, HELLO {cell.hello_per_s:.1f}/s"
        )
        cells.append(cell)
    return cells


def _ready(worker: WorkerProcess) -> Callable[[], bool]:
    return lambda: "ready." in worker.output()


def _urn(n: int) -> str:
    return f"urn:fss:{REGION}:{PROJECT}:function:default:f{n}:latest"


def _settings(server: RedisServer, fair: bool) -> Settings:
    return Settings(broker_url=server.url, region=REGION, project_id=PROJECT, fair_queues=fair)


def _noop(event: Any, context: Any) -> None:
    return None


def _cell(
    server: RedisServer, workers: int, functions: int, fair: bool, seconds: float, load: bool
) -> Cell:
    settings = _settings(server, fair)
    registry = Registry()
    for n in range(functions):
        urn = parse_urn(_urn(n), region=REGION, project=PROJECT)
        queue = function_queue(urn) if fair else INVOCATION_QUEUE
        registry.add(FunctionSpec(urn=urn, handler=_noop, queue=queue, flow=_CAP))
    admin = Engine.assemble(settings, registry=registry)
    admin.store.catalogue.publish(registry.catalogue())
    fleet = [Engine.assemble(settings, registry=registry) for _ in range(workers)]
    dispatchers = [Dispatcher(settings, e.store, e.functions, e.admission) for e in fleet]
    for dispatcher in dispatchers:
        dispatcher.start()
    try:
        time.sleep(min(5.0, seconds / 2))  # the fleet settles: connections made, scripts loaded
        idle = _window(server.client, seconds)
        p50 = p95 = None
        if load:
            queues = sorted({s.queue for s in registry})
            p50, p95 = _load(server, admin, fleet[0], functions, seconds, queues)
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        for dispatcher in dispatchers:
            thread = getattr(dispatcher, "_thread", None)
            if thread is not None:
                thread.join(10)
    with open("/proc/loadavg") as f:
        loadavg = float(f.read().split()[0])
    return Cell(workers, functions, fair, *idle, p50, p95, loadavg)


def _window(rdb: redis.Redis, seconds: float) -> tuple[float, float, float, float]:
    """Commands/s (this probe's own INFO calls left out), server CPU %, connections/s and
    HELLO/s over ``seconds``."""
    before = _counters(rdb)
    started = time.monotonic()
    time.sleep(seconds)
    after = _counters(rdb)
    elapsed = time.monotonic() - started
    calls = after[0] - before[0] - 1  # the INFO of the second probe
    return (
        calls / elapsed,
        100 * (after[1] - before[1]) / elapsed,
        (after[2] - before[2]) / elapsed,
        (after[3] - before[3]) / elapsed,
    )


def _counters(rdb: redis.Redis) -> tuple[int, float, int, int]:
    stats: dict[str, Any] = rdb.info("all")
    calls = sum(v["calls"] for k, v in stats.items() if k.startswith("cmdstat_"))
    hello = stats.get("cmdstat_hello", {}).get("calls", 0)
    cpu = float(stats["used_cpu_sys"]) + float(stats["used_cpu_user"])
    return calls, cpu, int(stats["total_connections_received"]), int(hello)


def _load(
    server: RedisServer,
    admin: Engine,
    worker: Engine,
    functions: int,
    seconds: float,
    queues: list[str],
) -> tuple[float, float]:
    """10 invocations a second over the functions; each message is taken and ended at once."""
    delays: list[float] = []
    stop = threading.Event()
    runner = threading.Thread(target=_run, args=(server, worker, queues, delays, stop), daemon=True)
    runner.start()
    try:
        n = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            admin.admission.invoke(_urn(n % functions), {"n": n})
            n += 1
            time.sleep(max(0.0, started + n / 10 - time.monotonic()))
        time.sleep(2)
    finally:
        stop.set()
        runner.join(5)
    if not delays:
        return float("nan"), float("nan")
    ordered = sorted(delays)
    return statistics.median(ordered) * 1000, percentile(ordered, 95) * 1000


def _run(
    server: RedisServer,
    worker: Engine,
    queues: list[str],
    delays: list[float],
    stop: threading.Event,
) -> None:
    rdb = redis.Redis.from_url(server.url, decode_responses=True)
    while not stop.is_set():
        found = rdb.brpop(queues, timeout=1)
        if found is None:
            continue
        body = json.loads(found[1])
        rid = body["headers"]["id"]
        record = worker.store.records.record(rid)
        if record is None:
            continue
        delays.append(time.time() - record.enqueued_at)
        _end(worker, record.urn, rid)
    rdb.close()


def _end(worker: Engine, urn: str, request_id: str) -> None:
    """End a run as a worker does: its slot freed (and, with a gate, the next one let in)."""
    gate = getattr(worker.admission, "gate", None)
    worker.store.transitions.cancel(request_id, urn, force=True, retention=60)
    if gate is not None:
        gate.ended(urn, request_id)
    else:
        worker.store.flows.forget(urn, request_id)


def table(cells: list[Cell]) -> str:
    lines = [
        "| workers | functions (max_instances=4) | fair queues | Redis commands/s | Redis CPU "
        "| new connections/s | HELLO/s | 10/s start p50 | p95 | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        p50 = "-" if c.load_p50_ms is None else f"{c.load_p50_ms:,.0f} ms"
        p95 = "-" if c.load_p95_ms is None else f"{c.load_p95_ms:,.0f} ms"
        lines.append(
            f"| {c.workers} | {c.functions} | {'yes' if c.fair_queues else 'no'} "
            f"| {c.commands_per_s:,.0f} | {c.cpu_percent:.1f}% | {c.connections_per_s:.1f} "
            f"| {c.hello_per_s:.1f} | {p50} | {p95} | {c.loadavg:.2f} |"
        )
    return "\n".join(lines)


def write(cells: list[Cell], path: Path) -> None:
    path.write_text(json.dumps([asdict(c) for c in cells], indent=2))
