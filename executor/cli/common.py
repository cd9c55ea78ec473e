"""What every ``executor`` sub-command shares: the --app option, errors, JSON output."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from executor.core import payload
from executor.core.errors import ExecutorError, InvalidParameter

JsonOption = Annotated[bool, typer.Option("--json", help="print the exact JSON instead of a table")]

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app", "-A", help="module:attribute of a FunctionApp (its functions are known locally)"
    ),
]


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` and return the ``FunctionApp`` it names."""
    from executor.runtime.celery.app import FunctionApp

    module_name, _, attribute = spec.partition(":")
    sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(
            f"cannot import {module_name!r}: {exc}", param_hint="--app"
        ) from exc
    candidates = [attribute] if attribute else ["app"]
    for name in candidates:
        value: Any = module
        for part in name.split("."):
            value = getattr(value, part, None)
        if isinstance(value, FunctionApp):
            return value
    raise typer.BadParameter(f"{spec!r} does not name a FunctionApp", param_hint="--app")


def client_for(app: str | None) -> Any:
    if app:
        return load_app(app).client
    from executor.runtime.client import Client

    return Client()


@contextmanager
def friendly() -> Iterator[None]:
    """Print an error a user can act on, with its FunctionGraph code, and exit 1."""
    try:
        yield
    except ExecutorError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from None


def emit(value: Any) -> None:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def read_json(text: str, what: str) -> Any:
    """JSON given inline or as ``@file``; a problem is one line and exit status 1."""
    with friendly():
        if text.startswith("@"):
            try:
                with open(text[1:], "rb") as handle:
                    return payload.read_json(handle.read(), what)
            except OSError as exc:
                raise InvalidParameter(f"{what}: cannot read {text[1:]}: {exc.strerror}") from None
        return payload.read_json(text, what)
