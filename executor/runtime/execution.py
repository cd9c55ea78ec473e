"""One message of one invocation, from its claim to the report of how its task ends.

``Execution.run`` reads top to bottom: the age limit before anything starts, the claim (which
says whether this message may run at all), the handler, and then the end the policies decide
(success, a retry, or a failure with its condition). Every path returns a ``Report``; only
``outcome.report`` turns it into what Celery sees.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

from executor.core.config import DEFAULT_CONFIG
from executor.core.constants import CONDITION_SUCCESS
from executor.core.context import Context
from executor.core.events import ResultEvent, build_event
from executor.core.invocation import ClaimState, Status
from executor.core.messages import InvocationMessage
from executor.core.payload import result_size
from executor.core.policies import AGE_LIMIT, RetryBudget, Step, decide
from executor.core.registry import FunctionSpec
from executor.core.retry import wait_before_retry
from executor.runtime import tracing
from executor.runtime.lifecycle import Ending, Lifecycle
from executor.runtime.report import SKIP, SUCCESS, End, Report
from executor.state.connection import STORE_DOWN
from executor.state.transitions import Claim

log = logging.getLogger("executor.task")

_BUDGET = RetryBudget()
# Claims after which the invocation has ended or is gone: its slot, if any, is free.
_ENDED_CLAIMS = frozenset({ClaimState.DONE, ClaimState.MISSING, ClaimState.CRASHED})


class Execution:
    """One message of one invocation: ``run`` it to get how its task ends."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        spec: FunctionSpec,
        message: InvocationMessage,
        request_id: str,
        retry: int,
        *,
        stops: tuple[type[BaseException], ...] = (),
    ) -> None:
        """``request_id`` is the task's id; ``retry`` the retry index the message runs as;
        ``stops`` what stops a handler without failing it (the broker client's termination)."""
        self.lifecycle = lifecycle
        self.settings = lifecycle.settings
        self.spec = spec
        self.message = message
        self.request_id = request_id
        self.retry = retry
        self.stops = stops
        self.urn = message.urn or str(spec.urn)
        self.payload: Any = message.payload
        self.config = spec.default_config or DEFAULT_CONFIG
        self.gate = lifecycle.admission.gate
        # The flow config limits this function and this message's invocation holds a slot.
        self.slot = False

    def run(self) -> Report:
        try:
            if AGE_LIMIT.judge(Step(deadline=self.message.deadline, at=time.time())):
                if self.lifecycle.expire(self.request_id, note="aged out before it started"):
                    return Report(End.DISCARD, expired=True)
                return self.ended_elsewhere()
            if not self.admitted():
                return SKIP
            claim = self.lifecycle.claim(self.request_id, self.urn, self.retry)
        except STORE_DOWN as exc:
            log.warning(
                "state store unreachable (%s); %s goes back to the queue", exc, self.request_id
            )
            time.sleep(1)
            return Report(End.REQUEUE, error=exc)
        if claim.state is not ClaimState.RUN:
            report = self.not_run(claim)
            if claim.state in _ENDED_CLAIMS:
                self.release()
            return report
        if self.message.in_record:
            self.payload = json.loads(claim.payload_json)
        with self.lifecycle.runner.running(self.request_id):
            report = self.execute(claim.attempts)
        if report.end is End.RETRY and self.slot:
            # Its wait is spent in the held set, and its slot goes to the next one meanwhile.
            self.gate.retry(self.urn, self.request_id, time.time() + report.countdown)
            return SKIP
        self.release()
        return report

    def admitted(self) -> bool:
        """Whether the flow gate lets this message run now (in a slot, if its function is
        limited); one it holds back is done."""
        run, self.slot = self.gate.may_run(self.spec.local_entry, self.urn, self.request_id)
        return run

    def release(self) -> None:
        if self.slot:
            # A copy of its message held meanwhile goes too, and the next one takes the slot.
            self.gate.ended(self.urn, self.request_id)

    def not_run(self, claim: Claim) -> Report:
        """A message the claim did not let run: ended already, a duplicate, or lost too often."""
        if claim.state is ClaimState.DONE:
            if claim.pending_event:
                self.lifecycle.resend_event(self.request_id)
            return self.ended_elsewhere()
        if claim.state is ClaimState.BUSY:
            self.defer(claim.lease_until)
            return SKIP
        if claim.state is ClaimState.CRASHED:
            error = (
                f"WorkerLostError: the worker running this invocation was lost "
                f"{self.settings.max_worker_lost} times"
            )
            if self.lifecycle.fail_platform(self.request_id, error, note="worker lost"):
                return Report(End.FAIL, error=error)
            return self.ended_elsewhere()
        log.info("skipping %s message of %s (retry %d)", claim.state, self.request_id, self.retry)
        return SKIP

    def defer(self, lease_until: float) -> None:
        """A copy of a message whose invocation is running elsewhere: look again once the
        runner's lease would have lapsed; by then the run has ended, or its runner is gone."""
        countdown = max(1.0, lease_until - time.time() + 1.0)
        log.info(
            "%s is running elsewhere; this copy of its message waits %.0fs",
            self.request_id,
            countdown,
        )
        entry = self.lifecycle.functions.lookup(self.spec.urn)
        self.lifecycle.admission.defer(
            entry, self.request_id, self.message, retries=self.retry, countdown=countdown
        )

    def execute(self, attempt: int) -> Report:
        tracing.attempt(attempt)
        self.config = self.lifecycle.functions.configs.effective(
            self.spec.urn, self.spec.default_config
        )
        logger = logging.LoggerAdapter(
            logging.getLogger(f"executor.fn.{self.spec.urn.name}"),
            {"request_id": self.request_id, "function_urn": self.urn},
        )
        context = Context(
            invoke=self.lifecycle.admission.invoke,
            request_id=self.request_id,
            function_urn=self.urn,
            attempt=attempt,
            deadline=self.message.deadline,
            chain=self.message.chain,
            function=self.spec.urn.function,
            logger=logger,
        )
        try:
            result = self.spec.handler(self.payload, context)
            size = result_size(result)
        except self.stops:
            raise
        except BaseException as exc:
            # SystemExit, KeyboardInterrupt and the like from a handler are its failure, not
            # the pool process's: the invocation records why instead of losing its worker.
            return self.failed(exc, attempt)
        response = result if size <= self.settings.payload_limit else ""
        if self.settle(Status.SUCCESS, CONDITION_SUCCESS, attempt, response=response):
            return SUCCESS
        return self.ended_elsewhere()

    def failed(self, exc: BaseException, attempt: int) -> Report:
        """After a failed attempt: the end a policy decides, else a retry after a wait."""
        error = f"{type(exc).__name__}: {exc}"
        wait, asked = wait_before_retry(self.settings, exc, self.retry)
        # The handler's locals (its payload among them) go now; the traceback keeps the
        # code positions the worker's log shows.
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
        now = time.time()
        max_retries = self.config.max_async_retry_attempts
        step = Step(self.message.deadline, now + wait, wait, exc, self.retry, max_retries)
        verdict = decide(step, (self.spec.retry_policy, _BUDGET, AGE_LIMIT))
        if verdict is not None:
            ended = self.settle(
                Status.FAIL, verdict.condition, attempt, error=error, note=verdict.note
            )
            return Report(End.FAIL, error=exc) if ended else self.ended_elsewhere()
        if asked > wait:
            log.warning(
                "%s asked to retry in %.0f s; waiting %.0f s, below half of "
                "EXECUTOR_VISIBILITY_TIMEOUT",
                self.request_id,
                asked,
                wait,
            )
        note = f"retry {self.retry + 1} of {max_retries} in {wait:.2f}s"
        if not self.lifecycle.retry(self.request_id, self.urn, error, note):
            return self.ended_elsewhere()
        log.info("%s %s failed (%s); %s", self.urn, self.request_id, error, note)
        return Report(End.RETRY, error=exc, countdown=wait)

    def ended_elsewhere(self) -> Report:
        """The invocation ended by another hand (cancelled, aged out, a duplicate message):
        a DISCARD shows as revoked, anything else as nothing of this message's own."""
        if self.lifecycle.store.records.status(self.request_id) is Status.DISCARD:
            return Report(End.DISCARD)
        return SKIP

    def settle(
        self,
        status: Status,
        condition: str,
        attempt: int,
        *,
        response: Any = "",
        error: str = "",
        note: str = "",
    ) -> bool:
        def event() -> ResultEvent:
            return build_event(
                request_id=self.request_id,
                function_urn=self.urn,
                enqueued_at=self.message.enqueued_at,
                condition=condition,
                invoke_count=attempt,
                request_payload=self.payload,
                function_error=error,
                response_payload=response,
            )

        ending = Ending(
            request_id=self.request_id,
            urn=self.urn,
            status=status,
            condition=condition,
            chain=self.message.chain,
            event=event,
            error_code=condition if status is not Status.SUCCESS else "",
            error_message=error,
            note=note,
            traceparent=self.message.traceparent,
        )
        return self.lifecycle.settle(ending, self.config, self.spec.agency)
