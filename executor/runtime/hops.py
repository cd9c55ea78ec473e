"""What the engine lends destinations: the ``DestinationRuntime`` of one client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from destinations import Delivery
from executor.core.agency import Agencies
from executor.core.guard import hop
from executor.core.settings import Settings
from executor.core.urn import parse_urn

if TYPE_CHECKING:
    from executor.runtime.client import Client


class EngineRuntime:
    """Invokes through the client, keeps markers in its state store."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def settings(self) -> Settings:
        return self._client.settings

    @property
    def agencies(self) -> Agencies:
        return self._client.agencies

    def invoke_next(self, function_urn: str, delivery: Delivery, request_id: str) -> str:
        source = parse_urn(delivery.function_urn, region="", project="")
        return self._client.invoke_async(
            function_urn,
            delivery.event,
            chain=hop(delivery.chain, source.function),
            request_id=request_id,
            origin=delivery.request_id,
        )

    def claim_marker(self, name: str, value: str, ttl: int) -> bool:
        return self._client.store.claim_marker(name, value, ttl)

    def read_marker(self, name: str) -> str | None:
        return self._client.store.read_marker(name)

    def write_marker(self, name: str, value: str, ttl: int) -> None:
        self._client.store.write_marker(name, value, ttl)

    def drop_marker(self, name: str) -> None:
        self._client.store.drop_marker(name)
