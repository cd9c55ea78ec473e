"""How an invocation ends: one terminal transition, then its event goes to a destination.

Every path that ends an invocation comes through here (the task, Celery's expiry signal, the
platform-failure signal, the reconciler), so each ends the same way and emits at most once.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from executor.config import AsyncConfig, DestinationRef
from executor.constants import (
    CONDITION_EVENT_AGE_EXCEEDED,
    CONDITION_RETRIES_EXHAUSTED,
    DELIVER_TASK,
    DELIVERY_QUEUE,
)
from executor.delivery import hand_over, mark
from executor.errors import FunctionNotFound
from executor.events import ResultEvent, build_event
from executor.guard import ChainBroken
from executor.invocation import Status
from executor.redaction import delivery_repr
from executor.urn import FunctionURN, parse_urn

if TYPE_CHECKING:
    from executor.app import FunctionApp

log = logging.getLogger("executor.lifecycle")

# Destinations whose delivery only queues more work in this fleet (a FunctionGraph delivery is
# one record and one publish, as cheap as queueing the delivery task itself), so the worker
# that ends the invocation delivers at once and spares the event a trip through a queue.
_IN_PLACE = frozenset({"FunctionGraph"})


class Lifecycle:
    def __init__(self, app: FunctionApp) -> None:
        self.app = app
        self.client = app.client
        self.store = app.client.store
        self.settings = app.settings

    def _urn(self, urn: str) -> FunctionURN:
        return parse_urn(urn, region=self.settings.region, project=self.settings.project_id)

    def _config(self, urn: FunctionURN) -> tuple[AsyncConfig, str | None]:
        try:
            entry = self.client.lookup(urn)
        except FunctionNotFound:
            return self.client.configs.effective(urn, None), None
        return self.client.configs.effective(urn, entry.default_config), entry.agency

    def settle(
        self,
        *,
        request_id: str,
        urn: str,
        status: Status,
        event: ResultEvent,
        chain: list[str] | tuple[str, ...],
        error_code: str = "",
        error_message: str = "",
        note: str = "",
        config: AsyncConfig | None = None,
        agency: str | None = None,
    ) -> bool:
        """End the invocation; the caller that wins hands the event to its destination."""
        parsed = self._urn(urn)
        if config is None:
            config, agency = self._config(parsed)
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
            event_body = json.loads(event_json)
            full_chain = [*chain, parsed.function]
            if destination.destination in _IN_PLACE and self._deliver_here(
                request_id, outcome, destination, event_body, full_chain, urn, agency
            ):
                return won
            self.dispatch(
                request_id=request_id,
                outcome=outcome,
                destination=destination.model_dump(),
                event=event_body,
                chain=full_chain,
                function_urn=urn,
                agency=agency,
            )
        return won

    def _deliver_here(
        self,
        request_id: str,
        outcome: str,
        destination: DestinationRef,
        event: dict[str, Any],
        chain: list[str],
        function_urn: str,
        agency: str | None,
    ) -> bool:
        """One delivery attempt in this process; False hands it to the delivery task.

        The event is recorded pending before this runs, so a crash here leaves it to the
        reconciler's re-publish, as a crash before queueing the delivery task would.
        """
        state = "delivered"
        error = ""
        try:
            hand_over(
                destination,
                request_id=request_id,
                outcome=outcome,
                event=event,
                chain=chain,
                function_urn=function_urn,
                agency=agency,
            )
        except ChainBroken as exc:
            state, error = "dropped", exc.message
        except Exception as exc:
            log.warning(
                "%s event of %s not delivered in place (%s); the delivery task takes over",
                outcome,
                request_id,
                exc,
            )
            return False
        mark(self.app, request_id, destination.destination, outcome, state, 1, error)
        return True

    def dispatch(
        self,
        *,
        request_id: str,
        outcome: str,
        destination: dict[str, Any],
        event: dict[str, Any],
        chain: list[str],
        function_urn: str,
        agency: str | None,
    ) -> None:
        """Queue the delivery task; it runs on its own queue so slow destinations never stall
        work, and retries until the delivery deadline."""
        self.app.celery.send_task(
            DELIVER_TASK,
            kwargs={
                "request_id": request_id,
                "outcome": outcome,
                "destination": destination,
                "event": event,
                "chain": chain,
                "function_urn": function_urn,
                "agency": agency,
                "first_at": time.time(),
            },
            task_id=f"{request_id}:{outcome}",
            queue=DELIVERY_QUEUE,
            kwargsrepr=delivery_repr(self.settings, request_id, destination["destination"]),
            argsrepr="()",
        )

    def republish(self, request_id: str) -> None:
        """Hand on an event whose delivery was recorded but may never have been queued."""
        record = self.store.raw(request_id)
        if not record.get("event") or not record.get("dest"):
            return
        urn = self._urn(record["urn"])
        _, agency = self._config(urn)
        log.info("re-publishing the %s event of %s", record.get("outcome"), request_id)
        self.dispatch(
            request_id=request_id,
            outcome=record.get("outcome", "failure"),
            destination=json.loads(record["dest"]),
            event=json.loads(record["event"]),
            chain=[*json.loads(record.get("chain", "[]")), urn.function],
            function_urn=record["urn"],
            agency=agency,
        )

    def expire(self, request_id: str, note: str) -> bool:
        """End a message that aged out before it could (re)run: DISCARD, EventAgeExceeded."""
        record = self.store.raw(request_id)
        if not record or Status(record["status"]).terminal:
            return False
        age = float(record["deadline"]) - float(record["enqueued_at"])
        message = f"the message aged out: not run within {age:.0f} s of being queued"
        event = self._event(
            request_id, record, CONDITION_EVENT_AGE_EXCEEDED, record.get("error_message", "")
        )
        won = self.settle(
            request_id=request_id,
            urn=record["urn"],
            status=Status.DISCARD,
            event=event,
            chain=json.loads(record.get("chain", "[]")),
            error_code=CONDITION_EVENT_AGE_EXCEEDED,
            error_message=message,
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
        event = self._event(request_id, record, CONDITION_RETRIES_EXHAUSTED, error, status_code=500)
        won = self.settle(
            request_id=request_id,
            urn=record["urn"],
            status=Status.FAIL,
            event=event,
            chain=json.loads(record.get("chain", "[]")),
            error_code="FSS.0500",
            error_message=error,
            note=note,
        )
        if won:
            log.error("%s %s failed on the platform: %s", record["urn"], request_id, error)
        return won

    @staticmethod
    def _event(
        request_id: str,
        record: dict[str, str],
        condition: str,
        error: str,
        status_code: int = 200,
    ) -> ResultEvent:
        return build_event(
            request_id=request_id,
            function_urn=record["urn"],
            enqueued_at=float(record["enqueued_at"]),
            condition=condition,
            invoke_count=int(record.get("attempts", 0)),
            request_payload=json.loads(record.get("payload", "null")),
            status_code=status_code,
            function_error=error,
        )
