"""``executor dlq``: list, show, send again (resend) and purge events that were not delivered."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import track

from executor.cli import render
from executor.cli.common import AppOption, JsonOption, client_for, emit, friendly
from executor.cli.helptext import PlainHelpGroup
from executor.runtime.dlq import DeadLetters

dlq_cli = typer.Typer(
    cls=PlainHelpGroup,
    no_args_is_help=True,
    help="Events a destination refused or could not take in time: list, show, resend, purge.",
)

Identities = Annotated[list[str] | None, typer.Argument(help="identities: <request_id>:<outcome>")]
Everything = Annotated[bool, typer.Option("--all", help="every dead-lettered event")]


def dead_letters(app: str | None) -> DeadLetters:
    letters: DeadLetters = client_for(app).dead_letters()
    return letters


def chosen(letters: DeadLetters, identities: list[str] | None, everything: bool) -> list[str]:
    if bool(identities) == everything:
        typer.echo("error FSS.0400: name the identities, or give --all (not both)", err=True)
        raise typer.Exit(1)
    return letters.identities() if everything else list(identities or ())


@dlq_cli.command("list")
def dlq_list(
    limit: int = 100, offset: int = 0, as_json: JsonOption = False, app: AppOption = None
) -> None:
    """Dead-lettered events, oldest first, without the events themselves."""
    with friendly():
        letters = dead_letters(app)
        page = letters.page(limit, offset)
        total = letters.count()
    if as_json:
        emit({"dead_letters": [letter.summary() for letter in page], "count": total})
    else:
        render.show(render.dead_letters(page, total))


@dlq_cli.command("show")
def dlq_show(identity: str, app: AppOption = None) -> None:
    """One dead-lettered event in full: the event, its destination, the reason, the attempts."""
    with friendly():
        emit(dead_letters(app).get(identity))


@dlq_cli.command("resend")
def dlq_resend(
    identities: Identities = None, everything: Everything = False, app: AppOption = None
) -> None:
    """Deliver events again through the normal delivery task, with a fresh deadline."""
    resend(identities, everything, app, "resent")


@dlq_cli.command("redrive", hidden=True, deprecated=True)
def dlq_redrive(
    identities: Identities = None, everything: Everything = False, app: AppOption = None
) -> None:
    """The former name of resend."""
    resend(identities, everything, app, "redriven")


def resend(identities: list[str] | None, everything: bool, app: str | None, key: str) -> None:
    with friendly():
        letters = dead_letters(app)
        wanted = chosen(letters, identities, everything)
        queued: list[str] = []
        # A bar on a terminal (stderr), so the JSON on stdout stays as it is.
        for identity in track(
            wanted,
            description="sending again",
            console=render.console(stderr=True),
            disable=len(wanted) < 2,
            transient=True,
        ):
            queued += letters.resend([identity])
    missing = [identity for identity in wanted if identity not in queued]
    emit({key: queued, "not_found": missing})
    if missing and not everything:
        raise typer.Exit(1)


@dlq_cli.command("purge")
def dlq_purge(
    identities: Identities = None, everything: Everything = False, app: AppOption = None
) -> None:
    """Delete dead-lettered events for good."""
    with friendly():
        letters = dead_letters(app)
        if everything and not identities:
            removed = letters.purge_all()
        else:
            removed = letters.purge(chosen(letters, identities, everything))
    emit({"purged": removed})
