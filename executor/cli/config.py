"""``executor config``: the async configurations of functions (put, get, delete, list)."""

from __future__ import annotations

from typing import Annotated

import typer

from executor.cli import render
from executor.cli.common import AppOption, JsonOption, client_for, emit, friendly, read_json
from executor.cli.helptext import PlainHelpGroup

config_cli = typer.Typer(
    cls=PlainHelpGroup, no_args_is_help=True, help="Async configurations of functions."
)


@config_cli.command("put")
def config_put(
    name: str,
    body: Annotated[str, typer.Option(help="the async config as JSON, or @file")],
    app: AppOption = None,
) -> None:
    """Set (replace) the async configuration of a function version."""
    data = read_json(body, "--body")
    with friendly():
        emit(client_for(app).put_async_config(name, data))


@config_cli.command("get")
def config_get(name: str, as_json: JsonOption = False, app: AppOption = None) -> None:
    """The async configuration of one function version."""
    with friendly():
        found = client_for(app).get_async_config(name)
    if as_json:
        emit(found)
    else:
        render.show(render.config(found))


@config_cli.command("delete")
def config_delete(name: str, app: AppOption = None) -> None:
    """Delete the async configuration of a function version."""
    with friendly():
        client_for(app).delete_async_config(name)
    typer.echo("deleted")


@config_cli.command("list")
def config_list(
    name: str,
    marker: str | None = None,
    limit: int = 10,
    as_json: JsonOption = False,
    app: AppOption = None,
) -> None:
    """The async configurations of every version of a function."""
    with friendly():
        page = client_for(app).list_async_configs(name, marker=marker, limit=limit)
    if as_json:
        emit(page)
    else:
        render.show(render.configs(page.async_invoke_configs))
