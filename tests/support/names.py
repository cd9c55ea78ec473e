"""The region, project and function URNs of the fast layer."""

from __future__ import annotations

from typing import Any

# Nothing listens here: a unit test that opened a real connection would fail at once.
NOWHERE = "redis://127.0.0.1:1/0"
REGION, PROJECT = "r1", "p1"


def urn(name: str, version: str = "latest") -> str:
    return f"urn:fss:{REGION}:{PROJECT}:function:default:{name}:{version}"


def fg(name: str) -> dict[str, Any]:
    """A FunctionGraph destination to ``name``."""
    return {"destination": "FunctionGraph", "param": {"func_urn": urn(name)}}
