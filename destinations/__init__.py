"""Destination kinds, each a module behind the ``Destination`` protocol.

A new kind is a ``Param`` model in ``executor.core.params`` and a module here with a class that
has ``kind``, ``param_model`` and ``deliver(delivery, runtime)``, listed in ``_KINDS`` below.
"""

from __future__ import annotations

import importlib

from destinations.base import (
    Delivery,
    DeliveryError,
    Destination,
    DestinationRuntime,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from destinations.cloud import needs_extra
from executor.core.params import FUNCTION_GRAPH, KINDS, Param, param_model

# Each kind's module is imported on its first delivery: OBS and SQS need boto3 (the ``[aws]``
# extra), which a worker whose functions do not deliver there can do without.
_KINDS: dict[str, str] = {
    FUNCTION_GRAPH: "destinations.functiongraph:FunctionGraphDestination",
    "OBS": "destinations.obs:OBSDestination",
    "DIS": "destinations.dis:DISDestination",
    "SMN": "destinations.smn:SMNDestination",
    "SQS": "destinations.sqs:SQSDestination",
}
_INSTANCES: dict[str, Destination] = {}


def get(kind: str) -> Destination:
    """The process-wide instance of a kind (created once, so clients are reused)."""
    instance = _INSTANCES.get(kind)
    if instance is None:
        module, _, name = _KINDS[kind].partition(":")
        with needs_extra(f"the {kind} destination"):
            found = importlib.import_module(module)
        instance = _INSTANCES[kind] = getattr(found, name)()
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
