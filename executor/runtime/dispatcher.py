"""The flow pass: the one process of the fleet holding its lease looks at the flow-controlled
functions that are due in the time-ordered index (a held invocation's start, a rate limit's
next token, a slot's lease end) and lets the flow gate decide for each.

Every worker runs the loop; the holder of the lease passes every ``EXECUTOR_FLOW_INTERVAL``
seconds (one command while nothing is due) and renews the lease every second; the others
only ask for the lease every second (one script), so a fleet's idle cost does not grow with
its functions or, beyond that one call, with its workers. Slots freed by a run's end are
taken at that end, not here.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from executor.core.settings import Settings
from executor.runtime.admission import Admission
from executor.state.functions import Functions
from executor.state.store import Store

log = logging.getLogger("executor.dispatcher")

# Functions one pass looks at, at most; more wait for the next pass.
_DUE = 500
# Seconds between two asks for the lease by a worker that does not hold it, and between two
# renewals by the one that holds it.
_STANDBY = 1.0


class Dispatcher:
    """The flow pass of one worker; see the module docstring."""

    def __init__(
        self, settings: Settings, store: Store, functions: Functions, admission: Admission
    ) -> None:
        self.settings = settings
        self.store = store
        self.functions = functions
        self.gate = admission.gate
        self.token = uuid.uuid4().hex
        self.holding = False
        self._renewed = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease(self) -> float:
        """How long the lease lasts without a pass: a holder that died is replaced by then."""
        return max(3.0 * _STANDBY, 5 * self.settings.flow_interval)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="executor-dispatcher", daemon=True
            )
            self._thread.start()

    def stop(self, wait: float = 0) -> None:
        self._stop.set()
        if self._thread is not None and wait:
            self._thread.join(wait)

    def _loop(self) -> None:
        pause = self.settings.flow_interval
        while not self._stop.wait(pause):
            try:
                self.run_once()
            except Exception:
                log.exception("flow-control pass failed; the next one tries again")
            pause = self.settings.flow_interval if self.holding else _STANDBY

    def run_once(self, now: float | None = None) -> int:
        """One pass over the functions due, if this worker holds the lease; returns how many
        invocations were let through."""
        now = time.time() if now is None else now
        if self.holding and time.monotonic() - self._renewed < _STANDBY:
            due = self.store.flows.due_now(now, _DUE)
        else:
            found = self.store.flows.due(self.token, self.lease, now, _DUE)
            if found is None:
                self.holding = False
                return 0
            due, self._renewed = found, time.monotonic()
        if not self.holding:
            self.holding = True
            # Functions held back before the index knew them (or while it was lost) are
            # looked at once by each new holder.
            self.store.flows.wake(dict.fromkeys(self.functions.controlled(), now))
        if not due:
            return 0
        controlled = self.functions.controlled()
        started = 0
        for urn, seen in due:
            flow = controlled.get(urn) or self.store.flows.effective(urn, None)
            started += self.gate.look(urn, seen, flow, now)
        return started

    def reap(self, urn: str, now: float) -> None:
        """Free, queue again or extend every slot of ``urn`` whose lease ended."""
        self.gate.reap(urn, now)
