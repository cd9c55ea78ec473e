"""What the engine lends destinations: the ``DestinationRuntime`` of one process."""

from __future__ import annotations

from destinations import Delivery
from executor.core.agency import Agencies
from executor.core.context import Invoker
from executor.core.guard import hop
from executor.core.settings import Settings
from executor.core.urn import parse_urn
from executor.state.locations import locate
from executor.state.shared import Markers


class EngineRuntime:
    """Invokes through admission (one hop down the chain), keeps markers in the state store."""

    def __init__(
        self, settings: Settings, agencies: Agencies, markers: Markers, invoke: Invoker
    ) -> None:
        self._settings = settings
        self._agencies = agencies
        self._markers = markers
        self._invoke = invoke

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def agencies(self) -> Agencies:
        return self._agencies

    @property
    def state_url(self) -> str:
        return locate(self._settings).store.url

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
        return self._markers.claim(name, value, ttl)

    def read_marker(self, name: str) -> str | None:
        return self._markers.read(name)

    def write_marker(self, name: str, value: str, ttl: int) -> None:
        self._markers.write(name, value, ttl)

    def drop_marker(self, name: str) -> None:
        self._markers.drop(name)
