"""``executor flow``: how many invocations of a function run at once, how fast they start,
pause and resume, and whether its call chain may loop."""

from __future__ import annotations

from types import EllipsisType
from typing import Annotated, Literal

import typer

from executor.cli.common import AppOption, client_for, emit, friendly
from executor.cli.helptext import PlainHelpGroup

flow_cli = typer.Typer(
    cls=PlainHelpGroup,
    no_args_is_help=True,
    help="Flow control of functions: max instances, rate, pause and resume, recursive loops.",
)

Name = Annotated[str, typer.Argument(help="function URN or short name")]


@flow_cli.command("put")
def flow_put(
    name: Name,
    max_instances: Annotated[
        int | None,
        typer.Option(help="-1 unlimited, 0 paused, N at most N running across the fleet"),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="at most this many starts per second (0.1-10000)")
    ] = None,
    no_rate: Annotated[bool, typer.Option("--no-rate", help="remove the rate limit")] = False,
    recursive_loop: Annotated[
        Literal["Terminate", "Allow"] | None,
        typer.Option(help="Allow lets the function's call chain re-enter it"),
    ] = None,
    app: AppOption = None,
) -> None:
    """Change the flow config of a function version; the values not given stay as they are."""
    if rate is not None and no_rate:
        typer.echo("error FSS.0400: give --rate or --no-rate, not both", err=True)
        raise typer.Exit(1)
    if max_instances is None and rate is None and not no_rate and recursive_loop is None:
        typer.echo(
            "error FSS.0400: nothing to change: give --max-instances, --rate, --no-rate or "
            "--recursive-loop (`executor flow get` shows the config)",
            err=True,
        )
        raise typer.Exit(1)
    # Ellipsis keeps the stored rate; None (--no-rate) removes it.
    rate_per_second: float | EllipsisType | None = ... if rate is None and not no_rate else rate
    with friendly():
        emit(
            client_for(app).put_flow_config(
                name,
                max_instances=max_instances,
                rate_per_second=rate_per_second,
                recursive_loop=recursive_loop,
            )
        )


@flow_cli.command("get")
def flow_get(name: Name, app: AppOption = None) -> None:
    """The flow config of a function version (the defaults when none is stored)."""
    with friendly():
        emit(client_for(app).get_flow_config(name))


@flow_cli.command("pause")
def flow_pause(name: Name, app: AppOption = None) -> None:
    """Hold every new invocation back until resume; they are accepted and wait."""
    with friendly():
        emit(client_for(app).pause(name))


@flow_cli.command("resume")
def flow_resume(name: Name, app: AppOption = None) -> None:
    """Give a paused function back the max instances it had."""
    with friendly():
        emit(client_for(app).resume(name))
