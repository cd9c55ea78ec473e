"""The Celery task that runs one invocation of one function.

Retries are counted by the message (``request.retries``) and bounded here by the function's
``max_async_retry_attempts`` and by the message's deadline, never by Celery's per-task
``max_retries``, which is shared between threads.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, NoReturn

from celery.exceptions import Reject, Terminated

from executor.core.backoff import backoff
from executor.core.constants import (
    CONDITION_EVENT_AGE_EXCEEDED,
    CONDITION_NOT_RETRYABLE,
    CONDITION_RETRIES_EXHAUSTED,
    CONDITION_SUCCESS,
)
from executor.core.events import ResultEvent, build_event
from executor.core.invocation import ClaimState, Status
from executor.core.messages import InvocationMessage
from executor.runtime import outcome, tracing
from executor.runtime.client import Client
from executor.runtime.context import Context
from executor.runtime.redaction import MaskedTask
from executor.runtime.registry import FunctionSpec
from executor.runtime.retry import RetryAfter
from executor.state.connection import STORE_DOWN

log = logging.getLogger("executor.task")


class InvocationTask(MaskedTask):
    """Base of every function's task: at-least-once, retried only by our own rules."""

    max_retries = None
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    typing = False
    Request = "executor.runtime.intake:InvocationRequest"


def make_runner(client: Client, spec: FunctionSpec) -> Any:
    def run(task: InvocationTask, **kwargs: Any) -> None:
        message = InvocationMessage.model_validate(kwargs)
        with tracing.running(task, message):
            Execution(client, spec, task, message).run()

    # Celery compiles a signature from this name, so it must be an identifier ('-' is not).
    run.__name__ = spec.urn.name.replace("-", "_")
    run.__doc__ = spec.handler.__doc__
    return run


class Execution:
    """One message of one invocation, from claim to its outcome."""

    def __init__(
        self, client: Client, spec: FunctionSpec, task: InvocationTask, message: InvocationMessage
    ) -> None:
        self.client = client
        self.settings = client.settings
        self.lifecycle = client.lifecycle
        self.spec = spec
        self.task = task
        self.message = message
        self.payload = message.payload
        self.in_record = message.in_record
        self.urn = message.urn or str(spec.urn)
        self.chain = message.chain
        self.enqueued_at = message.enqueued_at
        self.deadline = message.deadline
        self.traceparent = message.traceparent
        self.request_id: str = task.request.id
        self.retry: int = task.request.retries or 0

    def run(self) -> None:
        lifecycle = self.lifecycle
        try:
            if time.time() >= self.deadline:
                if lifecycle.expire(self.request_id, note="aged out before it started"):
                    outcome.discard(self.task, expired=True)
                self.ended_elsewhere()
            claim = lifecycle.claim(self.request_id, self.retry)
        except STORE_DOWN as exc:
            log.warning(
                "state store unreachable (%s); %s goes back to the queue", exc, self.request_id
            )
            time.sleep(1)
            raise Reject(str(exc), requeue=True) from exc
        if claim.state is ClaimState.DONE:
            if claim.pending_event:
                lifecycle.resend_event(self.request_id)
            self.ended_elsewhere()
        if claim.state in (ClaimState.STALE, ClaimState.MISSING):
            log.info(
                "skipping %s message of %s (retry %d)", claim.state, self.request_id, self.retry
            )
            outcome.skip(self.task)
        if claim.state is ClaimState.BUSY:
            self.defer(claim.lease_until)
            outcome.skip(self.task)
        if claim.state is ClaimState.CRASHED:
            error = (
                f"WorkerLostError: the worker running this invocation was lost "
                f"{self.settings.max_worker_lost} times"
            )
            if lifecycle.fail_platform(self.request_id, error, note="worker lost"):
                outcome.fail(self.task, error)
            self.ended_elsewhere()
        if self.in_record:
            self.payload = json.loads(claim.payload_json)
        with lifecycle.runner.running(self.request_id):
            self.execute(claim.attempts)

    def defer(self, lease_until: float) -> None:
        """A copy of a message whose invocation is running elsewhere: look again once the
        runner's lease would have lapsed; by then the run has ended, or its runner is gone."""
        countdown = max(1.0, lease_until - time.time() + 1.0)
        log.info(
            "%s is running elsewhere; this copy of its message waits %.0fs",
            self.request_id,
            countdown,
        )
        entry = self.client.lookup(self.spec.urn)
        self.client.publisher.invocation(
            entry, self.request_id, self.message, retries=self.retry, countdown=countdown
        )

    def execute(self, attempt: int) -> None:
        tracing.attempt(attempt)
        config = self.config = self.client.configs.effective(
            self.spec.urn, self.spec.default_config
        )
        logger = logging.LoggerAdapter(
            logging.getLogger(f"executor.fn.{self.spec.urn.name}"),
            {"request_id": self.request_id, "function_urn": self.urn},
        )
        context = Context(
            invoke=self.client.invoke_async,
            request_id=self.request_id,
            function_urn=self.urn,
            attempt=attempt,
            deadline=self.deadline,
            chain=self.chain,
            function=self.spec.urn.function,
            logger=logger,
        )
        try:
            result = self.spec.handler(self.payload, context)
            encoded = json.dumps(result, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except Terminated:
            raise
        except BaseException as exc:
            # SystemExit, KeyboardInterrupt and the like from a handler are its failure, not
            # the pool process's: the invocation records why instead of losing its worker.
            self.failed(exc, attempt, config.max_async_retry_attempts)
            return
        limit = self.settings.payload_limit
        if not self.settle(
            Status.SUCCESS,
            CONDITION_SUCCESS,
            attempt,
            response=result if len(encoded.encode()) <= limit else "",
        ):
            self.ended_elsewhere()

    def failed(self, exc: BaseException, attempt: int, max_retries: int) -> None:
        error = f"{type(exc).__name__}: {exc}"
        policy = self.spec.retry_policy
        if not policy.retries(exc):
            if self.settle(
                Status.FAIL,
                CONDITION_NOT_RETRYABLE,
                attempt,
                error=error,
                note=policy.describe(exc),
            ):
                outcome.fail(self.task, exc)
            self.ended_elsewhere()
        if self.retry < max_retries:
            countdown = self.countdown(exc)
            now = time.time()
            if now + countdown >= self.deadline:
                if self.settle(
                    Status.FAIL,
                    CONDITION_EVENT_AGE_EXCEEDED,
                    attempt,
                    error=error,
                    note=f"retry in {countdown:.2f}s would start after the deadline",
                ):
                    outcome.fail(self.task, exc)
                self.ended_elsewhere()
            note = f"retry {self.retry + 1} of {max_retries} in {countdown:.2f}s"
            if self.lifecycle.retry(self.request_id, error, note):
                log.info("%s %s failed (%s); %s", self.urn, self.request_id, error, note)
                raise self.task.retry(countdown=countdown, exc=exc)
            self.ended_elsewhere()
        if self.settle(Status.FAIL, CONDITION_RETRIES_EXHAUSTED, attempt, error=error):
            outcome.fail(self.task, exc)
        self.ended_elsewhere()

    def ended_elsewhere(self) -> NoReturn:
        """The invocation ended by another hand (cancelled, aged out, a duplicate message):
        report a DISCARD as revoked, anything else as nothing of this message's own."""
        if self.lifecycle.store.status(self.request_id) is Status.DISCARD:
            outcome.discard(self.task, expired=False)
        outcome.skip(self.task)

    def countdown(self, exc: BaseException) -> float:
        """The wait before the next attempt: the handler's ``RetryAfter``, else the backoff.

        A requested wait stays below half the visibility timeout, as every countdown must.
        """
        settings = self.settings
        if isinstance(exc, RetryAfter):
            ceiling = settings.visibility_timeout / 2 - 1
            if exc.seconds > ceiling:
                log.warning(
                    "%s asked to retry in %.0f s; waiting %.0f s, below half of "
                    "EXECUTOR_VISIBILITY_TIMEOUT",
                    self.request_id,
                    exc.seconds,
                    ceiling,
                )
            return min(exc.seconds, ceiling)
        return backoff(settings, self.retry)

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
                enqueued_at=self.enqueued_at,
                condition=condition,
                invoke_count=attempt,
                request_payload=self.payload,
                function_error=error,
                response_payload=response,
            )

        return self.lifecycle.settle(
            request_id=self.request_id,
            urn=self.urn,
            status=status,
            event=event,
            condition=condition,
            chain=self.chain,
            error_code=condition if status is not Status.SUCCESS else "",
            error_message=error,
            note=note,
            config=self.config,
            agency=self.spec.agency,
            traceparent=self.traceparent,
        )
