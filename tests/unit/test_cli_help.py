"""Every ``executor ... --help`` reads as plain text in a terminal.

Typer prints docstrings and help strings as they are, so reStructuredText markup (double
backticks) shows up literally, and it labels each parameter with its Python type in angle
brackets (``--json <bool>``, ``--help <bool>``), although a flag takes no value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from typer.core import TyperGroup

from tests.support.cli import command, invoke

# A Python type in angle brackets or a Typer range label: what Typer shows without metavars.
TYPE_LABEL = re.compile(r"<(bool|str|int|float|path|datetime|list\[[^>]*\])>|\bint range\b")


def command_paths() -> Iterator[list[str]]:
    root = command()

    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        if isinstance(command, TyperGroup):
            ctx = typer.Context(command)
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), [*path, name])

    yield from walk(root, [])


PATHS = list(command_paths())


def help_of(path: list[str]) -> str:
    result = invoke([*path, "--help"], prog_name="executor", env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_walked() -> None:
    names = {" ".join(path) for path in PATHS}
    assert {"", "worker", "invoke", "config put", "invocations redrive", "dlq resend"} <= names
    assert {"flow put", "store migrate"} <= names
    assert len(names) > 25


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "executor")
def test_help_has_no_markup_or_type_labels(path: list[str]) -> None:
    text = help_of(path)
    assert "``" not in text
    assert not TYPE_LABEL.search(text), TYPE_LABEL.search(text)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage


def test_values_are_named_and_flags_take_none() -> None:
    text = help_of(["invoke"])
    assert "Usage: executor invoke [OPTIONS] NAME" in text
    assert re.search(r"--delay\s+FLOAT", text)
    assert re.search(r"--payload\s+TEXT", text)
    flow = help_of(["flow", "put"])
    assert re.search(r"--recursive-loop\s+Terminate\|Allow", flow)
    assert re.search(r"--no-rate\s+remove the rate limit", flow)
    assert re.search(r"--help\s+Show this message", help_of([]))


def test_tables_print_urns_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    from executor.cli import render

    render.show("urn:fss:local-1:default:function:default:b:latest :smile:")
    assert "default:b:latest :smile:" in capsys.readouterr().out
