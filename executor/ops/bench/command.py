"""The ``executor bench`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

SCENARIO_KEYS = ("a", "b", "c", "d", "e", "f")


def bench(
    n: Annotated[int, typer.Option("--n", min=1, help="messages per scenario")] = 2000,
    pool: Annotated[str, typer.Option(help="worker pool: prefork, solo or threads")] = "prefork",
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", min=1, help="default: CPU count")
    ] = None,
    prefetch: Annotated[
        int | None, typer.Option(min=1, help="prefetch multiplier; default: Celery's")
    ] = None,
    only: Annotated[
        str,
        typer.Option(
            help="comma-separated scenarios among a,b,c,d,e,f and g (a cap of 4: run it "
            "with --concurrency 4 beside b)"
        ),
    ] = ",".join(SCENARIO_KEYS),
    warmup: Annotated[int, typer.Option(min=1, help="unmeasured messages first")] = 50,
    rounds: Annotated[
        int, typer.Option(min=1, help="scenarios take turns this many times; medians reported")
    ] = 1,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the report here")] = None,
    stores: Annotated[
        bool,
        typer.Option(
            "--stores",
            help="instead: invoke_async with 1 Redis master vs a 3-master Redis Cluster as the "
            "state store (needs --broker)",
        ),
    ] = False,
    broker: Annotated[
        str, typer.Option(help="RabbitMQ URL for --stores, e.g. a private vhost")
    ] = "",
    retention: Annotated[
        int,
        typer.Option(
            min=0,
            help="instead: run this many flows (an invocation and the one its FunctionGraph "
            "destination starts) with a 60 s retention and measure what they leave in Redis",
        ),
    ] = 0,
    listings: Annotated[
        str,
        typer.Option(
            help="instead: time the API's listings (each status filter, a time window; first "
            "and 50th page) with this many invocations stored, e.g. 10000,100000,400000",
        ),
    ] = "",
    console: Annotated[
        bool,
        typer.Option(
            "--console",
            help="instead: time each console page with --n invocations stored (no worker)",
        ),
    ] = False,
    samples: Annotated[int, typer.Option(min=5, help="requests per page for --console")] = 100,
    fleet: Annotated[
        bool,
        typer.Option(
            "--fleet",
            help="instead: what flow control costs Redis for a grid of workers x capped "
            "functions, idle and under 10 invocations/s (gate instances in one process)",
        ),
    ] = False,
    window: Annotated[
        float, typer.Option(min=2, help="seconds each --fleet cell is measured")
    ] = 20.0,
    real: Annotated[
        bool,
        typer.Option("--real", help="--fleet on real worker processes (solo pool), idle only"),
    ] = False,
    uncapped: Annotated[
        bool, typer.Option("--uncapped", help="--fleet --real with functions without caps")
    ] = False,
) -> None:
    """Measure throughput, latency and memory against plain Celery on a private Redis.

    (a) Celery task; (b) invoke_async;
    (c) Celery task with a link callback; (d) invoke_async to a FunctionGraph destination;
    (e) invoke_async to an OBS destination (a local S3 server).
    """
    if json_path is not None:
        _report_folder(json_path)
    if stores:
        _stores(broker, n, rounds, warmup, pool, concurrency, json_path)
        return
    if listings:
        _listings(listings, json_path)
        return
    if retention:
        from executor.ops.bench.retention import measure

        found = measure(retention, progress=lambda line: typer.echo(line, err=True))
        typer.echo(
            f"{found.flows:,} flows, retired {found.seconds:.0f} s after the first was sent; "
            f"left after retention: {found.bytes_per_flow:,.1f} bytes per flow, "
            f"in new keys {found.keys_left}"
        )
        return
    if console:
        _console(n, samples, json_path)
        return
    if fleet:
        _fleet(window, real, uncapped, json_path)
        return
    from executor.ops.bench.report import table
    from executor.ops.bench.runner import Bench, Options

    shown = _Shown()

    keys = tuple(dict.fromkeys(k.strip() for k in only.split(",") if k.strip()))
    try:
        runner = Bench(
            Options(
                n=n,
                pool=pool,
                concurrency=concurrency or os.cpu_count() or 1,
                prefetch=prefetch,
                only=keys,
                warmup=warmup,
                rounds=rounds,
            ),
            shown.line,
            shown.count,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from None
    with shown:
        report = runner.run()
    typer.echo(table(report))
    if json_path is not None:
        report.write(json_path)
        typer.echo(f"wrote {json_path}")


def _report_folder(path: Path) -> None:
    """Make the folder of the report, so that a path it cannot be written to is refused before
    minutes of measuring rather than after them."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writable = not path.is_dir() and os.access(path.parent, os.W_OK)
    except OSError as exc:
        raise typer.BadParameter(f"{path}: {exc.strerror}", param_hint="--json") from None
    if not writable:
        raise typer.BadParameter(f"{path}: not a file this user can write", param_hint="--json")


def _stores(
    broker: str,
    n: int,
    rounds: int,
    warmup: int,
    pool: str,
    concurrency: int | None,
    json_path: Path | None,
) -> None:
    from executor.ops.bench import stores as scale

    try:
        found = scale.compare_stores(
            broker=broker,
            n=n,
            rounds=rounds,
            warmup=warmup,
            pool=pool,
            concurrency=concurrency or os.cpu_count() or 1,
            progress=_progress,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--broker") from None
    typer.echo(scale.table(found))
    if json_path is not None:
        scale.write(found, json_path)
        typer.echo(f"wrote {json_path}")


def _console(n: int, samples: int, json_path: Path | None) -> None:
    from executor.ops.bench import console as pages

    timings = pages.measure_console(n, samples, lambda text: _progress(text, True))
    typer.echo(pages.console_table(n, timings))
    if json_path is not None:
        pages.write_console(json_path, n, timings)
        typer.echo(f"wrote {json_path}")


def _fleet(window: float, real: bool, uncapped: bool, json_path: Path | None) -> None:
    from executor.ops.bench import fleet as grid

    def shown(line: str) -> None:
        typer.echo(line, err=True)

    if real:
        cap = None if uncapped else 4
        cells = grid.measure_real(seconds=window, cap=cap, progress=shown)
    else:
        cells = grid.measure(seconds=window, progress=shown)
    typer.echo(grid.table(cells))
    if json_path is not None:
        grid.write(cells, json_path)
        typer.echo(f"wrote {json_path}")


def _progress(message: str, final: bool) -> None:
    """One line that updates in place on a terminal; only finished steps otherwise."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[2K{message}" + ("\n" if final else ""))
        sys.stderr.flush()
    elif final:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


class _Shown:
    """A progress bar per measured batch on a terminal (stderr); the finished steps otherwise."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bars = Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Shown:
        self.bars.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bars.stop()

    def line(self, text: str, final: bool) -> None:
        label, _, _ = text.rpartition(": ")
        if not self.console.is_terminal:
            if final:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
        elif label not in self.tasks:
            self.bars.console.print(text, highlight=False)

    def count(self, label: str, done: int, total: int) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.bars.add_task(label, total=total)
        self.bars.update(self.tasks[label], completed=done)


def _listings(sizes: str, json_path: Path | None) -> None:
    import dataclasses
    import json

    from executor.ops.bench.listings import measure, table

    try:
        wanted = [int(size) for size in sizes.split(",") if size.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"sizes are numbers of invocations, comma-separated, not {sizes!r}",
            param_hint="--listings",
        ) from None
    if not wanted or min(wanted) < 1:
        raise typer.BadParameter("give at least one size of 1 or more", param_hint="--listings")
    reports = measure(wanted, progress=lambda line: typer.echo(line, err=True))
    typer.echo(table(reports))
    if json_path is not None:
        json_path.write_text(json.dumps([dataclasses.asdict(r) for r in reports], indent=2))
        typer.echo(f"wrote {json_path}")
