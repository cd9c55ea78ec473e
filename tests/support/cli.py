"""The ``executor`` command in-process: its Click command tree is built once per session.

Typer builds the tree from the functions' signatures on every ``typer.testing.CliRunner``
call, which costs more than most commands run; the tree is the same for every call (a test's
monkeypatched module names are looked up when a command runs, not when it is built).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import click
import typer
from click.testing import CliRunner, Result

from executor.cli import cli


@functools.cache
def command() -> click.Command:
    """The ``executor`` command as Click runs it."""
    return typer.main.get_command(cli)


def invoke(args: Sequence[str], **kwargs: Any) -> Result:
    """Run ``executor ARGS`` as ``typer.testing.CliRunner().invoke(cli, ARGS)`` does."""
    return CliRunner().invoke(command(), list(args), **kwargs)
