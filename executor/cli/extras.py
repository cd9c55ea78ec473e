"""Commands whose packages come with an extra: a missing extra is one line, not a traceback."""

from __future__ import annotations

import importlib
from typing import Any

import typer

from executor.cli.helptext import PlainCommand
from executor.core import extras


def require_extra(extra: str, feature: str) -> None:
    """Exit 1 with one line naming the extra to install when a package of ``extra`` is missing."""
    absent = extras.missing(extra)
    if absent:
        typer.echo(f"error: {extras.needs(feature, extra, absent)}", err=True)
        raise typer.Exit(1)


def add_lazy_command(cli: typer.Typer, name: str, target: str, extra: str, summary: str) -> None:
    """Add ``name``, whose Typer function ``module:attribute`` is imported only when it runs.

    The command's module and its packages stay out of every other command (a worker, a
    producer); its options, ``--help`` among them, are handed to it as they are.
    """

    @cli.command(
        name,
        help=f"{summary}; needs the {extra!r} extra.",
        add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def forward(ctx: typer.Context) -> Any:
        require_extra(extra, f"executor {name}")
        module, _, attribute = target.partition(":")
        app = typer.Typer(add_completion=False)
        app.command(name, cls=PlainCommand)(getattr(importlib.import_module(module), attribute))
        command = typer.main.get_command(app)
        return command.main(ctx.args, prog_name=ctx.command_path, standalone_mode=False)
