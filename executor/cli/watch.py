"""``executor invocations watch``: follow status changes live until the invocations end."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from executor.cli import render
from executor.cli.common import AppOption, client_for, friendly
from executor.core.invocation import Invocation, Status

# Enough for every invocation a person can follow on one screen.
_PAGE = 500


def watch(
    request_id: Annotated[str | None, typer.Argument(help="the invocation to follow")] = None,
    function: Annotated[
        str | None,
        typer.Option(
            "--function",
            help="follow every invocation of this function (URN or short name) until none is "
            "active",
        ),
    ] = None,
    interval: Annotated[float, typer.Option(min=0.05, help="seconds between looks")] = 0.5,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="stop after this many seconds (exit 2)")
    ] = None,
    app: AppOption = None,
) -> None:
    """Print each status an invocation reaches, live, until it ends.

    Exits 0 when what was followed ended SUCCESS, 1 when something ended FAIL or DISCARD,
    2 when --timeout ran out first.
    """
    if (request_id is None) == (function is None):
        typer.echo("error FSS.0400: name an invocation, or give --function (not both)", err=True)
        raise typer.Exit(1)
    client = client_for(app)
    out = render.console()
    seen: dict[str, tuple[Status, int]] = {}
    failed = False
    deadline = None if timeout is None else time.monotonic() + timeout
    since = time.time()
    first = True
    try:
        while True:
            with friendly():
                records = _look(client, request_id, function, since, seen)
            if first and function is not None:
                # On stderr, so stdout holds only changes; a script may wait for this line.
                typer.echo(f"watching {client.resolve(function)}; Ctrl-C stops", err=True)
            first = False
            for record in records:
                state = (record.status, record.attempts)
                if seen.get(record.request_id) != state:
                    seen[record.request_id] = state
                    out.print(render.change(record))
                    failed |= record.status in (Status.FAIL, Status.DISCARD)
            if seen and all(status.terminal for status, _ in seen.values()):
                raise typer.Exit(1 if failed else 0)
            if deadline is not None and time.monotonic() >= deadline:
                typer.echo("watch: timed out before the end", err=True)
                raise typer.Exit(2)
            time.sleep(interval)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _look(
    client: Any, request_id: str | None, function: str | None, since: float, seen: dict[str, Any]
) -> list[Invocation]:
    if request_id is not None:
        return [client.get_invocation(request_id)]
    assert function is not None
    # Those queued since the watch began, ended or not (one may run between two looks), and
    # those still active from before it.
    found = {
        record.request_id: record
        for page in (
            client.list_invocations(function, since=since, limit=_PAGE),
            client.list_invocations(function, limit=_PAGE, active_only=True),
        )
        for record in page.invocations
    }
    # Those that were active at the last look and are neither now have ended: read their end.
    ended = [rid for rid, (status, _) in seen.items() if not status.terminal and rid not in found]
    return [*found.values(), *client.store.records.get_many(ended)]
