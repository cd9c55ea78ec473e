"""Destination kinds, each a module behind the ``Destination`` protocol.

A new kind is a new module with a ``Param`` model and a class with ``kind``, ``param_model`` and
``deliver``, listed in ``_KINDS`` below.
"""

from __future__ import annotations

from destinations.base import (
    Delivery,
    DeliveryError,
    Destination,
    Param,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from destinations.dis import DISDestination
from destinations.functiongraph import FunctionGraphDestination
from destinations.obs import OBSDestination
from destinations.smn import SMNDestination

_KINDS: dict[str, type[Destination]] = {
    cls.kind: cls
    for cls in (FunctionGraphDestination, OBSDestination, DISDestination, SMNDestination)
}
_INSTANCES: dict[str, Destination] = {}

KINDS: tuple[str, ...] = tuple(_KINDS)


def param_model(kind: str) -> type[Param]:
    """The ``param`` model of a kind; ``KeyError`` for an unknown kind."""
    return _KINDS[kind].param_model


def get(kind: str) -> Destination:
    """The process-wide instance of a kind (created once, so clients are reused)."""
    instance = _INSTANCES.get(kind)
    if instance is None:
        instance = _INSTANCES[kind] = _KINDS[kind]()
    return instance


__all__ = [
    "KINDS",
    "Delivery",
    "DeliveryError",
    "Destination",
    "Param",
    "PermanentDeliveryError",
    "TemporaryDeliveryError",
    "get",
    "param_model",
]
