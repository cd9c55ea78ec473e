"""The producer side: invoke functions, manage async configs, query and cancel invocations."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from pydantic import ValidationError

from executor.agency import load_agencies
from executor.config import AsyncConfig, StoredAsyncConfig
from executor.configs import ConfigPage, Configs, invalid
from executor.errors import (
    ExecutorError,
    FunctionNotFound,
    InvalidParameter,
    InvocationNotFound,
    PayloadTooLarge,
    Unavailable,
)
from executor.guard import ChainBroken, check_call
from executor.invocation import Invocation, InvocationPage, Status
from executor.redaction import invocation_repr
from executor.registry import CatalogueEntry, Registry
from executor.settings import Settings, get_settings
from executor.store import Store
from executor.urn import FunctionURN, parse_urn

log = logging.getLogger("executor.client")

_current: Client | None = None


def current_client() -> Client:
    """The client of the running app (set by ``FunctionApp``), or one made from settings."""
    global _current
    if _current is None:
        _current = Client()
    return _current


def set_current_client(client: Client) -> None:
    global _current
    _current = client


class Client:
    """Everything a producer does, over the state store and the broker."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        celery: Celery | None = None,
        registry: Registry | None = None,
        store: Store | None = None,
    ) -> None:
        from executor.engine import make_celery

        self.settings = settings or get_settings()
        self.celery = celery or make_celery(self.settings)
        self.registry = registry if registry is not None else Registry()
        self.store = store if store is not None else Store(self.settings.redis_url)
        self.configs = Configs(self.store, self.settings.config_cache_ttl)
        self.agencies = load_agencies(self.settings.agency_file)
        self._catalogue: dict[str, tuple[float, CatalogueEntry | None]] = {}

    # -- names ----------------------------------------------------------------------------------

    def resolve(self, function: str) -> FunctionURN:
        """A URN or short name as a full, version-qualified URN."""
        return parse_urn(function, region=self.settings.region, project=self.settings.project_id)

    def lookup(self, urn: FunctionURN) -> CatalogueEntry:
        """Where and how a function runs: from the local registry, else the worker catalogue."""
        spec = self.registry.get(urn)
        if spec is not None:
            return spec.local_entry
        key = str(urn)
        now = time.monotonic()
        hit = self._catalogue.get(key)
        if hit is None or hit[1] is None or now - hit[0] >= self.settings.config_cache_ttl:
            raw = self.store.catalogue_entry(key)
            hit = (now, CatalogueEntry.model_validate_json(raw) if raw else None)
            self._catalogue[key] = hit
        if hit[1] is None:
            raise FunctionNotFound(
                f"function {key} is not known: no worker has registered it. Check the name, "
                "or start a worker that imports the module defining it"
            )
        return hit[1]

    def _defaults(self) -> dict[str, AsyncConfig | None]:
        defaults = {
            urn: CatalogueEntry.model_validate_json(raw).default_config
            for urn, raw in self.store.catalogue().items()
        }
        defaults.update({str(s.urn): s.default_config for s in self.registry})
        return defaults

    def effective_config(self, urn: FunctionURN) -> AsyncConfig:
        return self.configs.effective(urn, self.lookup(urn).default_config)

    # -- invocation -----------------------------------------------------------------------------

    def invoke_async(
        self,
        function: str,
        payload: Any = None,
        *,
        chain: Sequence[str] = (),
        request_id: str | None = None,
        origin: str = "",
    ) -> str:
        """Queue one invocation and return its request id, once it is durably recorded.

        Refused before anything is written: a payload that is not JSON or is above the limit,
        an unknown function, and a call that the chain guard drops (``ChainBroken``).
        """
        urn = self.resolve(function)
        payload_json = _encode(payload)
        size = len(payload_json.encode())
        if size > self.settings.payload_limit:
            raise PayloadTooLarge(
                f"the payload is {size} bytes, above the limit of {self.settings.payload_limit}"
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
        rid = request_id or str(uuid.uuid4())
        now = time.time()
        deadline = now + config.max_async_event_age_in_seconds
        created, status, attempts = self.store.create(
            request_id=rid,
            urn=str(urn),
            enqueued_at=now,
            deadline=deadline,
            chain=chain,
            payload_json=payload_json,
            origin=origin,
        )
        if not created and not (status is Status.WAIT and attempts == 0):
            return rid
        try:
            self.publish(entry, rid, str(urn), payload, tuple(chain), now, deadline, origin)
        except Exception as exc:
            if created:
                self.store.forget(rid, str(urn))
            raise Unavailable(
                f"the broker did not accept the invocation ({exc}); nothing was queued, "
                "check EXECUTOR_BROKER_URL and retry"
            ) from exc
        return rid

    def publish(
        self,
        entry: CatalogueEntry,
        request_id: str,
        urn: str,
        payload: Any,
        chain: tuple[str, ...],
        enqueued_at: float,
        deadline: float,
        origin: str = "",
        retries: int = 0,
    ) -> None:
        self.celery.send_task(
            entry.task,
            kwargs={
                "payload": payload,
                "urn": urn,
                "chain": list(chain),
                "enqueued_at": enqueued_at,
                "deadline": deadline,
                "origin": origin,
            },
            task_id=request_id,
            queue=entry.queue,
            expires=datetime.fromtimestamp(deadline, tz=UTC),
            kwargsrepr=invocation_repr(self.settings, urn),
            argsrepr="()",
            retries=retries,
        )

    # -- async configs --------------------------------------------------------------------------

    def put_async_config(self, function: str, body: Any) -> StoredAsyncConfig:
        urn = self.resolve(function).require_version()
        entry = self.lookup(urn)
        try:
            config = body if isinstance(body, AsyncConfig) else AsyncConfig.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc, "async config") from None
        self.agencies.authorize_config(entry.agency, config)
        return self.configs.put(urn, config, self._defaults())

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

    def cancel(self, request_id: str, force: bool = False) -> Invocation:
        """Stop a waiting invocation (and a running one with ``force``); it ends DISCARD."""
        record = self.get_invocation(request_id)
        if record.status.terminal:
            raise InvalidParameter(
                f"invocation {request_id} already ended with status {record.status.value}"
            )
        if record.status is Status.RUNNING and not force:
            raise InvalidParameter(
                f"invocation {request_id} is running; cancel with force to stop it"
            )
        self.store.finish(
            request_id=request_id,
            urn=record.function_urn,
            status=Status.DISCARD,
            now=time.time(),
            retention=self.settings.status_retention,
            condition="Cancelled",
            error_code="Cancelled",
            error_message="cancelled by request" + (" (forced)" if force else ""),
            note="cancelled",
        )
        try:
            self.celery.control.revoke(request_id, terminate=force, signal="SIGKILL")
        except Exception as exc:  # the record already says DISCARD, which workers obey
            log.warning("revoke of %s was not broadcast: %s", request_id, exc)
        return self.get_invocation(request_id)


def _encode(payload: Any) -> str:
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"the payload must be JSON: {exc}") from None


def _status(value: Status | str | None) -> Status | None:
    if value is None or value == "":
        return None
    try:
        return Status(str(value).upper())
    except ValueError:
        raise InvalidParameter(
            f"status must be one of {', '.join(s.value for s in Status)}, not {value!r}"
        ) from None


__all__ = ["Client", "ExecutorError", "current_client", "set_current_client"]
