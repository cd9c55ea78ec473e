"""The one check a payload passes before it is accepted, and the reading of JSON text.

Everything that could fail later is checked here, once: that the value is JSON (objects with
string keys, arrays, strings, finite numbers, booleans, null), how deeply it nests, and its
encoded size. Nesting is measured by an explicit walk, never by recursion, so a value nested a
hundred thousand levels deep is refused with a message instead of a ``RecursionError``. The
workers' pool pickles a payload to hand it to a child process and the result event embeds it;
both recurse, which is why the depth is bounded well below Python's recursion limit.

Numbers are read within limits: an integer of more than ``MAX_DIGITS`` digits (Python's own
default limit for converting between integers and text, which every process that encodes the
payload again would hit) and a number too large for a double are refused, naming where they
are, rather than raising ``ValueError`` or turning into ``Infinity``.

Text must be Unicode that UTF-8 can carry: a lone surrogate (``"\\ud800"`` in JSON, which
Python reads as a string no encoder accepts) in a value or a key is refused, naming where it
is. JSON text given as bytes must be UTF-8, without a byte-order mark; ``json.loads`` would
take UTF-16 and UTF-32 as well, and UTF-8 with a mark.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Iterator
from typing import Any

from executor.core.errors import InvalidParameter, PayloadTooLarge

DEPTH_SETTING = "EXECUTOR_PAYLOAD_MAX_DEPTH"
MAX_DIGITS = 4300
_TOO_LARGE = 10**MAX_DIGITS
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape of a surrogate (\uD800-\uDFFF) that is not itself escaped by a backslash.
_SURROGATE_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# The longest first: UTF-32's little-endian mark begins with UTF-16's.
_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF8, "UTF-8"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


class PayloadRefused(InvalidParameter):
    """A payload that is not JSON, nests too deeply, or holds a number JSON cannot carry or
    that is past the limits a number is read within."""


def nesting(value: Any, max_depth: int) -> int:
    """How deeply ``value`` nests (a scalar is 0, ``[]`` is 1), or ``max_depth + 1`` as soon as
    it is known to be deeper; raises ``PayloadRefused`` for anything JSON cannot hold, naming
    where it is."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
            for key in item:
                if not isinstance(key, str):
                    raise PayloadRefused(
                        f"the payload must be JSON: object keys must be strings, not "
                        f"{shown(key)} (at {field_of(value, item)})"
                    )
        elif isinstance(item, (list, tuple)):
            children = item
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise PayloadRefused(
                    f"the payload must be JSON: {item} at {field_of(value, item)} is not a JSON "
                    "number; send it as a string or null"
                )
            continue
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if abs(item) >= _TOO_LARGE:
                raise PayloadRefused(
                    f"the payload's number at {field_of(value, item)} has more than "
                    f"{MAX_DIGITS} digits; send it as a string"
                )
            continue
        else:
            raise PayloadRefused(
                f"the payload must be JSON: {type(item).__name__} values cannot be sent "
                f"(at {field_of(value, item)})"
            )
        depth += 1
        if depth > max_depth:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def field_of(root: Any, target: Any) -> str:
    """Where ``target`` (the very object) is in ``root``: ``items[2].count``, or ``the top
    level``. Walked again only to word a refusal."""
    for item, path in _places(root):
        if item is target or (isinstance(item, dict) and any(key is target for key in item)):
            return path or "the top level"
    return "the top level"


def surrogate_at(value: Any) -> str | None:
    """Where a string or key holding a lone surrogate is in ``value``, or None."""
    for item, path in _places(value):
        if isinstance(item, str) and _SURROGATE.search(item):
            return f"the text at {path or 'the top level'} ({shown(item)})"
        if isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and _SURROGATE.search(key):
                    return f"the key {shown(key)} (at {path or 'the top level'})"
    return None


def _places(root: Any) -> Iterator[tuple[Any, str]]:
    """Every value in ``root`` with its path (``""`` for the root), walked without recursion."""
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        item, path = stack.pop()
        yield item, path
        if isinstance(item, dict):
            stack.extend(
                (child, f"{path}.{label(key)}" if path else label(key))
                for key, child in item.items()
            )
        elif isinstance(item, (list, tuple)):
            stack.extend((child, f"{path}[{n}]") for n, child in enumerate(item))


def label(key: Any) -> str:
    """An object key as it is named in a path: as it is, unless it is not plain printable text
    (a lone surrogate, a newline), which is shown quoted and escaped."""
    text = str(key)
    return text if text.isprintable() and not _SURROGATE.search(text) else ascii(text)


def _not_unicode(what: str, where: str) -> PayloadRefused:
    return PayloadRefused(
        f"{what}: {where} is not valid Unicode: it holds a lone surrogate (a \\ud800-\\udfff "
        "escape without its pair); send UTF-8 text"
    )


def shown(value: Any) -> str:
    """A caller's value for an error message: short, and never an error itself (the text of
    an integer past Python's digit limit cannot even be made)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _TOO_LARGE:
        return f"an integer of more than {MAX_DIGITS} digits"
    text = ascii(value) if isinstance(value, str) and _SURROGATE.search(value) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_payload(value: Any, *, max_depth: int, limit: int) -> str:
    """The payload's compact JSON text, once it passes every check; else ``PayloadRefused`` or
    ``PayloadTooLarge`` naming the problem."""
    if nesting(value, max_depth) > max_depth:
        raise PayloadRefused(
            f"the payload nests deeper than {max_depth} levels of objects and arrays; "
            f"flatten it or raise {DEPTH_SETTING}"
        )
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        raise _not_unicode("the payload", surrogate_at(value) or "its text") from None
    if size > limit:
        raise PayloadTooLarge(f"the payload is {size} bytes, above the limit of {limit}")
    return text


def result_size(value: Any) -> int:
    """The size in bytes of a handler's result as compact JSON; ``PayloadRefused`` names text
    that is not Unicode, and JSON's own errors say what it cannot hold."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise _not_unicode("the result", surrogate_at(value) or "its text") from None


def read_json(text: str | bytes, what: str) -> Any:
    """Parse JSON text given by a user; ``PayloadRefused`` says what is wrong with it.

    ``NaN`` and ``Infinity`` are refused, as JSON has no such numbers, and so is a number
    beyond the limits (``MAX_DIGITS``, a double's range), named by where it is; text nested
    too deeply for the parser is refused before the depth check could even run, and so is
    text that is not Unicode (bytes not UTF-8, a byte-order mark, a lone surrogate).
    """
    text = _unicode(text, what)
    unread: list[_Unread] = []

    def integer(digits: str) -> Any:
        if len(digits.lstrip("-")) <= MAX_DIGITS:
            try:
                return int(digits)
            except ValueError:  # this process set a lower limit for itself
                pass
        unread.append(_Unread(f"has {len(digits.lstrip('-'))} digits, more than {MAX_DIGITS}"))
        return unread[-1]

    def real(digits: str) -> Any:
        number = float(digits)
        if math.isfinite(number):
            return number
        unread.append(_Unread("is too large for a double"))
        return unread[-1]

    try:
        value = json.loads(
            text,
            parse_int=integer,
            parse_float=real,
            parse_constant=lambda name: _no_constant(name, what),
        )
    except json.JSONDecodeError as exc:
        raise PayloadRefused(
            f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise PayloadRefused(
            f"{what} is nested too deeply to be read; payloads may nest at most "
            f"{DEPTH_SETTING} levels"
        ) from None
    if unread:
        where = field_of(value, unread[0])
        raise PayloadRefused(f"{what}: the number at {where} {unread[0].why}; send it as a string")
    if _SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text):
        lone = surrogate_at(value)
        if lone is not None:
            raise _not_unicode(what, lone)
    return value


def _unicode(text: str | bytes, what: str) -> str:
    """JSON text as a string. Bytes must be UTF-8 (RFC 8259): a byte-order mark, which says
    the sender chose an encoding, is refused rather than guessed past, and so are NUL bytes,
    which JSON never holds as such but UTF-16 and UTF-32 text does."""
    if isinstance(text, str):
        if text.startswith("\ufeff"):
            raise _marked(what, "UTF-8")
        return text
    for mark, encoding in _MARKS:
        if text.startswith(mark):
            raise _marked(what, encoding)
    if b"\x00" in text:
        raise PayloadRefused(
            f"{what} is not valid JSON: it holds NUL bytes, as UTF-16 and UTF-32 text does; "
            "send UTF-8 text"
        )
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadRefused(
            f"{what} is not valid JSON: it is not UTF-8 text (at byte {exc.start}); send UTF-8"
        ) from None


def _marked(what: str, encoding: str) -> PayloadRefused:
    return PayloadRefused(
        f"{what} is not valid JSON: it starts with a {encoding} byte-order mark; send UTF-8 "
        "text without one"
    )


class _Unread:
    """Stands for a number that was not read, until the whole text is and its place known."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _no_constant(name: str, what: str) -> Any:
    raise PayloadRefused(f"{what} is not valid JSON: {name} is not a JSON number")
