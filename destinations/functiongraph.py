"""FunctionGraph destination: invoke another function asynchronously with the event."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import field_validator

from destinations.base import Delivery, Param, PermanentDeliveryError

# Deterministic request ids make a repeated delivery land on the invocation it already created.
_NAMESPACE = uuid.UUID("5b0f3a55-2a43-4c4e-9d1e-6f1f0d2c7e10")


class FunctionGraphParam(Param):
    func_urn: str

    @field_validator("func_urn")
    @classmethod
    def _urn(cls, value: str) -> str:
        from executor.urn import parse_urn

        if not value.startswith("urn:"):
            raise ValueError("func_urn must be a full function URN (urn:fss:...)")
        parse_urn(value, region="", project="")
        return value


def target_request_id(identity: str) -> str:
    """The request id of the invocation that a delivery creates."""
    return str(uuid.uuid5(_NAMESPACE, identity))


class FunctionGraphDestination:
    kind: ClassVar[str] = "FunctionGraph"
    param_model: ClassVar[type[Param]] = FunctionGraphParam

    def deliver(self, delivery: Delivery) -> None:
        from executor.client import current_client
        from executor.errors import ExecutorError, FunctionNotFound
        from executor.guard import ChainBroken

        assert isinstance(delivery.param, FunctionGraphParam)
        client = current_client()
        try:
            client.invoke_async(
                delivery.param.func_urn,
                delivery.event,
                chain=(*delivery.chain, delivery.function_urn),
                request_id=target_request_id(delivery.identity),
                origin=delivery.request_id,
            )
        except ChainBroken:
            raise
        except FunctionNotFound as exc:
            raise PermanentDeliveryError(exc.message) from exc
        except ExecutorError as exc:
            if exc.http_status < 500:
                raise PermanentDeliveryError(exc.message) from exc
            raise
