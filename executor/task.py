"""The Celery task that runs one invocation of one function.

Retries are counted by the message (``request.retries``) and bounded here by the function's
``max_async_retry_attempts`` and by the message's deadline, never by Celery's per-task
``max_retries``, which is shared between threads.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import redis
from celery.exceptions import Reject

from executor.backoff import backoff
from executor.constants import (
    CONDITION_EVENT_AGE_EXCEEDED,
    CONDITION_RETRIES_EXHAUSTED,
    CONDITION_SUCCESS,
)
from executor.context import Context
from executor.events import build_event
from executor.invocation import Status
from executor.redaction import MaskedTask
from executor.registry import FunctionSpec

if TYPE_CHECKING:
    from executor.app import FunctionApp

log = logging.getLogger("executor.task")


class InvocationTask(MaskedTask):
    """Base of every function's task: at-least-once, retried only by our own rules."""

    max_retries = None
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    typing = False


def make_runner(app: FunctionApp, spec: FunctionSpec) -> Any:
    def run(
        task: InvocationTask,
        payload: Any = None,
        urn: str = "",
        chain: list[str] | None = None,
        enqueued_at: float = 0.0,
        deadline: float = 0.0,
        origin: str = "",
    ) -> None:
        Execution(
            app,
            spec,
            task,
            payload,
            urn or str(spec.urn),
            tuple(chain or ()),
            enqueued_at,
            deadline,
        ).run()

    # Celery compiles a signature from this name, so it must be an identifier ('-' is not).
    run.__name__ = spec.urn.name.replace("-", "_")
    run.__doc__ = spec.handler.__doc__
    return run


class Execution:
    """One message of one invocation, from claim to its outcome."""

    def __init__(
        self,
        app: FunctionApp,
        spec: FunctionSpec,
        task: InvocationTask,
        payload: Any,
        urn: str,
        chain: tuple[str, ...],
        enqueued_at: float,
        deadline: float,
    ) -> None:
        self.app = app
        self.spec = spec
        self.task = task
        self.payload = payload
        self.urn = urn
        self.chain = chain
        self.enqueued_at = enqueued_at
        self.deadline = deadline
        self.request_id: str = task.request.id
        self.retry: int = task.request.retries or 0

    def run(self) -> None:
        store, lifecycle = self.app.client.store, self.app.lifecycle
        now = time.time()
        try:
            if now >= self.deadline:
                lifecycle.expire(self.request_id, note="aged out before it started")
                return
            claim = store.claim(self.request_id, self.retry, now, self.app.settings.max_worker_lost)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning(
                "state store unreachable (%s); %s goes back to the queue", exc, self.request_id
            )
            time.sleep(1)
            raise Reject(str(exc), requeue=True) from exc
        if claim.state == "done":
            if claim.pending_event:
                lifecycle.republish(self.request_id)
            return
        if claim.state in ("stale", "missing"):
            log.info(
                "skipping %s message of %s (retry %d)", claim.state, self.request_id, self.retry
            )
            return
        if claim.state == "crashed":
            lifecycle.fail_platform(
                self.request_id,
                f"WorkerLostError: the worker running this invocation was lost "
                f"{self.app.settings.max_worker_lost} times",
                note="worker lost",
            )
            return
        self.execute(claim.attempts)

    def execute(self, attempt: int) -> None:
        config = self.config = self.app.client.configs.effective(
            self.spec.urn, self.spec.default_config
        )
        logger = logging.LoggerAdapter(
            logging.getLogger(f"executor.fn.{self.spec.urn.name}"),
            {"request_id": self.request_id, "function_urn": self.urn},
        )
        context = Context(
            client=self.app.client,
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
        except Exception as exc:
            self.failed(exc, attempt, config.max_async_retry_attempts)
            return
        limit = self.app.settings.payload_limit
        self.settle(
            Status.SUCCESS,
            CONDITION_SUCCESS,
            attempt,
            response=result if len(encoded.encode()) <= limit else "",
        )

    def failed(self, exc: BaseException, attempt: int, max_retries: int) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if self.retry < max_retries:
            countdown = backoff(self.app.settings, self.retry)
            now = time.time()
            if now + countdown >= self.deadline:
                self.settle(
                    Status.FAIL,
                    CONDITION_EVENT_AGE_EXCEEDED,
                    attempt,
                    error=error,
                    note=f"retry in {countdown:.2f}s would start after the deadline",
                )
                return
            note = f"retry {self.retry + 1} of {max_retries} in {countdown:.2f}s"
            if self.app.client.store.mark_retry(self.request_id, now, error, note):
                log.info("%s %s failed (%s); %s", self.urn, self.request_id, error, note)
                raise self.task.retry(countdown=countdown, exc=exc)
            return
        self.settle(Status.FAIL, CONDITION_RETRIES_EXHAUSTED, attempt, error=error)

    def settle(
        self,
        status: Status,
        condition: str,
        attempt: int,
        *,
        response: Any = "",
        error: str = "",
        note: str = "",
    ) -> None:
        event = build_event(
            request_id=self.request_id,
            function_urn=self.urn,
            enqueued_at=self.enqueued_at,
            condition=condition,
            invoke_count=attempt,
            request_payload=self.payload,
            function_error=error,
            response_payload=response,
        )
        self.app.lifecycle.settle(
            request_id=self.request_id,
            urn=self.urn,
            status=status,
            event=event,
            chain=self.chain,
            error_code=condition if status is not Status.SUCCESS else "",
            error_message=error,
            note=note,
            config=self.config,
            agency=self.spec.agency,
        )
