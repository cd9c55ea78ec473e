"""Every status change of an invocation, from acceptance to its one terminal transition.

``accept`` records WAIT and queues the message, ``claim`` starts an attempt, ``retry`` goes
back to WAIT between attempts, and ``settle`` (for the task), ``expire``, ``fail_platform``
and ``cancel`` end it. Each is one atomic script in the state store, so an invocation ends
once, and only the caller whose terminal transition won hands the event to its destination.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from executor.core.catalogue import CatalogueEntry
from executor.core.config import AsyncConfig
from executor.core.constants import CONDITION_EVENT_AGE_EXCEEDED, CONDITION_RETRIES_EXHAUSTED
from executor.core.errors import Unavailable
from executor.core.events import ResultEvent, build_event
from executor.core.invocation import Invocation, Status
from executor.core.messages import DeliveryJob, InvocationMessage
from executor.core.settings import Settings
from executor.core.urn import FunctionURN, parse_urn
from executor.runtime.delivery import Deliveries
from executor.runtime.functions import Functions
from executor.runtime.publisher import Publisher
from executor.state.store import Claim, Store

log = logging.getLogger("executor.lifecycle")

CANCELLED = "Cancelled"


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

    def _urn(self, urn: str) -> FunctionURN:
        return parse_urn(urn, region=self.settings.region, project=self.settings.project_id)

    # -- start ----------------------------------------------------------------------------------

    def accept(
        self,
        entry: CatalogueEntry,
        *,
        request_id: str,
        payload: Any,
        payload_json: str,
        chain: Sequence[str],
        max_age: int,
        origin: str = "",
    ) -> str:
        """Record the invocation WAIT, then queue its message; nothing stays half-written.

        A request id that exists already is not queued again, unless its message may never
        have been published (still WAIT with no attempt).
        """
        now = time.time()
        deadline = now + max_age
        created, status, attempts = self.store.create(
            request_id=request_id,
            urn=entry.urn,
            enqueued_at=now,
            deadline=deadline,
            chain=chain,
            payload_json=payload_json,
            origin=origin,
        )
        if not created and not (status is Status.WAIT and attempts == 0):
            return request_id
        message = self._message(entry.urn, payload, chain, now, deadline, origin)
        try:
            self.publisher.invocation(entry, request_id, message)
        except Exception as exc:
            if created:
                self.store.forget(request_id, entry.urn)
            raise Unavailable(
                f"the broker did not accept the invocation ({exc}); nothing was queued, "
                "check EXECUTOR_BROKER_URL and retry"
            ) from exc
        return request_id

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
    ) -> InvocationMessage:
        return InvocationMessage(
            payload=payload,
            urn=urn,
            chain=tuple(chain),
            enqueued_at=enqueued_at,
            deadline=deadline,
            origin=origin,
        )

    # -- attempts -------------------------------------------------------------------------------

    def claim(self, request_id: str, retry: int) -> Claim:
        """Start an attempt of the message with retry index ``retry``, or say why not."""
        return self.store.claim(request_id, retry, time.time(), self.settings.max_worker_lost)

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
        event: ResultEvent,
        chain: Sequence[str],
        error_code: str = "",
        error_message: str = "",
        note: str = "",
        config: AsyncConfig | None = None,
        agency: str | None = None,
    ) -> bool:
        """End the invocation; the caller that wins hands the event to its destination."""
        if config is None:
            config, agency = self.functions.policy(self._urn(urn))
        outcome = event.outcome
        destination = config.destination_for(outcome)
        event_json = event.model_dump_json()
        won = self.store.finish(
            request_id=request_id,
            urn=urn,
            status=status,
            now=time.time(),
            retention=self.settings.status_retention,
            condition=event.request_context.condition,
            error_code=error_code,
            error_message=error_message,
            event=event_json,
            destination=destination.model_dump_json() if destination else "",
            destination_kind=destination.destination if destination else "",
            outcome=outcome,
            note=note,
        )
        if won and destination is not None:
            self.deliveries.start(
                DeliveryJob(
                    request_id=request_id,
                    outcome=outcome,
                    destination=destination,
                    event=json.loads(event_json),
                    chain=tuple(chain),
                    function_urn=urn,
                    agency=agency,
                )
            )
        return won

    def expire(self, request_id: str, note: str) -> bool:
        """End a message that aged out before it could (re)run: DISCARD, EventAgeExceeded."""
        record = self.store.raw(request_id)
        if not record or Status(record["status"]).terminal:
            return False
        age = float(record["deadline"]) - float(record["enqueued_at"])
        message = f"the message aged out: not run within {age:.0f} s of being queued"
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

    def cancel(self, invocation: Invocation, force: bool) -> bool:
        """End a waiting (or, with ``force``, running) invocation as DISCARD, with no event."""
        return self.store.finish(
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

    def resend_event(self, request_id: str) -> None:
        """Hand on an event whose delivery was recorded pending but may never have been queued."""
        record = self.store.raw(request_id)
        if not record.get("event") or not record.get("dest"):
            return
        _, agency = self.functions.policy(self._urn(record["urn"]))
        log.info("re-sending the %s event of %s", record.get("outcome"), request_id)
        self.publisher.delivery(
            DeliveryJob(
                request_id=request_id,
                outcome=record.get("outcome", "failure"),
                destination=json.loads(record["dest"]),
                event=json.loads(record["event"]),
                chain=json.loads(record.get("chain", "[]")),
                function_urn=record["urn"],
                agency=agency,
                first_at=time.time(),
            )
        )

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
            request_payload=json.loads(record.get("payload", "null")),
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
        )
