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
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from executor.core.config import AsyncConfig
from executor.core.constants import (
    CONDITION_EVENT_AGE_EXCEEDED,
    CONDITION_RETRIES_EXHAUSTED,
)
from executor.core.events import ResultEvent, build_event, outcome_of
from executor.core.invocation import ClaimState, DeliveryState, DeliveryStatus, Invocation, Status
from executor.core.messages import DeliveryJob
from executor.core.payload import PayloadRefused, nesting
from executor.core.settings import Settings
from executor.runtime import tracing
from executor.runtime.admission import CANCELLED, FUNCTION_GRAPH, Admission
from executor.runtime.delivery import Deliveries
from executor.runtime.functions import Functions
from executor.runtime.publisher import Publisher
from executor.runtime.runner import Runner, runner_gone
from executor.state.store import Claim, Store
from executor.state.writes import Finish

log = logging.getLogger("executor.lifecycle")


class Lifecycle(Admission):
    """The one owner of an invocation's statuses; how it starts is in ``Admission``."""

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
        finish = Finish(
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
        if destination is None:
            return self.store.finish(finish)
        if callable(event):
            event = event()
        event_json = event.model_dump_json()
        finish = replace(
            finish,
            event=event_json,
            destination=destination.model_dump_json(),
            destination_kind=destination.destination,
            outcome=outcome,
        )
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
                        updated_at=finish.now,
                    ),
                )
                if fused >= 0:
                    return fused == 1
        won = self.store.finish(finish)
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
            Finish(
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
