"""Every status change of an invocation after it started, to its one terminal transition.

``claim`` starts an attempt, ``retry`` goes back to WAIT between attempts, and ``settle`` (for
the task), ``expire`` and ``fail_platform`` end it (a cancel is ``cancellation``'s). Each is one
call of the state store's transition port, so an invocation ends once, and only the caller
whose end won hands the event to its destination: in the same script for a FunctionGraph
target when it can be fused, else through the delivery task. How it starts is ``admission``, a
part passed in.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from executor.core.config import AsyncConfig
from executor.core.constants import CONDITION_EVENT_AGE_EXCEEDED, CONDITION_RETRIES_EXHAUSTED
from executor.core.events import ResultEvent, build_event, outcome_of
from executor.core.invocation import ClaimState, Status
from executor.core.lambda_record import rendered
from executor.core.messages import DeliveryJob
from executor.core.params import FUNCTION_GRAPH
from executor.core.record import InvocationRecord
from executor.core.settings import Settings
from executor.runtime import tracing
from executor.runtime.admission import Admission
from executor.runtime.delivery import Deliveries
from executor.runtime.runner import Runner, runner_gone
from executor.state.functions import Functions
from executor.state.store import Store
from executor.state.transitions import Claim, Ended
from executor.state.writes import Finish

log = logging.getLogger("executor.lifecycle")


@dataclass(frozen=True)
class Ending:
    """How one invocation ends. ``event`` builds its result event, called only when a
    destination takes it (nothing else reads one); ``expiry`` ends it only while it waits."""

    request_id: str
    urn: str
    status: Status
    condition: str
    chain: tuple[str, ...]
    event: Callable[[], ResultEvent]
    error_code: str = ""
    error_message: str = ""
    note: str = ""
    traceparent: str = ""
    expiry: bool = False


class Lifecycle:
    """The owner of an invocation's statuses once it started; see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        functions: Functions,
        admission: Admission,
        deliveries: Deliveries,
    ) -> None:
        self.settings = settings
        self.store = store
        self.functions = functions
        self.admission = admission
        self.deliveries = deliveries
        self.runner = Runner(store.leases, settings.runner_lease)

    # -- attempts -------------------------------------------------------------------------------

    def claim(self, request_id: str, urn: str, retry: int) -> Claim:
        """Start an attempt of the message with retry index ``retry`` of ``urn``'s invocation,
        or say why not.

        The claim is held by this process (see ``runtime.runner``): a copy of the message that
        arrives while it runs is BUSY, and only a claim whose runner is gone counts as a crash.
        """
        now = time.time()
        runner, until = self.runner.identity, self.runner.lease_until(now)
        limit = self.settings.max_worker_lost
        port = self.store.transitions
        claim = port.claim(request_id, urn, retry, now, limit, runner=runner, lease_until=until)
        if claim.state is ClaimState.MISSING:
            # Its message was sent after its record was written, so a record missing is more
            # likely a connection to a server that lost its role than an invocation gone: one
            # kept open to a master demoted by a Sentinel failover still answers reads, with
            # its stale data. Asked again on new connections, before its message is dropped.
            self.store.reconnect()
            claim = port.claim(request_id, urn, retry, now, limit, runner=runner, lease_until=until)
            if claim.state is not ClaimState.MISSING:
                log.warning("%s found on a new connection to the state store", request_id)
        if claim.state is ClaimState.BUSY and runner_gone(claim.runner):
            gone = claim.runner
            claim = port.claim(
                request_id, urn, retry, now, limit, runner=runner, lease_until=until, gone=gone
            )
        return claim

    def retry(self, request_id: str, urn: str, error: str, note: str) -> bool:
        """Back to WAIT between attempts; False if the invocation ended meanwhile."""
        return self.store.transitions.retry(request_id, urn, time.time(), error, note)

    # -- ends -----------------------------------------------------------------------------------

    def settle(
        self, ending: Ending, config: AsyncConfig | None = None, agency: str | None = None
    ) -> bool:
        """End the invocation; the caller that wins hands the event to its destination.

        ``config`` and ``agency`` are the function's, read when not given. The span current
        here (the attempt's, in a task) is what the delivery links to.
        """
        if config is None:
            config, agency = self.functions.config_and_agency(self.functions.resolve(ending.urn))
        outcome = outcome_of(ending.condition)
        destination = config.destination_for(outcome)
        end = Finish(
            request_id=ending.request_id,
            urn=ending.urn,
            status=ending.status,
            now=time.time(),
            retention=self.settings.status_retention,
            condition=ending.condition,
            error_code=ending.error_code,
            error_message=ending.error_message,
            note=ending.note,
        )
        port = self.store.transitions
        finish = port.expire if ending.expiry else port.finish
        if destination is None:
            return finish(end) is not Ended.LOST
        event = ending.event()
        event_json = rendered(event, config.record_format)
        end = replace(
            end,
            event=event_json,
            destination=destination.model_dump_json(),
            destination_kind=destination.destination,
            outcome=outcome,
        )
        hop = None
        if destination.destination == FUNCTION_GRAPH:
            hop = self.admission.hop(
                ending.request_id, ending.urn, ending.chain, event, event_json, destination
            )
        ended = finish(end, hop)
        if ended is Ended.WON:
            self.deliveries.start(
                DeliveryJob(
                    request_id=ending.request_id,
                    outcome=outcome,
                    destination=destination,
                    event=json.loads(event_json),
                    chain=ending.chain,
                    function_urn=ending.urn,
                    agency=agency,
                    traceparent=ending.traceparent,
                    link=tracing.traceparent(),
                )
            )
        return ended is not Ended.LOST

    def expire(self, request_id: str, note: str) -> bool:
        """End a message that aged out before it could (re)run: DISCARD, EventAgeExceeded.

        Only a waiting invocation ages out: a copy of its message that expires while it runs
        must not end the run (a lost run is ended by the reconciler's time limit).
        """
        record = self.store.records.record(request_id)
        if record is None or record.status is not Status.WAIT:
            return False
        queued = "being due" if record.due_at is not None else "being queued"
        message = f"the message aged out: not run within {record.max_age:.0f} s of {queued}"
        won = self._end(
            record,
            Status.DISCARD,
            CONDITION_EVENT_AGE_EXCEEDED,
            error=record.error_message,
            message=message,
            note=note,
        )
        if won:
            self.admission.gate.ended(record.urn, request_id)
            log.warning("%s %s: %s", record.urn, request_id, message)
        return won

    def refuse_waiting(self, request_id: str, condition: str, message: str) -> bool:
        """End a waiting invocation that will not run, unretried, as FAIL with ``condition``:
        its event goes to the on-failure destination (Lambda's reserved concurrency 0)."""
        record = self.store.records.record(request_id)
        if record is None or record.status is not Status.WAIT:
            return False
        won = self._end(
            record,
            Status.FAIL,
            condition,
            error="",
            message=message,
            note=condition,
            error_code=condition,
        )
        if won:
            self.store.flows.forget(record.urn, request_id)
            log.warning("%s %s: %s", record.urn, request_id, message)
        return won

    def fail_platform(self, request_id: str, error: str, note: str) -> bool:
        """End an invocation the platform could not run (worker lost, hard time limit)."""
        record = self.store.records.record(request_id)
        if record is None or record.status.terminal:
            return False
        won = self._end(
            record,
            Status.FAIL,
            CONDITION_RETRIES_EXHAUSTED,
            error=error,
            message=error,
            note=note,
            status_code=500,
        )
        if won:
            log.error("%s %s failed on the platform: %s", record.urn, request_id, error)
        return won

    def resend_event(self, request_id: str) -> bool:
        """Hand on an event whose delivery was recorded pending but may never have been queued;
        nothing is sent while a delivery chain of the event is alive. True if it was sent."""
        record = self.store.records.record(request_id)
        event = record.event() if record is not None else None
        if record is None or event is None or record.destination is None:
            return False
        _, agency = self.functions.config_and_agency(self.functions.resolve(record.urn))
        job = DeliveryJob(
            request_id=request_id,
            outcome=record.outcome or "failure",
            destination=record.destination,
            event=event,
            chain=record.chain,
            function_urn=record.urn,
            agency=agency,
            traceparent=record.traceparent,
        )
        if not self.deliveries.resend(job):
            return False
        log.info("re-sent the %s event of %s", job.outcome, request_id)
        return True

    def _end(
        self,
        record: InvocationRecord,
        status: Status,
        condition: str,
        *,
        error: str,
        message: str,
        note: str,
        status_code: int = 200,
        error_code: str = "",
    ) -> bool:
        def event() -> ResultEvent:
            return build_event(
                request_id=record.request_id,
                function_urn=record.urn,
                enqueued_at=record.enqueued_at,
                condition=condition,
                invoke_count=record.attempts,
                request_payload=record.carried_payload(self.settings.payload_max_depth),
                status_code=status_code,
                function_error=error,
            )

        expiry = status is Status.DISCARD
        return self.settle(
            Ending(
                request_id=record.request_id,
                urn=record.urn,
                status=status,
                condition=condition,
                chain=record.chain,
                event=event,
                error_code=error_code or (condition if expiry else "FSS.0500"),
                error_message=message,
                note=note,
                traceparent=record.traceparent,
                expiry=expiry,
            )
        )
