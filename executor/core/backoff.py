"""Exponential backoff with jitter, shared by invocation retries and delivery retries."""

from __future__ import annotations

import random

from executor.core.settings import Settings


def backoff(settings: Settings, retry: int) -> float:
    """Between half and all of ``base * 2**retry`` seconds, capped at the maximum.

    The jitter spreads retries of many invocations that failed together; the lower half is
    kept so a retry never fires almost at once.
    """
    ceiling = min(settings.retry_backoff_max, settings.retry_backoff_base * 2.0 ** min(retry, 32))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
