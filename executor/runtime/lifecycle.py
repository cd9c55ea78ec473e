"""Every status change of an invocation, from acceptance to its one terminal transition.

``accept`` records WAIT and queues the message (a delayed one waits in the due-time index
until ``release_due``), ``claim`` starts an attempt, ``retry`` goes back to WAIT between
attempts, and ``settle`` (for the task), ``expire``, ``fail_platform`` and ``cancel`` (of one
invocation, or of it and everything it started) end it. Each is one atomic script in the
state store, so an invocation ends once, and only the caller whose terminal transition won
hands the event to its destination.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from destinations.functiongraph import target_request_id
from executor.core.catalogue import CatalogueEntry
from executor.core.config import AsyncConfig, DestinationRef
from executor.core.constants import (
    CONDITION_EVENT_AGE_EXCEEDED,
    CONDITION_RETRIES_EXHAUSTED,
    MAX_DELAY,
    MAX_EVENT_AGE,
)
from executor.core.errors import ExecutorError, RequestIdConflict, Unavailable
from executor.core.events import ResultEvent, build_event, outcome_of
from executor.core.guard import check_call, hop
from executor.core.invocation import ClaimState, DeliveryState, DeliveryStatus, Invocation, Status
from executor.core.messages import DeliveryJob, InvocationMessage
from executor.core.params import FunctionGraphParam
from executor.core.payload import PayloadRefused, nesting
from executor.core.settings import Settings
from executor.core.urn import FunctionURN, parse_urn
from executor.runtime import tracing
from executor.runtime.delivery import Deliveries
from executor.runtime.functions import Functions
from executor.runtime.publisher import Publisher
from executor.runtime.runner import Runner, runner_gone
from executor.state.control import Accepted
from executor.state.store import Claim, Store
from executor.state.writes import NewRecord, Queued

log = logging.getLogger("executor.lifecycle")

CANCELLED = "Cancelled"
FUNCTION_GRAPH = "FunctionGraph"


class Lifecycle:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        functions: Functions,
        publisher: Publisher,
        deliveries: Deliveries,
    ) -> None:
        self.settings = settings
        self.store = store
        self.functions = functions
        self.publisher = publisher
        self.deliveries = deliveries
        self.runner = Runner(store, settings.runner_lease)

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
                    request_id, entry.urn, now, deadline, chain, payload_json, traceparent=traceparent
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
            target: dict[str, Any] = {
                "request_id": request_id,
                "urn": entry.urn,
                "enqueued_at": now,
                "deadline": deadline,
                "chain": chain,
                "payload_json": payload_json,
                "origin": origin,
                "due_at": due_at,
                "redrive_of": redrive_of,
                "redrive_number": redrive_number,
                "children_ttl": self._children_ttl(),
                "traceparent": traceparent,
                "note": f"due in {delay:g} s" if due_at is not None else "",
            }
            queued = None
            if due_at is None:
                message = self._message(entry.urn, payload, chain, now, deadline, origin, traceparent)
                queued = self._fused(entry, request_id, message)
            if queued is not None:
                found = self.store.accept_and_queue(target, queued)
            else:
                found = self.store.control.accept(**target)
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
        """Publish again an invocation whose message the broker lost (still WAIT)."""
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
        # The next retry index, so the claim does not take it for a stale duplicate.
        self.publisher.invocation(entry, request_id, message, retries=max(claimed + 1, 0))

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

    # -- attempts -------------------------------------------------------------------------------

    def claim(self, request_id: str, retry: int) -> Claim:
        """Start an attempt of the message with retry index ``retry``, or say why not.

        The claim is held by this process (see ``runtime.runner``): a copy of the message that
        arrives while it runs is BUSY, and only a claim whose runner is gone counts as a crash.
        """
        now = time.time()
        runner, until = self.runner.identity, self.runner.lease_until(now)
        limit = self.settings.max_worker_lost
        claim = self.store.claim(request_id, retry, now, limit, runner=runner, lease_until=until)
        if claim.state is ClaimState.BUSY and runner_gone(claim.runner):
            claim = self.store.claim(
                request_id, retry, now, limit, runner=runner, lease_until=until, gone=claim.runner
            )
        return claim

    def retry(self, request_id: str, error: str, note: str) -> bool:
        """Back to WAIT between attempts; False if the invocation ended meanwhile."""
        return self.store.mark_retry(request_id, time.time(), error, note)

    # -- ends -----------------------------------------------------------------------------------

    def settle(
        self,
        *,
        request_id: str,
        urn: str,
        status: Status,
        event: ResultEvent | Callable[[], ResultEvent],
        chain: Sequence[str],
        error_code: str = "",
        error_message: str = "",
        note: str = "",
        config: AsyncConfig | None = None,
        agency: str | None = None,
        condition: str = "",
        traceparent: str = "",
    ) -> bool:
        """End the invocation; the caller that wins hands the event to its destination.

        ``event`` may be a function that builds it, given with ``condition``: it is then built
        only when a destination takes it (nothing else reads an event). ``traceparent`` is the
        invocation's trace; the span current here (the attempt's, in a task) is what the
        delivery links to.
        """
        if config is None:
            config, agency = self.functions.policy(self._urn(urn))
        if callable(event):
            outcome = outcome_of(condition)
        else:
            outcome, condition = event.outcome, event.request_context.condition
        destination = config.destination_for(outcome)
        if destination is None:
            return self.store.finish(
                request_id=request_id,
                urn=urn,
                status=status,
                now=time.time(),
                retention=self.settings.status_retention,
                condition=condition,
                error_code=error_code,
                error_message=error_message,
                note=note,
            )
        if callable(event):
            event = event()
        event_json = event.model_dump_json()
        finish: dict[str, Any] = {
            "request_id": request_id,
            "urn": urn,
            "status": status,
            "now": time.time(),
            "retention": self.settings.status_retention,
            "condition": condition,
            "error_code": error_code,
            "error_message": error_message,
            "event": event_json,
            "destination": destination.model_dump_json(),
            "destination_kind": destination.destination,
            "outcome": outcome,
            "note": note,
        }
        if destination.destination == FUNCTION_GRAPH:
            hop = self._fused_hop(request_id, urn, chain, event, event_json, destination)
            if hop is not None:
                fused = self.store.finish_and_hop(
                    finish=finish,
                    target=hop[0],
                    queued=hop[1],
                    delivered=DeliveryState(
                        destination=FUNCTION_GRAPH,
                        outcome=outcome,
                        state=DeliveryStatus.DELIVERED,
                        attempts=1,
                        updated_at=finish["now"],
                    ),
                )
                if fused >= 0:
                    return fused == 1
        won = self.store.finish(**finish)
        if won:
            self.deliveries.start(
                DeliveryJob(
                    request_id=request_id,
                    outcome=outcome,
                    destination=destination,
                    event=json.loads(event_json),
                    chain=tuple(chain),
                    function_urn=urn,
                    agency=agency,
                    traceparent=traceparent,
                    link=tracing.traceparent(),
                )
            )
        return won

    def _fused_hop(
        self,
        request_id: str,
        urn: str,
        chain: Sequence[str],
        event: ResultEvent,
        event_json: str,
        destination: DestinationRef,
    ) -> tuple[dict[str, Any], Queued] | None:
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
        target_record = {
            "request_id": target_id,
            "urn": entry.urn,
            "enqueued_at": now,
            "deadline": deadline,
            "chain": target_chain,
            "payload_json": event_json,
            "origin": request_id,
            "children_ttl": self._children_ttl(),
        }
        return target_record, queued

    def expire(self, request_id: str, note: str) -> bool:
        """End a message that aged out before it could (re)run: DISCARD, EventAgeExceeded."""
        record = self.store.raw(request_id)
        # Only a waiting invocation ages out: a message copy that expires while the invocation
        # runs must not end the run (a lost run is ended by the reconciler's time limit).
        if not record or Status(record["status"]) is not Status.WAIT:
            return False
        start = float(record.get("due_at") or record["enqueued_at"])
        age = float(record["deadline"]) - start
        queued = "being due" if record.get("due_at") else "being queued"
        message = f"the message aged out: not run within {age:.0f} s of {queued}"
        won = self._end(
            request_id,
            record,
            Status.DISCARD,
            CONDITION_EVENT_AGE_EXCEEDED,
            error_code=CONDITION_EVENT_AGE_EXCEEDED,
            error=record.get("error_message", ""),
            message=message,
            note=note,
        )
        if won:
            log.warning("%s %s: %s", record["urn"], request_id, message)
        return won

    def fail_platform(self, request_id: str, error: str, note: str) -> bool:
        """End an invocation the platform could not run (worker lost, hard time limit)."""
        record = self.store.raw(request_id)
        if not record or Status(record["status"]).terminal:
            return False
        won = self._end(
            request_id,
            record,
            Status.FAIL,
            CONDITION_RETRIES_EXHAUSTED,
            error_code="FSS.0500",
            error=error,
            message=error,
            note=note,
            status_code=500,
        )
        if won:
            log.error("%s %s failed on the platform: %s", record["urn"], request_id, error)
        return won

    def cancel(self, invocation: Invocation, force: bool, recursive: bool = False) -> list[str]:
        """End a waiting (or, with ``force``, running) invocation as DISCARD, with no event;
        with ``recursive`` also every invocation it started, directly or further down, that
        has not ended. Returns the request ids this call ended, the named one first.

        Each level is cancelled before its children are read, so a cancelled invocation that
        never runs cannot start one the walk misses.
        """
        cancelled = []
        if self._cancellable(invocation, force) and self._cancel_one(invocation, force):
            cancelled.append(invocation.request_id)
        if not recursive:
            return cancelled
        seen = {invocation.request_id}
        level = [invocation.request_id]
        while level:
            children = [c for c in self.store.control.children(level) if c not in seen]
            seen.update(children)
            for child in self.store.get_many(children):
                if self._cancellable(child, force) and self._cancel_one(child, force):
                    cancelled.append(child.request_id)
            level = children
        return cancelled

    @staticmethod
    def _cancellable(invocation: Invocation, force: bool) -> bool:
        return invocation.status is Status.WAIT or (force and invocation.status is Status.RUNNING)

    def _cancel_one(self, invocation: Invocation, force: bool) -> bool:
        won = self.store.finish(
            request_id=invocation.request_id,
            urn=invocation.function_urn,
            status=Status.DISCARD,
            now=time.time(),
            retention=self.settings.status_retention,
            condition=CANCELLED,
            error_code=CANCELLED,
            error_message="cancelled by request" + (" (forced)" if force else ""),
            note="cancelled",
        )
        if won and invocation.due_at is not None:
            self.store.control.forget_due(invocation.request_id)
        return won

    def resend_event(self, request_id: str) -> bool:
        """Hand on an event whose delivery was recorded pending but may never have been queued;
        nothing is sent while a delivery chain of the event is alive. True if it was sent."""
        record = self.store.raw(request_id)
        if not record.get("event") or not record.get("dest"):
            return False
        _, agency = self.functions.policy(self._urn(record["urn"]))
        job = DeliveryJob(
            request_id=request_id,
            outcome=record.get("outcome", "failure"),
            destination=json.loads(record["dest"]),
            event=json.loads(record["event"]),
            chain=json.loads(record.get("chain", "[]")),
            function_urn=record["urn"],
            agency=agency,
            traceparent=record.get("traceparent", ""),
        )
        if not self.deliveries.resend(job):
            return False
        log.info("re-sent the %s event of %s", job.outcome, request_id)
        return True

    def _stored_payload(self, record: dict[str, str]) -> Any:
        """The recorded payload for an event; None when it could not be carried (a message
        that bypassed the acceptance check may have recorded one nested too deeply)."""
        limit = self.settings.payload_max_depth
        try:
            value = json.loads(record.get("payload", "null"))
            return value if nesting(value, limit) <= limit else None
        except (ValueError, RecursionError, PayloadRefused):
            return None

    def _end(
        self,
        request_id: str,
        record: dict[str, str],
        status: Status,
        condition: str,
        *,
        error_code: str,
        error: str,
        message: str,
        note: str,
        status_code: int = 200,
    ) -> bool:
        event = build_event(
            request_id=request_id,
            function_urn=record["urn"],
            enqueued_at=float(record["enqueued_at"]),
            condition=condition,
            invoke_count=int(record.get("attempts", 0)),
            request_payload=self._stored_payload(record),
            status_code=status_code,
            function_error=error,
        )
        return self.settle(
            request_id=request_id,
            urn=record["urn"],
            status=status,
            event=event,
            chain=json.loads(record.get("chain", "[]")),
            error_code=error_code,
            error_message=message,
            note=note,
            traceparent=record.get("traceparent", ""),
        )
