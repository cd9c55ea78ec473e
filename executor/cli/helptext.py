"""Terminal help that reads as plain text: option values named in capitals, flags without one.

Typer shows every parameter's Python type in angle brackets (``<str>``, ``<float>``) and gives
flags one too (``--json <bool>``, even ``--help <bool>``), although a flag takes no value.
``PlainHelpGroup``, the class of every ``typer.Typer`` of the command, shows what click always
showed instead: ``--payload TEXT``, ``--delay FLOAT``, ``--json`` alone, an argument as
``NAME`` in the usage line.

Contexts are typed ``Any``: Typer passes its own vendored click ``Context``, from a module it
keeps private. ``PlainArgument`` replaces the class of Typer's arguments (it only overrides how
they are shown); a unit test renders every command's help, so a Typer release that changes
these hooks fails there.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

VALUE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH"}


class PlainArgument(TyperArgument):
    """An argument shown by its name alone: ``NAME``, ``[NAME]`` when optional."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if self.nargs != 1:
            name += "..."
        return name if self.required else f"[{name}]"


class PlainHelpGroup(TyperGroup):
    """A command group whose help, and its commands' help, is plain (see the module)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        plain(params, ctx)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if isinstance(command, TyperCommand):
            plain(command.get_params(ctx), ctx)
        return command


class PlainCommand(TyperCommand):
    """A command whose help is plain outside a ``PlainHelpGroup`` (one loaded on first use)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        plain(params, ctx)
        return params


def plain(params: list[Any], ctx: Any) -> None:
    """Give each parameter a click-style metavar; flags get none."""
    for param in params:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = param.name.upper() if param.name else "ARG"
            param.__class__ = PlainArgument
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag or param.count else value_name(param, ctx)


def value_name(option: TyperOption, ctx: Any) -> str:
    """``TEXT``, ``INTEGER``, ``FLOAT``, ``PATH``, or the choices as ``a|b`` (a range of numbers
    is shown after it by Typer, as ``[x>=1]``)."""
    label = option.display_type(ctx)
    label = label.removeprefix("<").removesuffix(">").removesuffix(" range")
    return VALUE_NAMES.get(label, label.upper() if label.isidentifier() else label)
