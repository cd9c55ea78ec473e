"""The ``executor`` command: workers, invocations, async configs, flow control."""

from __future__ import annotations

from typing import Annotated

import typer

from executor.cli import render
from executor.cli.common import (
    AppOption,
    JsonOption,
    client_for,
    emit,
    friendly,
    load_app,
    read_json,
)
from executor.cli.config import config_cli
from executor.cli.dlq import dlq_cli
from executor.cli.extras import add_lazy_command, require_extra
from executor.cli.fleet import register_fleet_commands
from executor.cli.flow import flow_cli
from executor.cli.helptext import PlainHelpGroup
from executor.cli.redrive import register_redrive
from executor.cli.watch import watch
from executor.core.constants import DELIVERY_QUEUE, INVOCATION_QUEUE
from executor.core.errors import ExecutorError, StoreLayoutMismatch, Unavailable

cli = typer.Typer(
    cls=PlainHelpGroup,
    no_args_is_help=True,
    add_completion=False,
    help="The executor command: workers, invocations, async configs, flow control.",
)
invocations_cli = typer.Typer(
    cls=PlainHelpGroup, no_args_is_help=True, help="Status of invocations; cancel or redrive them."
)
store_cli = typer.Typer(cls=PlainHelpGroup, no_args_is_help=True, help="The state store itself.")
cli.add_typer(config_cli, name="config")
cli.add_typer(invocations_cli, name="invocations")
cli.add_typer(store_cli, name="store")

QUEUE_ALIASES = {"invocations": INVOCATION_QUEUE, "deliveries": DELIVERY_QUEUE}


@cli.command()
def worker(
    app: Annotated[str, typer.Option("--app", "-A", help="module:attribute of a FunctionApp")],
    pool: Annotated[str, typer.Option(help="prefork, solo or threads")] = "prefork",
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c")] = None,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            "-Q",
            help="comma-separated; 'invocations' (the shared queue and each function's own) "
            "and 'deliveries' name the built-in queues (default: every queue of the app)",
        ),
    ] = None,
    autoscale: Annotated[str | None, typer.Option(help="max,min processes")] = None,
    hostname: Annotated[str | None, typer.Option("--hostname", "-n", help="node name")] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
    prefetch: Annotated[int | None, typer.Option(help="messages reserved per process")] = None,
    max_tasks_per_child: Annotated[
        int | None, typer.Option(help="replace a pool process after this many tasks")
    ] = None,
    max_memory_per_child: Annotated[
        int | None, typer.Option(help="replace a pool process above this resident KiB")
    ] = None,
) -> None:
    """Run a worker; SIGTERM is a warm shutdown (running invocations finish, the rest requeue)."""
    from executor.runtime.celery import exits

    function_app = load_app(app)
    with friendly():
        try:
            function_app.client.store.check_layout()
        except StoreLayoutMismatch:
            raise
        except Unavailable:
            pass  # the start-up hook tries again, and stops the worker (status 1) if it fails
    argv = ["worker", f"--pool={pool}", f"--loglevel={loglevel}"]
    argv.append(f"--queues={worker_queues(queues, function_app.queues())}")
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if autoscale:
        argv.append(f"--autoscale={autoscale}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    if prefetch:
        argv.append(f"--prefetch-multiplier={prefetch}")
    if max_tasks_per_child:
        argv.append(f"--max-tasks-per-child={max_tasks_per_child}")
    if max_memory_per_child:
        argv.append(f"--max-memory-per-child={max_memory_per_child}")
    # Celery's banner is not a log line: with JSON logs it would break every line parser.
    quiet = ["--quiet"] if function_app.settings.log_format == "json" else []
    if function_app.settings.metrics_port:
        require_extra("metrics", "EXECUTOR_METRICS_PORT (the worker's metrics exporter)")
        from executor.ops.metrics import serve_from_worker

        serve_from_worker(function_app)
    function_app.celery.start(argv=[*quiet, *argv])
    # Celery's app.start() drops the status its worker chose: exit with it, so a supervisor
    # restarts a worker that stopped on an error.
    raise typer.Exit(exits.exit_status())


def worker_queues(spec: str | None, default: list[str]) -> str:
    """Queue names for ``--queues``, with the built-in queues by their short names.
    ``invocations`` is the shared queue and every function's own (``EXECUTOR_FAIR_QUEUES``),
    so a worker given it runs the functions that are not pinned to a queue either way."""
    if not spec:
        return ",".join(default)
    names: list[str] = []
    for given in (name.strip() for name in spec.split(",")):
        names.append(QUEUE_ALIASES.get(given, given))
        if given == "invocations":
            names += [q for q in default if q.startswith(f"{INVOCATION_QUEUE}.")]
    return ",".join(dict.fromkeys(name for name in names if name))


@cli.command()
def invoke(
    name: Annotated[str, typer.Argument(help="function URN or short name")],
    payload: Annotated[str, typer.Option(help="JSON, or @file")] = "null",
    request_id: Annotated[
        str | None,
        typer.Option(
            help="use this request id (1-64 of A-Za-z0-9._:-); the same call again queues nothing"
        ),
    ] = None,
    delay: Annotated[float, typer.Option(help="seconds (0-3600) before it may start")] = 0,
    app: AppOption = None,
) -> None:
    """Invoke a function asynchronously and print the request id."""
    body = read_json(payload, "--payload")
    with friendly():
        typer.echo(client_for(app).invoke_async(name, body, request_id=request_id, delay=delay))


@invocations_cli.command("list")
def invocations_list(
    name: str,
    status: str | None = None,
    since: Annotated[float | None, typer.Option(help="epoch seconds")] = None,
    until: Annotated[float | None, typer.Option(help="epoch seconds")] = None,
    limit: int = 100,
    marker: str | None = None,
    as_json: JsonOption = False,
    app: AppOption = None,
) -> None:
    """Invocations of a function, newest first."""
    with friendly():
        page = client_for(app).list_invocations(
            name, status=status, since=since, until=until, limit=limit, marker=marker
        )
    if not as_json:
        render.show(render.invocations(page.invocations, page.next_marker))
        return
    emit(
        {
            "invocations": [i.to_wire() for i in page.invocations],
            "count": page.count,
            "next_marker": page.next_marker,
        }
    )


@invocations_cli.command("show")
def invocations_show(request_id: str, as_json: JsonOption = False, app: AppOption = None) -> None:
    """The full status record of one invocation, with its history and deliveries."""
    with friendly():
        record = client_for(app).get_invocation(request_id)
    if as_json:
        emit(record)
    else:
        render.show(render.invocation(record))


invocations_cli.command("watch")(watch)


@invocations_cli.command("cancel")
def invocations_cancel(
    request_id: str,
    force: Annotated[bool, typer.Option(help="also stop it if it is running")] = False,
    recursive: Annotated[
        bool, typer.Option(help="also cancel every invocation it started, further down too")
    ] = False,
    app: AppOption = None,
) -> None:
    """Cancel an invocation; the record shows it, with `cancelled` listing what ended."""
    with friendly():
        emit(client_for(app).cancel(request_id, force=force, recursive=recursive))


@cli.command()
def api(
    host: Annotated[str | None, typer.Option(help="default: EXECUTOR_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: EXECUTOR_API_PORT")] = None,
    app: AppOption = None,
) -> None:
    """Serve the HTTP API (FunctionGraph's async endpoints) with uvicorn."""
    require_extra("api", "executor api")
    import uvicorn

    from executor.api.app import create_api
    from executor.api.auth import Authenticator
    from executor.api.framing import JsonRefusals
    from executor.core.constants import HEADER_LIMIT

    client = client_for(app)
    with friendly():
        authenticator = Authenticator.from_settings(client.settings)
    if not authenticator.configured:
        typer.echo(
            "error: no caller could be let in. Set EXECUTOR_API_TOKENS or "
            "EXECUTOR_API_ACCESS_KEYS (or their _FILE forms), or EXECUTOR_API_ANONYMOUS=true",
            err=True,
        )
        raise typer.Exit(1)
    application = create_api(client, client.settings, authenticator=authenticator)
    uvicorn.run(
        application,
        host=host or client.settings.api_host,
        port=port or client.settings.api_port,
        # h11's refusals of unreadable requests in the error body too
        http=JsonRefusals.reading_within(client.settings.api_read_timeout),
        h11_max_incomplete_event_size=HEADER_LIMIT,  # and the gate's for headers read whole
    )


@store_cli.command("migrate")
def store_migrate(app: AppOption = None) -> None:
    """Bring a state store written by the previous version up to this one's key layout (stop
    the workers first); running it again does nothing."""
    client = client_for(app)
    with friendly():
        done = client.store.migrate(client.settings.status_retention)
    emit({"indexed": done.records, "chains_moved": done.chains})


add_lazy_command(
    cli,
    "bench",
    "executor.ops.bench.command:bench",
    "bench",
    "Measure throughput, latency and memory against plain Celery on a private Redis",
)


register_fleet_commands(cli)
register_redrive(invocations_cli)
cli.add_typer(dlq_cli, name="dlq")
cli.add_typer(flow_cli, name="flow")


def main() -> None:
    """Run the command; an error raised before a command could report it (settings that are
    not allowed, an app module that fails on import) is one line, not a traceback."""
    try:
        cli()
    except ExecutorError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise SystemExit(1) from None
