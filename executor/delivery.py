"""The Celery task that hands one result event to one destination.

Deliveries are at least once: a delivery retries with backoff until the delivery deadline,
then goes to the dead-letter store, as does a permanent refusal. Each event's identity
(request id and outcome) lets the destination overwrite instead of duplicating.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import destinations
from destinations import Delivery, DeliveryError
from executor.backoff import backoff
from executor.config import DestinationRef
from executor.constants import DELIVER_TASK
from executor.errors import ExecutorError
from executor.guard import ChainBroken
from executor.invocation import DeliveryState
from executor.redaction import MaskedTask

if TYPE_CHECKING:
    from executor.app import FunctionApp

log = logging.getLogger("executor.delivery")


class DeliveryTask(MaskedTask):
    max_retries = None
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    typing = False


def hand_over(
    ref: DestinationRef,
    *,
    request_id: str,
    outcome: str,
    event: dict[str, Any],
    chain: list[str],
    function_urn: str,
    agency: str | None,
    attempt: int = 1,
) -> None:
    """One attempt to deliver an event; raises what its destination raises."""
    destinations.get(ref.destination).deliver(
        Delivery(
            identity=f"{request_id}:{outcome}",
            request_id=request_id,
            outcome=outcome,
            function_urn=function_urn,
            event=event,
            param=ref.decoded(),
            chain=tuple(chain),
            agency=agency,
            attempt=attempt,
        )
    )


def mark(
    app: FunctionApp,
    request_id: str,
    kind: str,
    outcome: str,
    state: str,
    attempts: int,
    error: str,
) -> None:
    """Record where one event stands on its way to its destination."""
    app.client.store.set_delivery(
        request_id,
        DeliveryState(
            destination=kind,
            outcome=outcome,
            state=state,
            attempts=attempts,
            error=error,
            updated_at=time.time(),
        ),
        app.settings.status_retention,
    )


def register_delivery(app: FunctionApp) -> Any:
    @app.celery.task(name=DELIVER_TASK, bind=True, base=DeliveryTask, shared=False)  # type: ignore[untyped-decorator]
    def deliver(
        task: DeliveryTask,
        request_id: str,
        outcome: str,
        destination: dict[str, Any],
        event: dict[str, Any],
        chain: list[str],
        function_urn: str,
        agency: str | None = None,
        first_at: float | None = None,
    ) -> None:
        Deliverer(app, task).run(
            request_id, outcome, destination, event, chain, function_urn, agency, first_at
        )

    return deliver


class Deliverer:
    def __init__(self, app: FunctionApp, task: DeliveryTask) -> None:
        self.app = app
        self.task = task
        self.store = app.client.store
        self.settings = app.settings

    def run(
        self,
        request_id: str,
        outcome: str,
        destination: dict[str, Any],
        event: dict[str, Any],
        chain: list[str],
        function_urn: str,
        agency: str | None,
        first_at: float | None,
    ) -> None:
        kind = str(destination.get("destination"))
        previous = self.store.delivery(request_id, outcome)
        if previous is not None and previous.state in ("delivered", "dropped"):
            log.info("%s event of %s already %s", outcome, request_id, previous.state)
            return
        attempts = (previous.attempts if previous else 0) + 1
        started = first_at or time.time()
        try:
            hand_over(
                DestinationRef.model_validate(destination),
                request_id=request_id,
                outcome=outcome,
                event=event,
                chain=chain,
                function_urn=function_urn,
                agency=agency,
                attempt=attempts,
            )
        except ChainBroken as exc:
            self._mark(request_id, kind, outcome, "dropped", attempts, exc.message)
            return
        except (DeliveryError, ExecutorError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            permanent = (
                getattr(exc, "permanent", False)
                or (isinstance(exc, ExecutorError) and exc.http_status < 500)
                or isinstance(exc, ValueError)
            )
            self._failed(
                request_id,
                kind,
                outcome,
                destination,
                event,
                chain,
                function_urn,
                agency,
                attempts,
                started,
                message,
                permanent,
            )
            return
        self._mark(request_id, kind, outcome, "delivered", attempts, "")

    def _mark(
        self, request_id: str, kind: str, outcome: str, state: str, attempts: int, error: str
    ) -> None:
        mark(self.app, request_id, kind, outcome, state, attempts, error)

    def _failed(
        self,
        request_id: str,
        kind: str,
        outcome: str,
        destination: dict[str, Any],
        event: dict[str, Any],
        chain: list[str],
        function_urn: str,
        agency: str | None,
        attempts: int,
        started: float,
        message: str,
        permanent: bool,
    ) -> None:
        now = time.time()
        countdown = backoff(self.settings, attempts - 1)
        if not permanent and now + countdown < started + self.settings.delivery_deadline:
            self._mark(request_id, kind, outcome, "pending", attempts, message)
            log.warning(
                "delivery of %s:%s to %s failed (%s); retry in %.1fs",
                request_id,
                outcome,
                kind,
                message,
                countdown,
            )
            raise self.task.retry(
                countdown=countdown, kwargs={**self.task.request.kwargs, "first_at": started}
            )
        reason = message if permanent else f"delivery deadline passed; last error: {message}"
        identity = f"{request_id}:{outcome}"
        self.store.dead_letter(
            identity,
            json.dumps(
                {
                    "identity": identity,
                    "request_id": request_id,
                    "outcome": outcome,
                    "destination": destination,
                    "event": event,
                    "chain": chain,
                    "function_urn": function_urn,
                    "agency": agency,
                    "reason": reason,
                    "attempts": attempts,
                    "at": now,
                }
            ),
            now,
        )
        self._mark(request_id, kind, outcome, "dead-lettered", attempts, reason)
        log.error("event %s dead-lettered after %d attempts: %s", identity, attempts, reason)
