"""The producer side: invoke functions, manage async configs, query and cancel invocations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import Celery
from pydantic import ValidationError

from executor.core.agency import Agencies, load_agencies
from executor.core.catalogue import CatalogueEntry
from executor.core.config import AsyncConfig, StoredAsyncConfig
from executor.core.errors import InvalidParameter, InvocationNotFound
from executor.core.guard import ChainBroken, check_call
from executor.core.invocation import (
    Cancellation,
    Invocation,
    InvocationPage,
    Status,
    check_delay,
    check_request_id,
)
from executor.core.payload import check_payload
from executor.core.settings import Settings, get_settings
from executor.core.urn import FunctionURN
from executor.runtime import tracing
from executor.runtime.delivery import Deliveries
from executor.runtime.engine import make_celery
from executor.runtime.functions import Functions
from executor.runtime.hops import EngineRuntime
from executor.runtime.lifecycle import Lifecycle
from executor.runtime.publisher import Publisher
from executor.runtime.redrive import Redrives
from executor.runtime.registry import Registry
from executor.state.configs import ConfigPage, Configs, invalid
from executor.state.store import Store

log = logging.getLogger("executor.client")


class Client:
    """Everything a producer does, over the state store and the broker."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        celery: Celery | None = None,
        registry: Registry | None = None,
        store: Store | None = None,
        agencies: Agencies | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.celery = celery or make_celery(self.settings)
        self.registry = registry if registry is not None else Registry()
        self.store = store if store is not None else Store(self.settings)
        self.agencies = agencies or load_agencies(self.settings.agency_file)
        self.configs = Configs(self.store, self.settings.config_cache_ttl)
        self.functions = Functions(self.settings, self.registry, self.store, self.configs)
        self.publisher = Publisher(self.celery, self.settings)
        runtime = EngineRuntime(self.settings, self.agencies, self.store, self.invoke_async)
        self.deliveries = Deliveries(self.settings, self.store, self.publisher, runtime)
        self.lifecycle = Lifecycle(
            self.settings, self.store, self.functions, self.publisher, self.deliveries
        )

    # -- names ----------------------------------------------------------------------------------

    def resolve(self, function: str) -> FunctionURN:
        """A URN or short name as a full, version-qualified URN."""
        return self.functions.resolve(function)

    def lookup(self, urn: FunctionURN) -> CatalogueEntry:
        """Where and how a function runs: from the local registry, else the worker catalogue."""
        return self.functions.lookup(urn)

    def effective_config(self, urn: FunctionURN) -> AsyncConfig:
        return self.functions.effective(urn)

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
        the chain guard drops
        (``ChainBroken``).
        """
        if request_id is not None:
            check_request_id(request_id)
        delay = check_delay(delay)
        urn = self.resolve(function)
        payload_json = check_payload(
            payload,
            max_depth=self.settings.payload_max_depth,
            limit=self.settings.payload_limit,
        )
        if chain:
            try:
                check_call(chain, urn.function, self.settings.max_chain_depth)
            except ChainBroken as exc:
                self.store.record_drop(origin, str(urn), exc.message)
                log.warning("%s (from %s)", exc.message, origin or "a producer")
                raise
        entry = self.lookup(urn)
        config = self.configs.effective(urn, entry.default_config)
        with tracing.producing(str(urn)) as traceparent:
            accepted = self.lifecycle.accept(
                entry,
                request_id=request_id,
                payload=payload,
                payload_json=payload_json,
                chain=chain,
                max_age=config.max_async_event_age_in_seconds,
                origin=origin,
                delay=delay,
                traceparent=traceparent,
            )
            tracing.produced(accepted)
        return accepted

    # -- async configs --------------------------------------------------------------------------

    def put_async_config(self, function: str, body: Any) -> StoredAsyncConfig:
        urn = self.resolve(function).require_version()
        entry = self.lookup(urn)
        try:
            config = body if isinstance(body, AsyncConfig) else AsyncConfig.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc, "async config") from None
        self.agencies.authorize_config(entry.agency, config)
        return self.configs.put(urn, config, self.functions.defaults())

    def get_async_config(self, function: str) -> StoredAsyncConfig:
        return self.configs.get(self.resolve(function))

    def delete_async_config(self, function: str) -> None:
        self.configs.delete(self.resolve(function))

    def list_async_configs(
        self, function: str, marker: str | None = None, limit: int = 10
    ) -> ConfigPage:
        return self.configs.list(self.resolve(function), marker, limit)

    # -- status and cancel ----------------------------------------------------------------------

    def get_invocation(self, request_id: str) -> Invocation:
        found = self.store.get(request_id)
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
        try:
            offset = int(marker) if marker else 0
        except ValueError:
            raise InvalidParameter(
                f"marker must come from a previous page, not {marker!r}"
            ) from None
        if offset < 0:
            raise InvalidParameter("marker must not be negative")
        only_active = active_only or (wanted is not None and not wanted.terminal)
        lo: float | str = "-inf" if since is None else since
        hi: float | str = "+inf" if until is None else until
        found: list[Invocation] = []
        scanned = offset
        while len(found) < limit:
            ids = self.store.page_ids(
                str(urn), active_only=only_active, since=lo, until=hi, offset=scanned, count=limit
            )
            if not ids:
                break
            records = {r.request_id: r for r in self.store.get_many(ids)}
            for rid in ids:
                scanned += 1
                record = records.get(rid)
                if record is not None and (wanted is None or record.status is wanted):
                    found.append(record)
                    if len(found) == limit:
                        break
        more = bool(
            self.store.page_ids(
                str(urn), active_only=only_active, since=lo, until=hi, offset=scanned, count=1
            )
        )
        return InvocationPage(
            invocations=tuple(found), count=len(found), next_marker=str(scanned) if more else None
        )

    def cancel(self, request_id: str, force: bool = False, recursive: bool = False) -> Cancellation:
        """Stop a waiting invocation (and a running one with ``force``); it ends DISCARD.

        ``recursive`` also stops every invocation it started, directly or further down
        (destinations and ``context.invoke_async``), that has not ended: waiting ones, and
        running ones with ``force``. The answer is the named invocation's record with
        ``cancelled``, every request id this call ended.
        """
        record = self.get_invocation(request_id)
        if not recursive:
            if record.status.terminal:
                raise InvalidParameter(
                    f"invocation {request_id} already ended with status {record.status.value}"
                )
            if record.status is Status.RUNNING and not force:
                raise InvalidParameter(
                    f"invocation {request_id} is running; cancel with force to stop it"
                )
        cancelled = self.lifecycle.cancel(record, force, recursive)
        if recursive and not cancelled:
            raise InvalidParameter(
                f"nothing to cancel: invocation {request_id} is {record.status.value}"
                + ("" if force or record.status.terminal else " (force stops a running one)")
                + " and none of the invocations it started is waiting"
                + ("" if force else " (or running, with force)")
            )
        if cancelled:
            try:
                self.celery.control.revoke(cancelled, terminate=force, signal="SIGKILL")
            except Exception as exc:  # the records already say DISCARD, which workers obey
                log.warning("revoke of %s was not broadcast: %s", ", ".join(cancelled), exc)
        return Cancellation.model_validate(
            {**self.get_invocation(request_id).model_dump(), "cancelled": cancelled}
        )

    def _redrives(self) -> Redrives:
        return Redrives(self, self.store, self.functions, self.lifecycle)

    def redrive(self, request_id: str) -> str:
        """Invoke a FAIL or DISCARD invocation again with its payload, as ``<id>.r<n>``.

        Idempotent: while the last redrive of the same original has not ended, its id is
        returned and nothing is queued, so two redrives at once queue one.
        """
        return self._redrives().one(request_id)

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
        return self._redrives().select(function, status, since=since, until=until, limit=limit)


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
