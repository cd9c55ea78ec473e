"""The producer side: invoke functions, manage async configs, query and cancel invocations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from executor.core.agency import Agencies
from executor.core.catalogue import CatalogueEntry
from executor.core.config import AsyncConfig, StoredAsyncConfig
from executor.core.errors import InvalidParameter, InvocationNotFound
from executor.core.flow import FlowConfig, StoredFlowConfig
from executor.core.invocation import Cancellation, Invocation, InvocationPage, Status
from executor.core.registry import Registry
from executor.core.series import MINUTE, AgePoint, OutcomePoint
from executor.core.settings import Settings, get_settings
from executor.core.urn import FunctionURN
from executor.runtime.cancellation import Cancellations
from executor.runtime.celery.engine import Engine
from executor.runtime.dlq import DeadLetters
from executor.runtime.redrive import Redrives
from executor.state.configs import ConfigPage, invalid
from executor.state.store import Store

if TYPE_CHECKING:
    from executor.runtime.celery.types import Celery

log = logging.getLogger("executor.client")


class Client:
    """Everything a producer does: invoke functions, manage their async configs, read, cancel
    and redrive invocations. It runs on an ``Engine``: its own, or the one it is given (a
    ``FunctionApp``'s)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        celery: Celery | None = None,
        registry: Registry | None = None,
        store: Store | None = None,
        agencies: Agencies | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.engine = engine or Engine.assemble(
            settings or get_settings(),
            celery=celery,
            registry=registry,
            store=store,
            agencies=agencies,
        )
        self.settings = self.engine.settings
        self.celery = self.engine.celery
        self.store = self.engine.store
        self.configs = self.engine.configs
        self.functions = self.engine.functions
        self.redrives = Redrives(self.store.records, self.functions, self.engine.admission)
        self.cancellations = Cancellations(
            self.settings, self.store, self.engine.admission.gate, self.celery.control
        )

    # -- names ----------------------------------------------------------------------------------

    def resolve(self, function: str) -> FunctionURN:
        """A URN or short name as a full, version-qualified URN."""
        return self.functions.resolve(function)

    def lookup(self, urn: FunctionURN) -> CatalogueEntry:
        """Where and how a function runs: from the local registry, else the worker catalogue."""
        return self.functions.lookup(urn)

    # -- invocation -----------------------------------------------------------------------------

    def invoke_async(
        self,
        function: str,
        payload: Any = None,
        *,
        chain: Sequence[str] = (),
        request_id: str | None = None,
        origin: str = "",
        delay: float = 0,
    ) -> str:
        """Queue one invocation and return its request id, once it is durably recorded.

        A caller-chosen ``request_id`` (1-64 of ``[A-Za-z0-9._:-]``) makes the call idempotent:
        the same function and payload again return the id and queue nothing; another function
        or payload under it is refused with ``RequestIdConflict`` (FSS.1409). ``delay`` (0 to
        3600 seconds) records it WAIT now and runs it no earlier than that much later.

        Refused before anything is written: a payload that is not JSON, nests too deeply or is
        above the size limit, an unknown function, a bad request id or delay, and a call that
        the chain guard drops (``ChainBroken``). ``chain`` and ``origin`` are what a call made
        from a running invocation carries: the functions that led to it, and that invocation.
        """
        return self.engine.admission.invoke(
            function, payload, chain=chain, request_id=request_id, origin=origin, delay=delay
        )

    # -- async configs --------------------------------------------------------------------------

    def put_async_config(self, function: str, body: Any) -> StoredAsyncConfig:
        urn = self.resolve(function).require_version()
        entry = self.lookup(urn)
        try:
            config = body if isinstance(body, AsyncConfig) else AsyncConfig.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc, "async config") from None
        self.engine.agencies.authorize_config(entry.agency, config)
        return self.configs.put(urn, config, self.functions.defaults())

    def get_async_config(self, function: str) -> StoredAsyncConfig:
        return self.configs.get(self.resolve(function))

    def delete_async_config(self, function: str) -> None:
        self.configs.delete(self.resolve(function))

    def list_async_configs(
        self, function: str, marker: str | None = None, limit: int = 10
    ) -> ConfigPage:
        return self.configs.list(self.resolve(function), marker, limit)

    # -- flow control ---------------------------------------------------------------------------

    def put_flow_config(
        self,
        function: str,
        *,
        max_instances: int | None = None,
        rate_per_second: float | EllipsisType | None = ...,
        recursive_loop: str | None = None,
    ) -> StoredFlowConfig:
        """Change a function's flow config; the fields not given keep their values.

        ``max_instances``: -1 unlimited, 0 paused, N at most N running across the fleet;
        ``rate_per_second`` (0.1-10000) bounds starts per second fleet-wide, None removes the
        limit; ``recursive_loop`` is ``Terminate`` or ``Allow``. A bad value, an alias or an
        unknown function is refused and nothing changes.
        """
        changes: dict[str, object] = {}
        if max_instances is not None:
            changes["max_instances"] = max_instances
        if rate_per_second is not ...:
            changes["rate_per_second"] = rate_per_second
        if recursive_loop is not None:
            changes["recursive_loop"] = recursive_loop
        return self._change_flow(function, changes)

    def get_flow_config(self, function: str) -> StoredFlowConfig:
        urn = self.resolve(function).require_version()
        return self.store.flows.get(urn, self.lookup(urn).flow)

    def pause(self, function: str) -> StoredFlowConfig:
        """Hold every invocation of the function back (max instances 0) until ``resume``;
        they are accepted and wait, and their maximum age still counts."""
        return self._change_flow(function, FlowConfig.pause)

    def resume(self, function: str) -> StoredFlowConfig:
        """Give a paused function back the max instances it had."""
        return self._change_flow(function, FlowConfig.resume)

    def _change_flow(
        self, function: str, changes: dict[str, object] | Callable[[FlowConfig], FlowConfig]
    ) -> StoredFlowConfig:
        urn = self.resolve(function).require_version()
        default = self.lookup(urn).flow  # an unknown function is refused here
        return self.store.flows.put(urn, changes, default)

    # -- status and cancel ----------------------------------------------------------------------

    def get_invocation(self, request_id: str) -> Invocation:
        found = self.store.records.get(request_id)
        if found is None:
            raise InvocationNotFound(
                f"no invocation {request_id!r}: the id is wrong or the record passed its retention"
            )
        return found

    def list_invocations(
        self,
        function: str,
        status: Status | str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        marker: str | None = None,
        *,
        active_only: bool = False,
    ) -> InvocationPage:
        """Invocations of one function, newest first; ``marker`` continues a previous page."""
        urn = self.resolve(function)
        if not 1 <= limit <= 500:
            raise InvalidParameter("limit must be between 1 and 500")
        wanted = _status(status)
        if marker and not (marker.isascii() and marker.isdigit() and len(marker) <= 18):
            raise InvalidParameter(
                f"marker must be the next_marker of a previous page, not {marker[:40]!r}"
            )
        return self.store.records.page(
            str(urn),
            status=wanted,
            since=since,
            until=until,
            limit=limit,
            marker=marker or None,
            active_only=active_only,
        )

    def count_invocations(
        self, function: str, *, since: float | None = None, until: float | None = None
    ) -> dict[Status, int]:
        """How many invocations of ``function`` accepted within ``[since, until]`` are in each
        status now; read from the indexes by status, whatever the backlog."""
        urn = str(self.resolve(function))
        return {s: self.store.records.count(urn, s, since, until) for s in Status}

    def outcome_series(
        self, function: str, *, since: float, until: float, step: int = MINUTE
    ) -> list[OutcomePoint]:
        """How many invocations of ``function`` ended with each status, per ``step`` (60 or
        600 seconds), from ``since`` to ``until``."""
        return self.store.series.outcomes(str(self.resolve(function)), since, until, step)

    def age_series(
        self, function: str, *, since: float, until: float, step: int = MINUTE
    ) -> list[AgePoint]:
        """How long events of ``function`` waited before their attempts started (p50, p95),
        per ``step``, from ``since`` to ``until``."""
        return self.store.series.ages(str(self.resolve(function)), since, until, step)

    def children(self, request_id: str) -> list[str]:
        """The invocations ``request_id`` started (destinations, ``context.invoke_async``)."""
        return self.store.records.children([request_id])

    def list_functions(self) -> list[CatalogueEntry]:
        """Every function a worker published or this process registered, by URN."""
        found = {
            urn: CatalogueEntry.model_validate_json(raw)
            for urn, raw in self.store.catalogue.entries().items()
        }
        found.update({str(spec.urn): spec.local_entry for spec in self.engine.registry})
        return [found[urn] for urn in sorted(found)]

    def cancel(self, request_id: str, force: bool = False, recursive: bool = False) -> Cancellation:
        """Stop a waiting invocation (and a running one with ``force``); it ends DISCARD.

        ``recursive`` also stops every invocation it started, directly or further down
        (destinations and ``context.invoke_async``), that has not ended: waiting ones, and
        running ones with ``force``. The answer is the named invocation's record with
        ``cancelled``, every request id this call ended.
        """
        record = self.get_invocation(request_id)
        cancelled = self.cancellations.cancel(record, force, recursive)
        return Cancellation.model_validate(
            {**self.get_invocation(request_id).model_dump(), "cancelled": cancelled}
        )

    def redrive(self, request_id: str) -> str:
        """Invoke a FAIL or DISCARD invocation again with its payload, as ``<id>.r<n>``.

        Idempotent: while the last redrive of the same original has not ended, its id is
        returned and nothing is queued, so two redrives at once queue one.
        """
        return self.redrives.one(request_id)

    def redrivable(
        self,
        function: str,
        status: Status | str = Status.FAIL,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 1000,
    ) -> list[str]:
        """Request ids of ``function`` that ended FAIL (or DISCARD), newest first, for a bulk
        redrive."""
        return self.redrives.select(function, status, since=since, until=until, limit=limit)

    def dead_letters(self) -> DeadLetters:
        """The dead-letter store: list, show, send again and purge events not delivered."""
        return DeadLetters(self.store.dead_letters, self.engine.deliveries)


def _status(value: Status | str | None) -> Status | None:
    if value is None or value == "":
        return None
    try:
        return Status(str(value).upper())
    except ValueError:
        raise InvalidParameter(
            f"status must be one of {', '.join(s.value for s in Status)}, not {value!r}"
        ) from None


__all__ = ["Client"]
