"""Which exceptions of a handler spend a retry, and how long the next attempt waits.

``@app.function(..., retry_on=(...), no_retry_on=(...))`` builds a ``RetryPolicy``, one of the
policies of ``executor.core.policies``; a handler raises ``RetryAfter(seconds)`` to choose its
next wait. Either way the function's ``max_async_retry_attempts`` and the message's deadline
stay the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from executor.core.backoff import backoff
from executor.core.constants import CONDITION_NOT_RETRYABLE, MAX_DELAY
from executor.core.errors import InvalidParameter
from executor.core.policies import Step, Verdict
from executor.core.settings import Settings

Exceptions = tuple[type[BaseException], ...]


class RetryAfter(Exception):
    """Raised by a handler: try again in ``seconds`` (0 to 3600), spending one retry."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 <= seconds <= MAX_DELAY
        ):
            raise InvalidParameter(f"RetryAfter takes 0 to {MAX_DELAY} seconds, not {seconds!r}")
        self.seconds = float(seconds)
        self.reason = reason
        super().__init__(reason or f"retry requested in {self.seconds:g} s")

    def __reduce__(self) -> tuple[type[RetryAfter], tuple[float, str]]:
        return RetryAfter, (self.seconds, self.reason)


def exception_types(value: Iterable[type[BaseException]] | None, name: str) -> Exceptions:
    """The exception classes given as ``retry_on`` or ``no_retry_on``."""
    if value is None:
        return ()
    found: tuple[object, ...] = (value,) if isinstance(value, type) else tuple(value)
    for item in found:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise InvalidParameter(f"{name} takes exception classes, not {item!r}")
    return cast("Exceptions", found)


@dataclass(frozen=True)
class RetryPolicy:
    """``no_retry_on`` ends at once; with ``retry_on``, only those retry; else all retry.

    ``RetryAfter`` always asks for a retry: it is the handler's own decision.
    """

    retry_on: Exceptions = ()
    no_retry_on: Exceptions = ()

    def judge(self, step: Step) -> Verdict | None:
        """``NotRetryable`` for an error this function does not retry."""
        if step.error is None or self.retries(step.error):
            return None
        return Verdict(CONDITION_NOT_RETRYABLE, self.describe(step.error))

    def retries(self, exc: BaseException) -> bool:
        if isinstance(exc, RetryAfter):
            return True
        if self.no_retry_on and isinstance(exc, self.no_retry_on):
            return False
        return not self.retry_on or isinstance(exc, self.retry_on)

    def describe(self, exc: BaseException) -> str:
        """Why ``exc`` is not retried, for the invocation's history."""
        if self.no_retry_on and isinstance(exc, self.no_retry_on):
            return f"{type(exc).__name__} is in no_retry_on: not retried"
        names = ", ".join(t.__name__ for t in self.retry_on)
        return f"{type(exc).__name__} is not in retry_on ({names}): not retried"


def wait_before_retry(settings: Settings, exc: BaseException, retry: int) -> tuple[float, float]:
    """Seconds before the next attempt, and what was asked: a ``RetryAfter``'s own wait (kept
    below half the visibility timeout, as every countdown must be), else the backoff."""
    if isinstance(exc, RetryAfter):
        return min(exc.seconds, settings.visibility_timeout / 2 - 1), exc.seconds
    wait = backoff(settings, retry)
    return wait, wait
