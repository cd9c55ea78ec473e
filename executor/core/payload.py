"""The one check a payload passes before it is accepted, and the reading of JSON text.

Everything that could fail later is checked here, once: that the value is JSON (objects with
string keys, arrays, strings, finite numbers, booleans, null), how deeply it nests, and its
encoded size. Nesting is measured by an explicit walk, never by recursion, so a value nested a
hundred thousand levels deep is refused with a message instead of a ``RecursionError``. The
workers' pool pickles a payload to hand it to a child process and the result event embeds it;
both recurse, which is why the depth is bounded well below Python's recursion limit.
"""

from __future__ import annotations

import json
import math
from typing import Any

from executor.core.errors import InvalidParameter, PayloadTooLarge

DEPTH_SETTING = "EXECUTOR_PAYLOAD_MAX_DEPTH"


class PayloadRefused(InvalidParameter):
    """A payload that is not JSON, nests too deeply, or holds a number JSON cannot carry."""


def nesting(value: Any, max_depth: int) -> int:
    """How deeply ``value`` nests (a scalar is 0, ``[]`` is 1), or ``max_depth + 1`` as soon as
    it is known to be deeper; raises ``PayloadRefused`` for anything JSON cannot hold."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
            for key in item:
                if not isinstance(key, str):
                    raise PayloadRefused(
                        f"the payload must be JSON: object keys must be strings, not {key!r}"
                    )
        elif isinstance(item, (list, tuple)):
            children = item
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise PayloadRefused(
                    f"the payload must be JSON: {item} is not a JSON number; "
                    "send it as a string or null"
                )
            continue
        elif item is None or isinstance(item, (str, int, bool)):
            continue
        else:
            raise PayloadRefused(
                f"the payload must be JSON: {type(item).__name__} values cannot be sent"
            )
        depth += 1
        if depth > max_depth:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def check_payload(value: Any, *, max_depth: int, limit: int) -> str:
    """The payload's compact JSON text, once it passes every check; else ``PayloadRefused`` or
    ``PayloadTooLarge`` naming the problem."""
    if nesting(value, max_depth) > max_depth:
        raise PayloadRefused(
            f"the payload nests deeper than {max_depth} levels of objects and arrays; "
            f"flatten it or raise {DEPTH_SETTING}"
        )
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    size = len(text.encode())
    if size > limit:
        raise PayloadTooLarge(f"the payload is {size} bytes, above the limit of {limit}")
    return text


def read_json(text: str | bytes, what: str) -> Any:
    """Parse JSON text given by a user; ``PayloadRefused`` says what is wrong with it.

    ``NaN`` and ``Infinity`` are refused, as JSON has no such numbers; text nested too deeply
    for the parser is refused before the depth check could even run.
    """
    try:
        return json.loads(text, parse_constant=lambda name: _no_constant(name, what))
    except json.JSONDecodeError as exc:
        raise PayloadRefused(
            f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise PayloadRefused(f"{what} is not valid JSON: it is not UTF-8 text") from None
    except RecursionError:
        raise PayloadRefused(
            f"{what} is nested too deeply to be read; payloads may nest at most "
            f"{DEPTH_SETTING} levels"
        ) from None


def _no_constant(name: str, what: str) -> Any:
    raise PayloadRefused(f"{what} is not valid JSON: {name} is not a JSON number")
