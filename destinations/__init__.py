"""Destination kinds, each a module behind the ``Destination`` protocol.

A new kind is a ``Param`` model in ``executor.core.params`` and a module here with a class that
has ``kind``, ``param_model`` and ``deliver(delivery, runtime)``, listed in ``_KINDS`` below.
"""

from __future__ import annotations

from destinations.base import (
    Delivery,
    DeliveryError,
    Destination,
    DestinationRuntime,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from destinations.dis import DISDestination
from destinations.functiongraph import FunctionGraphDestination
from destinations.obs import OBSDestination
from destinations.smn import SMNDestination
from destinations.sqs import SQSDestination
from executor.core.params import KINDS, Param, param_model

_KINDS: dict[str, type[Destination]] = {
    cls.kind: cls
    for cls in (
        FunctionGraphDestination,
        OBSDestination,
        DISDestination,
        SMNDestination,
        SQSDestination,
    )
}
_INSTANCES: dict[str, Destination] = {}


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
    "DestinationRuntime",
    "Param",
    "PermanentDeliveryError",
    "TemporaryDeliveryError",
    "get",
    "param_model",
]
