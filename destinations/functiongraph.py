"""FunctionGraph destination: invoke another function asynchronously with the event."""

from __future__ import annotations

import uuid
from typing import ClassVar

from destinations.base import Delivery, DestinationRuntime, PermanentDeliveryError
from executor.core.errors import ExecutorError, FunctionNotFound
from executor.core.guard import ChainBroken
from executor.core.params import FUNCTION_GRAPH, FunctionGraphParam, Param

# Deterministic request ids make a repeated delivery land on the invocation it already created.
_NAMESPACE = uuid.UUID("5b0f3a55-2a43-4c4e-9d1e-6f1f0d2c7e10")


def target_request_id(identity: str) -> str:
    """The request id of the invocation that a delivery creates."""
    return str(uuid.uuid5(_NAMESPACE, identity))


class FunctionGraphDestination:
    """Invokes another function of this fleet asynchronously with the event."""

    kind: ClassVar[str] = FUNCTION_GRAPH
    param_model: ClassVar[type[Param]] = FunctionGraphParam

    def deliver(self, delivery: Delivery, runtime: DestinationRuntime) -> None:
        assert isinstance(delivery.param, FunctionGraphParam)
        try:
            runtime.invoke_next(
                delivery.param.func_urn, delivery, target_request_id(delivery.identity)
            )
        except ChainBroken:
            raise
        except FunctionNotFound as exc:
            raise PermanentDeliveryError(exc.message) from exc
        except ExecutorError as exc:
            if exc.http_status < 500:
                raise PermanentDeliveryError(exc.message) from exc
            raise
