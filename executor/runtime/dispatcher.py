"""The dispatcher: lets held invocations of flow-controlled functions start as slots and
tokens allow, and frees the slots of runs that ended without releasing them.

Each worker runs the loop every ``EXECUTOR_FLOW_INTERVAL`` seconds; taking is one script per
function, so several dispatchers never let more through than the limits allow. A slot whose
lease ended is looked at against its record: one of an ended (or retired) invocation is freed;
one of a run whose runner stopped renewing its lease (a worker killed) keeps its slot and is
queued again, to run as a lost run (so a dead run counts against the limit until its
invocation runs again or ends, and never lets one more through); any other is extended.
"""

from __future__ import annotations

import logging
import threading
import time

from executor.core.flow import FlowConfig
from executor.core.invocation import Status
from executor.core.settings import Settings
from executor.runtime.admission import Admission
from executor.runtime.runner import runner_gone
from executor.state.functions import Functions
from executor.state.store import Store

log = logging.getLogger("executor.dispatcher")

# Invocations one function lets through per pass at most.
_BATCH = 200


class Dispatcher:
    """The flow-control pass of one worker; see the module docstring."""

    def __init__(
        self, settings: Settings, store: Store, functions: Functions, admission: Admission
    ) -> None:
        self.settings = settings
        self.store = store
        self.functions = functions
        self.admission = admission
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="executor-dispatcher", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.flow_interval):
            try:
                self.run_once()
            except Exception:
                log.exception("flow-control pass failed; the next one tries again")

    def run_once(self, now: float | None = None) -> int:
        """One pass over every flow-controlled function; returns how many were let through."""
        now = time.time() if now is None else now
        started = 0
        for urn, flow in self.functions.controlled().items():
            self.reap(urn, now)
            started += self.dispatch(urn, flow, now)
        return started

    def reap(self, urn: str, now: float) -> None:
        """Free, hold again or extend every slot of ``urn`` whose lease ended."""
        flows, lease = self.store.flows, self.settings.runner_lease
        extended: dict[str, float] = {}
        expired = flows.expired(urn, now)
        found = self.store.records.records(expired) if expired else {}
        for rid in expired:
            record = found.get(rid)
            if record is None or record.status.terminal:
                flows.release(urn, rid)
            elif record.status is Status.RUNNING and (
                record.lease < now or runner_gone(record.runner)
            ):
                log.warning("%s %s lost its runner; it runs again in its slot", urn, rid)
                self.admission.republish(record, taken=True)
                extended[rid] = now + lease
            elif record.status is Status.RUNNING:
                extended[rid] = record.lease + 1.0
            else:
                extended[rid] = now + lease
        flows.extend(urn, extended)

    def dispatch(self, urn: str, flow: FlowConfig, now: float) -> int:
        """Queue the messages of the held invocations of ``urn`` that may start now."""
        flows = self.store.flows
        taken = flows.take(urn, flow, now, self.settings.runner_lease, _BATCH)
        if not taken:
            return 0
        found = self.store.records.records(taken)
        ready = []
        for rid in taken:
            record = found.get(rid)
            if record is None or record.status.terminal:
                flows.release(urn, rid)
            else:
                ready.append(record)
        try:
            self.admission.publish_again(ready)
        except Exception as exc:
            log.warning("%d let through but not queued (%s); they wait again", len(ready), exc)
            for record in ready:
                flows.requeue(urn, record.request_id, now)
            return 0
        return len(ready)
