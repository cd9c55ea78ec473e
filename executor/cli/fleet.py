"""Commands that operate the fleet: health checks, Flower and the metrics exporter."""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from executor.cli.common import AppOption, friendly, load_app
from executor.cli.extras import require_extra
from executor.core.settings import Settings, get_settings
from executor.runtime.celery.celery_app import make_celery


def _app_parts(app: str | None) -> tuple[Settings, Any]:
    """The settings and Celery app of ``--app``, or of the environment alone."""
    if app:
        function_app = load_app(app)
        return function_app.settings, function_app.celery
    try:
        settings = get_settings()
    except ValidationError as exc:
        typer.echo(f"error: the EXECUTOR_* settings are invalid:\n{exc}", err=True)
        raise typer.Exit(2) from None
    return settings, make_celery(settings)


def health(
    app: AppOption = None,
    node: Annotated[
        str | None,
        typer.Option(
            "--node",
            "-n",
            help="the worker's node name, as given to 'executor worker --hostname' "
            "(%h is this host; default celery@<this host>)",
        ),
    ] = None,
    worker: Annotated[
        bool,
        typer.Option("--worker/--no-worker", help="ping the local worker (off on API hosts)"),
    ] = True,
    timeout: Annotated[float, typer.Option(help="seconds each check may take")] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Check the broker, the state store and the local worker; exit 1 if one does not answer."""
    from executor.ops.health import node_name, run_checks

    settings, celery = _app_parts(app)
    checks = run_checks(settings, celery, node=node_name(node) if worker else None, timeout=timeout)
    healthy = all(check.ok for check in checks)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "healthy": healthy,
                    "checks": [
                        {"name": c.name, "ok": c.ok, "detail": c.detail, "seconds": c.seconds}
                        for c in checks
                    ],
                }
            )
        )
    else:
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            typer.echo(f"{mark} {check.name:<12} {check.detail} ({check.seconds * 1000:.0f} ms)")
    if not healthy:
        raise typer.Exit(1)


def flower(
    ctx: typer.Context,
    app: AppOption = None,
    port: Annotated[int, typer.Option(help="HTTP port")] = 5555,
    address: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    url_prefix: Annotated[str, typer.Option(help="serve under this path")] = "",
) -> None:
    """Run Flower for the fleet, with basic auth from EXECUTOR_FLOWER_BASIC_AUTH.

    Further options (such as --max_tasks=10000) are handed to Flower as they are.
    """
    require_extra("flower", "executor flower")
    from executor.ops.flower import run_flower

    settings, celery = _app_parts(app)
    with friendly():
        run_flower(
            celery, settings, port=port, address=address, url_prefix=url_prefix, extra=ctx.args
        )


def metrics(
    app: AppOption = None,
    port: Annotated[int | None, typer.Option(help="default: EXECUTOR_METRICS_PORT or 9808")] = None,
    address: Annotated[str | None, typer.Option(help="default: EXECUTOR_METRICS_ADDRESS")] = None,
) -> None:
    """Serve the fleet's Prometheus metrics on /metrics until stopped."""
    require_extra("metrics", "executor metrics")
    from executor.ops.metrics import serve
    from executor.state.store import Store

    settings, celery = _app_parts(app)
    bind_port = port or settings.metrics_port or 9808
    bind_address = address or settings.metrics_address
    serve(Store(settings), celery, bind_port, bind_address)
    typer.echo(f"serving fleet metrics on http://{bind_address}:{bind_port}/metrics")
    threading.Event().wait()


def register_fleet_commands(cli: typer.Typer) -> None:
    cli.command("health")(health)
    cli.command(
        "flower", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(flower)
    cli.command("metrics")(metrics)
