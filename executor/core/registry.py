"""The functions one ``FunctionApp`` registered, by version-qualified URN."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from executor.core.catalogue import CatalogueEntry, task_name
from executor.core.config import AsyncConfig
from executor.core.context import Handler
from executor.core.flow import FlowConfig
from executor.core.retry import RetryPolicy
from executor.core.urn import FunctionURN


@dataclass(frozen=True)
class FunctionSpec:
    """One registered function: its URN, handler, queue, agency, default config, retry policy
    and default flow config."""

    urn: FunctionURN
    handler: Handler
    queue: str
    agency: str | None = None
    default_config: AsyncConfig | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    flow: FlowConfig | None = None

    @property
    def task_name(self) -> str:
        return task_name(self.urn)

    def entry(self) -> CatalogueEntry:
        return CatalogueEntry(
            urn=str(self.urn),
            task=self.task_name,
            queue=self.queue,
            agency=self.agency,
            default_config=self.default_config,
            flow=self.flow,
            updated_at=time.time(),
        )

    @cached_property
    def local_entry(self) -> CatalogueEntry:
        """The entry a producer in this process routes by, built once instead of per call."""
        return self.entry()


class Registry:
    """The functions one ``FunctionApp`` knows, by version-qualified URN."""

    def __init__(self) -> None:
        self._specs: dict[str, FunctionSpec] = {}

    def add(self, spec: FunctionSpec) -> None:
        key = str(spec.urn)
        if key in self._specs:
            raise ValueError(f"{key} is registered twice; give each version its own name")
        self._specs[key] = spec

    def get(self, urn: FunctionURN) -> FunctionSpec | None:
        return self._specs.get(str(urn))

    def __iter__(self) -> Iterator[FunctionSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def queues(self) -> set[str]:
        return {spec.queue for spec in self._specs.values()}

    def catalogue(self) -> dict[str, str]:
        return {str(s.urn): s.entry().model_dump_json() for s in self._specs.values()}
