"""How an invocation starts: accepted (recorded WAIT) and queued, released when a delayed one
is due, queued again when the broker lost its message, or made by a fused FunctionGraph hop.

Part of ``Lifecycle``, which owns every status change; kept apart because starting has the
most ways to go (idempotent ids, delays, redrives, the fused script when the broker is the
state store's Redis).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from destinations.functiongraph import target_request_id
from executor.core.catalogue import CatalogueEntry
from executor.core.config import DestinationRef
from executor.core.constants import (
    MAX_DELAY,
    MAX_EVENT_AGE,
)
from executor.core.errors import ExecutorError, RequestIdConflict, Unavailable
from executor.core.events import ResultEvent
from executor.core.guard import check_call, hop
from executor.core.invocation import Status
from executor.core.messages import InvocationMessage
from executor.core.params import FunctionGraphParam
from executor.core.settings import Settings
from executor.core.urn import FunctionURN, parse_urn
from executor.runtime import tracing
from executor.runtime.functions import Functions
from executor.runtime.publisher import Publisher
from executor.state.control import Accept, Accepted
from executor.state.store import Store
from executor.state.writes import NewRecord, Queued

CANCELLED = "Cancelled"
FUNCTION_GRAPH = "FunctionGraph"


class Admission:
    """The starting half of ``Lifecycle``."""

    settings: Settings
    store: Store
    functions: Functions
    publisher: Publisher

    def _urn(self, urn: str) -> FunctionURN:
        return parse_urn(urn, region=self.settings.region, project=self.settings.project_id)

    # -- start ----------------------------------------------------------------------------------

    def accept(
        self,
        entry: CatalogueEntry,
        *,
        request_id: str | None,
        payload: Any,
        payload_json: str,
        chain: Sequence[str],
        max_age: int,
        origin: str = "",
        delay: float = 0,
        redrive_of: str = "",
        redrive_number: int = 0,
        traceparent: str = "",
    ) -> str:
        """Record the invocation WAIT, then queue its message; nothing stays half-written.

        ``request_id`` None draws a fresh id. A given id that exists already is answered with
        itself and nothing is queued, unless it names another function or payload
        (``RequestIdConflict``); its first acceptance publishes (or the orphan pass does, if
        that producer died in between). With ``delay`` the invocation waits in the due-time
        index and the reconciler publishes it when it is due; its age counts from then.
        """
        now = time.time()
        due_at = now + delay if delay > 0 else None
        deadline = (due_at or now) + max_age
        if request_id is None and not origin and due_at is None and not redrive_of:
            request_id = str(uuid.uuid4())
            message = self._message(entry.urn, payload, chain, now, deadline, origin, traceparent)
            # When the broker is the state store's Redis, one script writes both.
            queued = self._fused(entry, request_id, message)
            if queued is not None:
                new = NewRecord(
                    request_id,
                    entry.urn,
                    now,
                    deadline,
                    chain,
                    payload_json,
                    traceparent=traceparent,
                )
                self.store.enqueue(new, queued)
                return request_id
            self.store.create(
                request_id=request_id,
                urn=entry.urn,
                enqueued_at=now,
                deadline=deadline,
                chain=chain,
                payload_json=payload_json,
                traceparent=traceparent,
            )
        else:
            request_id = request_id or str(uuid.uuid4())
            target = Accept(
                request_id=request_id,
                urn=entry.urn,
                enqueued_at=now,
                deadline=deadline,
                chain=chain,
                payload_json=payload_json,
                origin=origin,
                due_at=due_at,
                redrive_of=redrive_of,
                redrive_number=redrive_number,
                children_ttl=self._children_ttl(),
                traceparent=traceparent,
                note=f"due in {delay:g} s" if due_at is not None else "",
            )
            queued = None
            if due_at is None:
                message = self._message(
                    entry.urn, payload, chain, now, deadline, origin, traceparent
                )
                queued = self._fused(entry, request_id, message)
            if queued is not None:
                found = self.store.accept_and_queue(target, queued)
            else:
                found = self.store.control.accept(target)
            if found.outcome is Accepted.CONFLICT:
                # Another function may belong to another project: its name is not shown.
                held = (
                    f"an invocation of {found.urn} ({found.status.value}) with another payload"
                    if found.urn == entry.urn
                    else "an invocation of another function"
                )
                raise RequestIdConflict(
                    f"request id {request_id!r} is taken by {held}; send the same function and "
                    "payload to get that invocation again, or use a new request id"
                )
            if found.outcome is Accepted.EXISTS or due_at is not None or queued is not None:
                return request_id
        message = self._message(entry.urn, payload, chain, now, deadline, origin, traceparent)
        try:
            self.publisher.invocation(entry, request_id, message)
        except Exception as exc:
            self.store.forget(request_id, entry.urn)
            self.store.control.unlink(request_id, origin)
            raise Unavailable(
                f"the broker did not accept the invocation ({exc}); nothing was queued, "
                "check EXECUTOR_BROKER_URL and retry"
            ) from exc
        return request_id

    def _fused(
        self, entry: CatalogueEntry, request_id: str, message: InvocationMessage
    ) -> Queued | None:
        """The message for a script to write with the record; None when it must be published
        apart: a broker that is not the state store, or replicas to wait for before it is."""
        if self.store.wait_replicas:
            return None
        return self.publisher.fused(entry, request_id, message)

    def _children_ttl(self) -> int:
        """A parent's children outlive every record they can name: a child is created at
        most a delay plus a maximum age after its parent."""
        return self.settings.status_retention + MAX_EVENT_AGE + MAX_DELAY

    def release_due(self, request_id: str, due_at: float) -> bool:
        """Publish a delayed invocation that is due; False if it ended meanwhile (cancelled,
        aged out). A broker that refuses puts it back on the due-time index."""
        record = self.store.raw(request_id)
        if not record or record.get("status") != Status.WAIT.value:
            return False
        try:
            entry = self.functions.lookup(self._urn(record["urn"]))
            self.requeue_lost(entry, request_id, record)
        except Exception:
            self.store.control.reschedule(request_id, due_at)
            raise
        return True

    def requeue_lost(self, entry: CatalogueEntry, request_id: str, record: dict[str, str]) -> None:
        """Publish again an invocation whose message is gone: still WAIT, or RUNNING with a
        runner that stopped before it recorded an outcome."""
        claimed = int(record.get("claimed", -1))
        message = self._message(
            record["urn"],
            json.loads(record.get("payload", "null")),
            json.loads(record.get("chain", "[]")),
            float(record["enqueued_at"]),
            float(record["deadline"]),
            record.get("origin", ""),
            record.get("traceparent", ""),
        )
        # A waiting one takes the next retry index, so the claim does not take it for a stale
        # duplicate; a running one keeps its index, so the claim counts a lost run (bounded).
        running = record.get("status") == Status.RUNNING.value
        retries = claimed if running else claimed + 1
        self.publisher.invocation(entry, request_id, message, retries=max(retries, 0))

    @staticmethod
    def _message(
        urn: str,
        payload: Any,
        chain: Sequence[str],
        enqueued_at: float,
        deadline: float,
        origin: str,
        traceparent: str,
    ) -> InvocationMessage:
        # The record keeps the payload, so the message goes without it.
        return InvocationMessage(
            payload=payload,
            urn=urn,
            chain=tuple(chain),
            enqueued_at=enqueued_at,
            deadline=deadline,
            origin=origin,
            in_record=True,
            traceparent=traceparent,
        )

    def _fused_hop(
        self,
        request_id: str,
        urn: str,
        chain: Sequence[str],
        event: ResultEvent,
        event_json: str,
        destination: DestinationRef,
    ) -> tuple[Accept, Queued] | None:
        """The target invocation a FunctionGraph destination makes, for the script that ends
        the source; None when the delivery must take its usual way (which refuses, counts or
        retries): a call the guard drops, an unknown target, an event above the payload
        limit, a broker the script cannot write to."""
        if tracing.enabled():
            return None  # the usual way makes the delivery's span and the target's trace
        param = destination.decoded()
        assert isinstance(param, FunctionGraphParam)
        target_chain = hop(chain, self._urn(urn).function)
        try:
            target = self.functions.resolve(param.func_urn)
            check_call(target_chain, target.function, self.settings.max_chain_depth)
            entry = self.functions.lookup(target)
        except ExecutorError:
            return None
        if len(event_json.encode()) > self.settings.payload_limit:
            return None
        config = self.functions.configs.effective(target, entry.default_config)
        now = time.time()
        deadline = now + config.max_async_event_age_in_seconds
        target_id = target_request_id(f"{request_id}:{event.outcome}")
        # The payload is needed here only to be shown in task events.
        payload = json.loads(event_json) if self.settings.show_payloads else None
        message = self._message(entry.urn, payload, target_chain, now, deadline, request_id, "")
        queued = self._fused(entry, target_id, message)
        if queued is None:
            return None
        target_record = Accept(
            request_id=target_id,
            urn=entry.urn,
            enqueued_at=now,
            deadline=deadline,
            chain=target_chain,
            payload_json=event_json,
            origin=request_id,
            children_ttl=self._children_ttl(),
        )
        return target_record, queued
