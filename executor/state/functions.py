"""Where and how a function runs: names, the worker catalogue and the effective config."""

from __future__ import annotations

import time

from executor.core.catalogue import CatalogueEntry
from executor.core.config import AsyncConfig
from executor.core.errors import FunctionNotFound
from executor.core.flow import FlowConfig
from executor.core.registry import Registry
from executor.core.settings import Settings
from executor.core.urn import FunctionURN, parse_urn
from executor.state.configs import Configs
from executor.state.flows import Flows
from executor.state.shared import Catalogue


class Functions:
    """The functions a process can reach: its own registry first, then what workers published."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        catalogue: Catalogue,
        configs: Configs,
        flows: Flows,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.catalogue = catalogue
        self.configs = configs
        self.flows = flows
        self._controlled: tuple[float, dict[str, FlowConfig]] = (-1e9, {})
        self._catalogue: dict[str, tuple[float, CatalogueEntry | None]] = {}

    def resolve(self, function: str) -> FunctionURN:
        """A URN or short name as a full, version-qualified URN."""
        return parse_urn(function, region=self.settings.region, project=self.settings.project_id)

    def lookup(self, urn: FunctionURN) -> CatalogueEntry:
        """The entry of a function, from the local registry, else the worker catalogue. The
        queue is the one the workers published, when they did: a producer that registered the
        function itself (it imports the app module) routes as the workers consume, whatever
        its own ``EXECUTOR_FAIR_QUEUES``."""
        spec = self.registry.get(urn)
        if spec is not None:
            local = spec.local_entry
            published = self._published(str(urn), again=False)
            if published is not None and published.queue != local.queue:
                return local.model_copy(update={"queue": published.queue})
            return local
        key = str(urn)
        found = self._published(key)
        if found is None:
            raise FunctionNotFound(
                f"function {key} is not known: no worker has registered it. Check the name, "
                "or start a worker that imports the module defining it"
            )
        return found

    def _published(self, key: str, again: bool = True) -> CatalogueEntry | None:
        """The catalogue's entry of ``key``, read at most once per config cache period (a
        missing one ``again`` at each call)."""
        now = time.monotonic()
        hit = self._catalogue.get(key)
        if (
            hit is None
            or now - hit[0] >= self.settings.config_cache_ttl
            or (again and hit[1] is None)
        ):
            raw = self.catalogue.entry(key)
            hit = (now, CatalogueEntry.model_validate_json(raw) if raw else None)
            self._catalogue[key] = hit
        return hit[1]

    def config_and_agency(self, urn: FunctionURN) -> tuple[AsyncConfig, str | None]:
        """The effective config and agency; a function no worker knows has the defaults."""
        try:
            entry = self.lookup(urn)
        except FunctionNotFound:
            return self.configs.effective(urn, None), None
        return self.configs.effective(urn, entry.default_config), entry.agency

    def defaults(self) -> dict[str, AsyncConfig | None]:
        """The decorator defaults of every known function, by URN (for the cycle check)."""
        found = {
            urn: CatalogueEntry.model_validate_json(raw).default_config
            for urn, raw in self.catalogue.entries().items()
        }
        found.update({str(s.urn): s.default_config for s in self.registry})
        return found

    def flow_of(self, entry: CatalogueEntry) -> FlowConfig:
        """The effective flow config of a function: stored, else its decorator's default."""
        return self.flows.effective(entry.urn, entry.flow)

    def controlled(self) -> dict[str, FlowConfig]:
        """Every function whose flow config limits it, or has been stored (one no longer
        limited may still hold invocations back), by URN; read at most once per config cache
        period."""
        now = time.monotonic()
        if now - self._controlled[0] < self.settings.config_cache_ttl:
            return self._controlled[1]
        found = {
            urn: entry.flow
            for urn, raw in self.catalogue.entries().items()
            if (entry := CatalogueEntry.model_validate_json(raw)).flow is not None
        }
        found.update({str(s.urn): s.flow for s in self.registry if s.flow is not None})
        controlled = {urn: flow for urn, flow in found.items() if flow.limited}
        controlled.update(self.flows.all())
        self._controlled = (now, controlled)
        return controlled
