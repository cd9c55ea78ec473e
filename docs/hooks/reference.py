"""MkDocs hook: the reference pages are generated from the code at every build, so they cannot
drift from it.

A page asks for a generated part with a marker line of its own:

- ``<!-- generated: settings -->``: every setting of ``executor.core.settings.Settings``;
- ``<!-- generated: cli -->``: every ``executor`` command, read from the Typer app;
- ``<!-- generated: http-api -->``: every operation of the API's OpenAPI document, as
  ``executor api`` serves it; the document itself is written beside the page as
  ``openapi.json``.

A setting without a description, or a marker nobody generates, fails the build.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import typer
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from pydantic import SecretStr
from typer.core import TyperArgument, TyperGroup

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
OPENAPI_PATH = "reference/openapi.json"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "screenshots"


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, OPENAPI_PATH, content=json.dumps(openapi(), indent=2)))
    # The screenshots stay where the tests that take them write them.
    for picture in sorted(SCREENSHOTS.glob("*.png")):
        files.append(File.generated(config, f"images/{picture.name}", abs_src_path=str(picture)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    def generate(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_uri}: no generator for marker {name!r}")
        return GENERATORS[name]()

    return MARKER.sub(generate, markdown)


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    from pydantic_core import PydanticUndefined

    from executor.core.settings import Settings

    rows = [
        "| variable | type | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise PluginError(f"the setting {name} has no description: give its Field one")
        default = field.default
        if default is PydanticUndefined:
            shown = "required"
        elif hasattr(default, "get_secret_value"):
            shown = "none" if not default.get_secret_value() else "(secret)"
        elif isinstance(default, bool):
            shown = f"`{str(default).lower()}`"
        else:
            shown = f"`{default}`" if default not in ("", None) else "none"
        kind = type_name(field.annotation)
        rows.append(
            f"| `EXECUTOR_{name.upper()}` | {cell(kind)} | {cell(shown)} | "
            f"{cell(bounds(field.metadata))} | {cell(field.description)} |"
        )
    return "\n".join(rows)


def type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{value}`" for value in get_args(annotation))
    if annotation is SecretStr:
        return "str (secret)"
    name = getattr(annotation, "__name__", None) or str(annotation)
    return name.replace("typing.", "").replace(" | None", " or none")


def bounds(metadata: list[Any]) -> str:
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    found = [
        f"{sign} {getattr(item, key)}"
        for item in metadata
        for key, sign in signs.items()
        if getattr(item, key, None) is not None
    ]
    return ", ".join(found)


def cli_reference() -> str:
    from executor.cli import cli

    root = typer.main.get_command(cli)
    parts: list[str] = []

    def walk(command: Any, path: list[str]) -> None:
        ctx = typer.Context(command, info_name=" ".join(["executor", *path]))
        if path:
            parts.append(command_section(command, ctx, path))
        if isinstance(command, TyperGroup):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(root, [])
    return "\n\n".join(parts)


def command_section(command: Any, ctx: Any, path: list[str]) -> str:
    name = " ".join(["executor", *path])
    usage_line = " ".join(command.get_usage(ctx).split()).removeprefix("Usage: ")
    lines = [f"### `{name}`", "", f"```\n{usage_line}\n```", ""]
    if command.help:
        lines += [command.help.strip(), ""]
    rows = []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            label = param.metavar or (param.name or "").upper()
        else:
            label = ", ".join(param.opts + param.secondary_opts)
            if param.metavar:
                label += f" {param.metavar}"
        default = ""
        if not isinstance(param, TyperArgument) and param.default not in (None, False, ()):
            default = f"`{param.default}`" if not callable(param.default) else ""
        required = " (required)" if param.required else ""
        rows.append(f"| `{cell(label)}` | {cell(param.help or '')}{required} | {cell(default)} |")
    if rows:
        lines += ["| parameter | meaning | default |", "|---|---|---|", *rows]
    return "\n".join(lines)


@cache
def openapi() -> dict[str, Any]:
    from executor import Client, Settings
    from executor.api.app import create_api

    settings = Settings(api_anonymous=True)
    document: dict[str, Any] = create_api(Client(settings), settings).openapi()
    return document


def http_reference() -> str:
    document = openapi()
    parts = [
        f"The OpenAPI document of this version: [openapi.json](openapi.json) "
        f"(`{document['info']['title']}` {document['info']['version']}; a running "
        "`executor api` serves the same at `/openapi.json`).",
    ]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parts.append(operation_section(path, method, operation))
    return "\n\n".join(parts)


def operation_section(path: str, method: str, operation: dict[str, Any]) -> str:
    lines = [f"### {operation.get('summary', '')}", "", f"`{method.upper()} {path}`", ""]
    if operation.get("description"):
        lines += [operation["description"].strip(), ""]
    params = operation.get("parameters", [])
    if params:
        lines += ["| parameter | in | meaning |", "|---|---|---|"]
        for param in params:
            required = " (required)" if param.get("required") else ""
            meaning = param.get("description") or param.get("schema", {}).get("description", "")
            lines.append(f"| `{param['name']}` | {param['in']} | {cell(meaning)}{required} |")
        lines.append("")
    body = operation.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        lines += [f"Body ({media}): {schema_name(content.get('schema', {}))}", ""]
    lines += ["| answer | meaning | body |", "|---|---|---|"]
    for status, answer in operation.get("responses", {}).items():
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        lines.append(
            f"| {status} | {cell(answer.get('description', ''))} | {schema_name(schema)} |"
        )
    return "\n".join(lines)


def schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}`"
    if "anyOf" in schema:
        return " or ".join(schema_name(choice) for choice in schema["anyOf"])
    return f"`{schema.get('type', 'any')}`" if schema else ""


GENERATORS = {"settings": settings_table, "cli": cli_reference, "http-api": http_reference}
