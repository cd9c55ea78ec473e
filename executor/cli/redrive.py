"""``executor invocations redrive``: invoke failed or discarded invocations again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from executor.cli.common import AppOption, client_for, emit, friendly
from executor.core.errors import ExecutorError


def moment(text: str | None, option: str) -> float | None:
    """Epoch seconds, or an ISO time (UTC when it has no offset)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(
            f"error FSS.0400: {option} takes epoch seconds or an ISO time "
            f"(2026-01-31T12:00:00), not {text!r}",
            err=True,
        )
        raise typer.Exit(1) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def redrive(
    request_ids: Annotated[
        list[str] | None, typer.Argument(help="request ids of FAIL or DISCARD invocations")
    ] = None,
    function: Annotated[
        str | None, typer.Option(help="redrive what this function's invocations that ended")
    ] = None,
    status: Annotated[str, typer.Option(help="with --function: FAIL or DISCARD")] = "FAIL",
    since: Annotated[
        str | None, typer.Option(help="with --function: accepted at or after (epoch or ISO)")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="with --function: accepted at or before (epoch or ISO)")
    ] = None,
    limit: Annotated[int, typer.Option(help="with --function: at most this many")] = 1000,
    app: AppOption = None,
) -> None:
    """Invoke ended invocations again with their payloads, as <id>.r1, <id>.r2, ...

    Idempotent: a redrive that has not ended yet is answered with its id, not queued again.
    Prints {"redriven": {id: new id}, "refused": {id: reason}}; exits 1 if a named id was
    refused.
    """
    if bool(request_ids) == bool(function):
        typer.echo("error FSS.0400: name request ids, or give --function (not both)", err=True)
        raise typer.Exit(1)
    client = client_for(app)
    with friendly():
        wanted = list(request_ids or ())
        if function:
            wanted = client.redrivable(
                function,
                status,
                since=moment(since, "--since"),
                until=moment(until, "--until"),
                limit=limit,
            )
    redriven: dict[str, str] = {}
    refused: dict[str, str] = {}
    columns = (
        TextColumn("redrive"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, disable=len(wanted) < 2) as progress:
        task = progress.add_task("redrive", total=len(wanted))
        for request_id in wanted:
            try:
                redriven[request_id] = client.redrive(request_id)
            except ExecutorError as exc:
                refused[request_id] = f"{exc.code}: {exc.message}"
            progress.advance(task)
    emit({"redriven": redriven, "refused": refused})
    if refused and not function:
        raise typer.Exit(1)


def register_redrive(invocations: typer.Typer) -> None:
    invocations.command("redrive")(redrive)
