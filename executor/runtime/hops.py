"""What the engine lends destinations: the ``DestinationRuntime`` of one client."""

from __future__ import annotations

from destinations import Delivery
from executor.core.agency import Agencies
from executor.core.guard import hop
from executor.core.settings import Settings
from executor.core.urn import parse_urn
from executor.runtime.context import Invoker
from executor.state.store import Store


class EngineRuntime:
    """Invokes through the producer's ``invoke_async``, keeps markers in the state store."""

    def __init__(self, settings: Settings, agencies: Agencies, store: Store, invoke: Invoker):
        self._settings = settings
        self._agencies = agencies
        self._store = store
        self._invoke = invoke

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def agencies(self) -> Agencies:
        return self._agencies

    def invoke_next(self, function_urn: str, delivery: Delivery, request_id: str) -> str:
        source = parse_urn(delivery.function_urn, region="", project="")
        return self._invoke(
            function_urn,
            delivery.event,
            chain=hop(delivery.chain, source.function),
            request_id=request_id,
            origin=delivery.request_id,
        )

    def claim_marker(self, name: str, value: str, ttl: int) -> bool:
        return self._store.claim_marker(name, value, ttl)

    def read_marker(self, name: str) -> str | None:
        return self._store.read_marker(name)

    def write_marker(self, name: str, value: str, ttl: int) -> None:
        self._store.write_marker(name, value, ttl)

    def drop_marker(self, name: str) -> None:
        self._store.drop_marker(name)
