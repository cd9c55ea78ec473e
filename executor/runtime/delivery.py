"""Every attempt to hand a result event to its destination, and the record of each.

Deliveries are at least once: a delivery retries with backoff until the delivery deadline,
then goes to the dead-letter store, as does a permanent refusal. Each event's identity
(request id and outcome) lets the destination overwrite instead of duplicating.

One chain of attempts per event: the chain's token is kept in the state store with the time
its next attempt is due. An attempt from any other chain stops before it tries; the reconciler
starts a new chain only when the live one's next attempt is overdue (its message was lost);
the deadline counts from the event's first attempt, whichever chain makes the later ones.

Every destination kind takes this one route. (A FunctionGraph target is started in the script
that ends its source when it can be, see ``Admission.hop``; then no delivery is queued.)
"""

from __future__ import annotations

import logging
import time
import uuid

import destinations
from destinations import Delivery, DeliveryError, DestinationRuntime
from executor.core.backoff import backoff
from executor.core.errors import ExecutorError
from executor.core.guard import ChainBroken
from executor.core.invocation import DeliveryState, DeliveryStatus
from executor.core.messages import DeadLetter, DeliveryJob
from executor.core.settings import Settings
from executor.runtime import tracing
from executor.runtime.ports import Publishing, RetryingTask
from executor.state.dead_letters import DeadLetterStore
from executor.state.deliveries import ChainMode, DeliveryLedger

log = logging.getLogger("executor.delivery")


class Deliveries:
    """Every delivery attempt of result events, over the delivery port of the state store."""

    def __init__(
        self,
        settings: Settings,
        ledger: DeliveryLedger,
        dead_letters: DeadLetterStore,
        publisher: Publishing,
        runtime: DestinationRuntime,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.publisher = publisher
        self.runtime = runtime

    def start(self, job: DeliveryJob) -> None:
        """Queue the first attempt, as a new chain.

        The event is recorded pending before this runs, so a crash here leaves it to the
        reconciler, which sends it again.
        """
        self.publisher.delivery(self._chain(job, "reset"))

    def resend(self, job: DeliveryJob) -> bool:
        """Queue the event again, as a new chain, unless a live chain will attempt it."""
        previous = self.ledger.state(job.request_id, job.outcome)
        if previous is not None and previous.state.final:
            return False
        token = uuid.uuid4().hex
        now = time.time()
        started, first_at = self.ledger.chain(
            job.identity, "resend", token, now, now + self._patience(), self._retention
        )
        if not started:
            return False
        self.publisher.delivery(job.model_copy(update={"token": token, "first_at": first_at}))
        return True

    def _chain(self, job: DeliveryJob, mode: ChainMode, countdown: float = 0.0) -> DeliveryJob:
        """``job`` with its chain's token and first attempt time: a new chain (``reset``), or
        its own chain renewed until its next attempt is due (``attempt``)."""
        token = uuid.uuid4().hex if mode == "reset" else job.token
        now = time.time()
        _, first_at = self.ledger.chain(
            job.identity, mode, token, now, now + countdown + self._patience(), self._retention
        )
        return job.model_copy(update={"token": token, "first_at": first_at})

    def _patience(self) -> float:
        """How long a queued attempt may take to start and end before its chain counts as
        lost: one task time limit."""
        return self.settings.time_limit

    @property
    def _retention(self) -> int:
        return max(self.settings.status_retention, int(self.settings.delivery_deadline) + 60)

    def attempt(self, job: DeliveryJob, attempt: int) -> None:
        """One attempt, in a span of its own; raises what the destination raises."""
        with tracing.delivering(job, attempt) as traceparent:
            destinations.get(job.kind).deliver(
                Delivery(
                    identity=job.identity,
                    request_id=job.request_id,
                    outcome=job.outcome,
                    function_urn=job.function_urn,
                    event=job.event,
                    param=job.destination.decoded(),
                    chain=job.chain,
                    agency=job.agency,
                    attempt=attempt,
                    traceparent=traceparent,
                ),
                self.runtime,
            )

    def run(self, job: DeliveryJob, task: RetryingTask) -> None:
        """The delivery task's body: one attempt, then its record, a retry or a dead letter."""
        previous = self.ledger.state(job.request_id, job.outcome)
        if previous is not None and previous.state.final:
            log.info("%s event of %s already %s", job.outcome, job.request_id, previous.state)
            return
        now = time.time()
        alive, first_at = self.ledger.chain(
            job.identity,
            "attempt",
            job.token,
            now,
            now + self._patience(),
            self._retention,
            first_at=job.first_at,
        )
        if not alive:
            log.info("%s: a newer delivery chain holds this event; this one stops", job.identity)
            return
        job = job.model_copy(update={"first_at": first_at})
        attempts = (previous.attempts if previous else 0) + 1
        try:
            self.attempt(job, attempts)
        except ChainBroken as exc:
            self._record(job, DeliveryStatus.DROPPED, attempts, exc.message)
            return
        except (DeliveryError, ExecutorError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            permanent = (
                getattr(exc, "permanent", False)
                or (isinstance(exc, ExecutorError) and exc.http_status < 500)
                or isinstance(exc, ValueError)
            )
            self._failed(job, task, attempts, message, permanent)
            return
        self._record(job, DeliveryStatus.DELIVERED, attempts, "")

    def resend_dead_letter(self, letter: DeadLetter) -> None:
        """Queue a dead-lettered event again, as a new chain with a fresh delivery deadline."""
        self._record(
            letter,
            DeliveryStatus.PENDING,
            letter.attempts,
            f"sent again from the dead-letter store; was: {letter.reason}",
        )
        self.publisher.delivery(
            self._chain(DeliveryJob.model_validate(letter.model_dump()), "reset")
        )

    def _failed(
        self, job: DeliveryJob, task: RetryingTask, attempts: int, message: str, permanent: bool
    ) -> None:
        now = time.time()
        countdown = backoff(self.settings, attempts - 1)
        if not permanent and now + countdown < job.first_at + self.settings.delivery_deadline:
            self._record(job, DeliveryStatus.PENDING, attempts, message)
            self._chain(job, "attempt", countdown)
            log.warning(
                "delivery of %s to %s failed (%s); retry in %.1fs",
                job.identity,
                job.kind,
                message,
                countdown,
            )
            raise task.retry(countdown=countdown, kwargs=job.kwargs())
        reason = message if permanent else f"delivery deadline passed; last error: {message}"
        letter = DeadLetter.model_validate(
            job.model_dump() | {"reason": reason, "attempts": attempts, "at": now}
        )
        self.dead_letters.add(job.identity, letter.model_dump_json(), now)
        self._record(job, DeliveryStatus.DEAD_LETTERED, attempts, reason)
        log.error("event %s dead-lettered after %d attempts: %s", job.identity, attempts, reason)

    def _record(self, job: DeliveryJob, state: DeliveryStatus, attempts: int, error: str) -> None:
        self.ledger.put(
            job.request_id,
            DeliveryState(
                destination=job.kind,
                outcome=job.outcome,
                state=state,
                attempts=attempts,
                error=error,
                updated_at=time.time(),
            ),
            self.settings.status_retention,
        )
