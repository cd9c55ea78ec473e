"""The periodic pass: publishes delayed invocations that are due, ends what aged out
unnoticed and re-sends events not yet queued.

Every worker runs the loop; a lease in Redis lets exactly one of them do each period's work.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from executor.core.invocation import Status
from executor.core.settings import Settings
from executor.runtime.lifecycle import Lifecycle
from executor.runtime.orphans import Orphans
from executor.runtime.schedule import DueInvocations
from executor.state.keys import DEADLINES, OUTBOX
from executor.state.store import Store

log = logging.getLogger("executor.reconciler")


class Reconciler:
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
                if self.store.try_lock("reconcile", self.token, interval * 0.9):
                    self.store.incr("reconcile_passes")
                    self.run_once()
            except Exception:
                log.exception("reconcile pass failed; the next one tries again")

    def run_once(self, now: float | None = None) -> dict[str, int]:
        """One pass; returns how many invocations it ended and events it re-sent."""
        now = time.time() if now is None else now
        settings = self.settings
        store, lifecycle = self.store, self.lifecycle
        done = {"due": 0, "expired": 0, "lost": 0, "republished": 0, "redriven": 0}
        done["due"] = DueInvocations(settings, store, lifecycle).release(now)
        for rid in store.due(DEADLINES, now - settings.reconcile_grace):
            record = store.raw(rid)
            if not record:
                store.forget_deadline(rid)
                continue
            status = Status(record["status"])
            if status is Status.WAIT:
                done["expired"] += lifecycle.expire(rid, note="aged out (reconciler)")
            elif status is Status.RUNNING:
                overdue = float(record["deadline"]) + settings.time_limit + settings.reconcile_grace
                if now > overdue:
                    done["lost"] += lifecycle.fail_platform(
                        rid,
                        "WorkerLostError: no worker finished this invocation within its time limit",
                        note="lost (reconciler)",
                    )
            else:
                store.forget_deadline(rid)
        for rid in store.due(OUTBOX, now - settings.outbox_grace):
            done["republished"] += lifecycle.resend_event(rid)
            store.touch_outbox(rid, now)
        done["redriven"] = self.orphans.redrive(now)
        store.trim_indexes(list(store.catalogue()), now - settings.status_retention)
        if any(done.values()):
            log.info("reconciled: %s", done)
        return done
