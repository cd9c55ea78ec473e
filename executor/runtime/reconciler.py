"""The periodic pass: publishes delayed invocations that are due, ends what aged out
unnoticed, sends again events whose delivery was never queued, republishes invocations whose
message the broker lost, and retires ended invocations whose retention is over.

Every worker runs the loop; a lease in Redis lets exactly one of them do each period's work.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from executor.core.invocation import Status
from executor.core.policies import AGE_LIMIT, Step
from executor.core.settings import Settings
from executor.runtime.lifecycle import Lifecycle
from executor.runtime.orphans import Orphans
from executor.runtime.schedule import DueInvocations
from executor.state.keys import DEADLINES, OUTBOX
from executor.state.store import Store

log = logging.getLogger("executor.reconciler")


class Reconciler:
    """The periodic pass of one worker, run by whichever worker holds the period's lease."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        lifecycle: Lifecycle,
        orphans: Orphans,
        each_period: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.lifecycle = lifecycle
        self.orphans = orphans
        self.each_period = each_period
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="executor-reconciler", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        interval = self.settings.reconcile_interval
        while not self._stop.wait(interval):
            try:
                self.each_period()
                if self.store.leases.try_lock("reconcile", self.token, interval * 0.9):
                    self.store.scans.incr("reconcile_passes")
                    self.run_once()
            except Exception:
                log.exception("reconcile pass failed; the next one tries again")

    def run_once(self, now: float | None = None) -> dict[str, int]:
        """One pass; returns how many invocations and events it handled, by what it did."""
        now = time.time() if now is None else now
        settings = self.settings
        scans, lifecycle = self.store.scans, self.lifecycle
        done = {"due": 0, "expired": 0, "lost": 0, "resent": 0, "republished": 0, "retired": 0}
        done["due"] = DueInvocations(settings, self.store.due, lifecycle.admission).release(now)
        for rid in scans.due(DEADLINES, now - settings.reconcile_grace):
            record = self.store.records.record(rid)
            if record is None or record.status.terminal:
                scans.forget_deadline(rid)
                continue
            if record.status is Status.WAIT:
                if AGE_LIMIT.judge(Step(deadline=record.deadline, at=now)):
                    done["expired"] += lifecycle.expire(rid, note="aged out (reconciler)")
            else:
                overdue = record.deadline + settings.time_limit + settings.reconcile_grace
                if now > overdue:
                    done["lost"] += lifecycle.fail_platform(
                        rid,
                        "WorkerLostError: no worker finished this invocation within its time limit",
                        note="lost (reconciler)",
                    )
        for rid in scans.due(OUTBOX, now - settings.outbox_grace):
            done["resent"] += lifecycle.resend_event(rid)
            self.store.deliveries.touch_outbox(rid, now)
        done["republished"] = self.orphans.republish(now)
        done["retired"] = self.store.retention.retire(now)
        if any(done.values()):
            log.info("reconciled: %s", done)
        return done
