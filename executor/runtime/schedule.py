"""Delayed invocations: published by the reconciler's pass once they are due.

A delayed invocation is recorded WAIT at once and waits in the state store's due-time index
(a sorted set scored by the due time), not as a countdown message in a worker's memory: so a
hundred thousand of them cost Redis memory, and a worker restart loses none. The pass that
holds the reconciler's lease takes what is due off the index and publishes it, so it runs no
earlier than its due time and at most about one reconcile period later.
"""

from __future__ import annotations

import logging
import time

from executor.core.settings import Settings
from executor.runtime.admission import Admission
from executor.state.schedule import DueIndex

log = logging.getLogger("executor.schedule")

# Invocations taken off the index per round trip.
_BATCH = 500


class DueInvocations:
    """Publishes the delayed invocations that are due, a batch at a time."""

    def __init__(self, settings: Settings, due: DueIndex, admission: Admission) -> None:
        self.settings = settings
        self.due = due
        self.admission = admission

    def release(self, now: float | None = None, budget: float | None = None) -> int:
        """Publish every delayed invocation due by ``now``; returns how many were.

        A pass stops after ``budget`` seconds (half a reconcile period) and leaves the rest
        to the next one, so a burst that falls due together does not hold up the other work.
        """
        now = time.time() if now is None else now
        budget = self.settings.reconcile_interval / 2 if budget is None else budget
        stop = time.monotonic() + budget
        released = 0
        while time.monotonic() < stop:
            due = self.due.take(now, _BATCH)
            for request_id in due:
                try:
                    released += self.admission.release_due(request_id)
                except Exception as exc:
                    log.warning(
                        "delayed invocation %s is due but was not published (%s); the next "
                        "pass tries again",
                        request_id,
                        exc,
                    )
            if len(due) < _BATCH:
                break
        return released
