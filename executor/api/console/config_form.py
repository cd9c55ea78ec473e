"""The "Async configuration" form: its fields, the API body they make, and the API's refusal
laid out beside the fields it names.

The body is the one the HTTP API takes, and it is checked by the same code, so a refused value
gets the same words and code as the API would answer; the form only decides where to show them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from executor.core.config import AsyncConfig
from executor.core.constants import DEFAULT_QUALIFIER
from executor.core.errors import ExecutorError, InvalidURN
from executor.core.params import FUNCTION_GRAPH, KINDS, param_model
from executor.core.urn import parse_urn

SIDES: Final = ("success", "failure")
NONE: Final = ""
# The param fields of each destination kind, in the order the form shows them.
PARAMS: Final[dict[str, tuple[str, ...]]] = {
    kind: tuple(param_model(kind).model_fields) for kind in KINDS
}
NUMBERS: Final = frozenset({"max_async_retry_attempts", "max_async_event_age_in_seconds"})
NUMBER_PARAMS: Final = frozenset(
    name
    for kind in KINDS
    for name, info in param_model(kind).model_fields.items()
    if info.annotation is int
)
VERSION: Final = "version"
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")  # matched whole
_SIDE = re.compile(
    r"^destination_config\.on_(success|failure)(?:\.(destination|param)(?:\.(\w+))?)?"
)


def field_name(side: str, name: str) -> str:
    """The form field of a destination's kind (``kind``) or of one of its param fields."""
    return f"{side}_{name}"


@dataclass(frozen=True)
class Refusal:
    """The API's answer to a refused config: its code and its whole message."""

    code: str
    message: str


@dataclass(frozen=True)
class TypedForm:
    """A console form's values as typed, the problems beside each field, and the refusal."""

    values: Mapping[str, str]
    errors: Mapping[str, str] = field(default_factory=dict)
    refusal: Refusal | None = None

    def value(self, name: str) -> str:
        return self.values.get(name, "")


@dataclass(frozen=True)
class ConfigForm(TypedForm):
    """The "Async configuration" form."""

    @classmethod
    def of(cls, config: AsyncConfig, version: str) -> ConfigForm:
        """The form filled with ``config``."""
        values = {
            VERSION: version,
            "max_async_retry_attempts": str(config.max_async_retry_attempts),
            "max_async_event_age_in_seconds": str(config.max_async_event_age_in_seconds),
            "enable_async_status_log": "on" if config.enable_async_status_log else "",
        }
        for side in SIDES:
            ref = config.destination_for(side)
            values[field_name(side, "kind")] = ref.destination if ref else NONE
            if ref is not None:
                for name, value in ref.decoded().model_dump().items():
                    values[field_name(side, name)] = str(value)
        return cls(values)

    @classmethod
    def sent(cls, form: Mapping[str, Any]) -> ConfigForm:
        """The form as posted; fields it does not know are left out."""
        known = {VERSION, *NUMBERS, "enable_async_status_log"}
        for side in SIDES:
            known.add(field_name(side, "kind"))
            known.update(field_name(side, n) for names in PARAMS.values() for n in names)
        values = {k: str(v).strip() for k, v in form.items() if k in known and isinstance(v, str)}
        return cls(values)

    @property
    def version(self) -> str:
        return self.value(VERSION) or DEFAULT_QUALIFIER

    def body(self) -> dict[str, Any]:
        """The API's config body; a field left empty takes its default."""
        body: dict[str, Any] = {
            "enable_async_status_log": self.value("enable_async_status_log") == "on"
        }
        for name in NUMBERS:
            if self.value(name):
                body[name] = _number(self.value(name))
        sides: dict[str, Any] = {}
        for side in SIDES:
            kind = self.value(field_name(side, "kind"))
            if kind == NONE:
                continue
            param: dict[str, Any] = {}
            for name in PARAMS.get(kind, ()):
                text = self.value(field_name(side, name))
                if text:
                    param[name] = _number(text) if name in NUMBER_PARAMS else text
            sides[f"on_{side}"] = {"destination": kind, "param": param}
        body["destination_config"] = sides
        return body

    def refused(self, exc: ExecutorError, at: Iterable[str] = ()) -> ConfigForm:
        """This form with ``exc`` shown beside the fields it names (or, when it names none,
        beside the fields ``at``); a problem of no field stays in ``refusal`` alone."""
        errors: dict[str, str] = {}
        problems = dict(exc.fields) or dict.fromkeys(at, exc.message)
        for path, text in problems.items():
            name = self._field_of(path)
            if name is not None:
                errors[name] = "; ".join(filter(None, (errors.get(name), text)))
        return ConfigForm(self.values, errors, Refusal(exc.code, exc.message))

    def bad_urns(self) -> list[str]:
        """The fields of FunctionGraph targets that are not function URNs at all."""
        found = []
        for side in SIDES:
            name = field_name(side, "func_urn")
            if self.value(field_name(side, "kind")) == FUNCTION_GRAPH and self.value(name):
                try:
                    parse_urn(self.value(name), region="", project="")
                except InvalidURN:
                    found.append(name)
        return found

    def _field_of(self, path: str) -> str | None:
        if path in NUMBERS or path in (VERSION, "enable_async_status_log"):
            return path
        match = _SIDE.match(path)
        if match is None:
            return None
        side, part, name = match.groups()
        kind = self.value(field_name(side, "kind"))
        if part == "param" and name in PARAMS.get(kind, ()):
            return field_name(side, name)
        return field_name(side, "kind")


def _number(text: str) -> int | str:
    """A whole number as a number; anything else as typed, for the API's check to name."""
    return int(text) if _INTEGER.fullmatch(text) else text
