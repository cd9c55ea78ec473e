"""Function URNs: ``urn:fss:{region}:{project}:function:{package}:{name}:{qualifier}``."""

from __future__ import annotations

import re
from typing import NamedTuple

from executor.core.constants import DEFAULT_PACKAGE, DEFAULT_QUALIFIER
from executor.core.errors import AliasNotAllowed, InvalidURN

_NAME = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_QUALIFIER = r"!?[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
# Matched whole (fullmatch): "$" would also match before a trailing newline, and "echo\n"
# would name the function echo.
_FULL = re.compile(
    rf"urn:fss:(?P<region>{_SEGMENT}):(?P<project>{_SEGMENT}):function:"
    rf"(?P<package>{_SEGMENT}):(?P<name>{_NAME})(?::(?P<qualifier>{_QUALIFIER}))?"
)
_SHORT = (
    re.compile(rf"(?P<name>{_NAME})"),
    re.compile(rf"(?P<name>{_NAME}):(?P<qualifier>{_QUALIFIER})"),
    re.compile(rf"(?P<package>{_SEGMENT}):(?P<name>{_NAME}):(?P<qualifier>{_QUALIFIER})"),
)


class FunctionURN(NamedTuple):
    """A parsed function URN; ``str()`` gives the canonical form."""

    region: str
    project: str
    package: str
    name: str
    qualifier: str

    def __str__(self) -> str:
        return (
            f"urn:fss:{self.region}:{self.project}:function:"
            f"{self.package}:{self.name}:{self.qualifier}"
        )

    @property
    def function(self) -> str:
        """The URN without its qualifier: one function across all its versions."""
        return f"urn:fss:{self.region}:{self.project}:function:{self.package}:{self.name}"

    @property
    def is_alias(self) -> bool:
        return self.qualifier.startswith("!")

    def with_qualifier(self, qualifier: str) -> FunctionURN:
        return self._replace(qualifier=qualifier)

    def require_version(self) -> FunctionURN:
        """Refuse an alias, which cannot carry an async configuration."""
        if self.is_alias:
            raise AliasNotAllowed(
                f"{self} names the alias {self.qualifier!r}; an async configuration belongs to "
                f"a version: use 'latest' or a version such as 'v1'"
            )
        return self


def parse_urn(value: str, *, region: str, project: str) -> FunctionURN:
    """Parse a full URN, or expand a short name (``hello``, ``pkg:hello``, ``hello:v1``)."""
    if not isinstance(value, str) or not value:
        raise InvalidURN("a function is named by a non-empty URN or short name")
    if value.startswith("urn:"):
        match = _FULL.fullmatch(value)
        if match is None:
            raise InvalidURN(
                f"{value!r} is not a function URN; expected "
                "urn:fss:{region}:{project_id}:function:{package}:{name}:{qualifier}"
            )
        return FunctionURN(
            match["region"],
            match["project"],
            match["package"],
            match["name"],
            match["qualifier"] or DEFAULT_QUALIFIER,
        )
    match = next((m for m in (p.fullmatch(value) for p in _SHORT) if m is not None), None)
    if match is None:
        raise InvalidURN(
            f"{value!r} is neither a function URN nor a short name such as 'hello', "
            "'hello:v1' or 'package:hello:latest' (names start with a letter; letters, "
            "digits, '-' and '_' follow)"
        )
    groups = match.groupdict()
    return FunctionURN(
        region,
        project,
        groups.get("package") or DEFAULT_PACKAGE,
        groups["name"],
        groups.get("qualifier") or DEFAULT_QUALIFIER,
    )
