"""The flow gate: every flow-control decision and every slot and token booking, in one place.

Admission asks it whether an accepted invocation is held back; the FunctionGraph hop whether
it may start its target in the same script; an execution whether its message may run (only
in a slot), and it tells the gate when the attempt ends or waits for a retry; the lifecycle
when an invocation is cancelled or ages out; the flow pass, when a function is due.

Driven by events: whatever frees a slot (a run that ends, a retry's wait, a cancel, an age
limit, a slot whose lease ended) takes the next held invocations in the same script, and
their messages are queued at once. What needs a clock (a held invocation's start time, a rate
limit's next token, a slot's lease end) waits in one time-ordered index of functions, which
one leased pass for the whole fleet reads (``Dispatcher``); a function with nothing held and
no slot is not in it, so an idle fleet costs nothing per function.

The gate knows nothing of the broker: the caller gives it ``publish``, which queues the
messages of invocations it let through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from executor.core.catalogue import CatalogueEntry
from executor.core.errors import ExecutorError
from executor.core.flow import FlowConfig
from executor.core.invocation import Status
from executor.core.record import InvocationRecord
from executor.core.settings import Settings
from executor.runtime.runner import runner_gone
from executor.state.connection import STORE_DOWN
from executor.state.functions import Functions
from executor.state.store import Store

log = logging.getLogger("executor.flow")

Publish = Callable[[Sequence[InvocationRecord]], None]
# Invocations one function lets through per step at most.
BATCH = 200


class FlowGate:
    """Flow control of one process over the state store; see the module docstring."""

    def __init__(self, settings: Settings, store: Store, functions: Functions) -> None:
        self.settings = settings
        self.store = store
        self.functions = functions
        self.flows = store.flows
        self._publish: Publish | None = None

    def bind(self, publish: Publish) -> None:
        """How the messages of invocations let through are queued."""
        self._publish = publish

    # -- decisions ------------------------------------------------------------------------------

    def limits(self, entry: CatalogueEntry) -> FlowConfig:
        return self.functions.flow_of(entry)

    def accept(self, entry: CatalogueEntry, request_id: str, now: float) -> bool:
        """Whether a newly accepted invocation is held back (it is, if its function is
        limited): its message is then queued once a slot and a token are free for it."""
        flow = self.limits(entry)
        if not flow.limited:
            return False
        self.flows.hold(entry.urn, request_id, now, flow)
        return True

    def fusable(self, entry: CatalogueEntry) -> bool:
        """Whether a FunctionGraph hop may queue its target in the script that ends its
        source: not when the target is limited (it is held through the usual way)."""
        return not self.limits(entry).limited

    def hold_again(self, record: InvocationRecord, taken: bool) -> bool:
        """Whether an invocation whose message is gone is held instead of published again:
        yes for a limited function, unless it holds a slot (or was ``taken`` into one)."""
        entry = self.functions.lookup(self.functions.resolve(record.urn))
        flow = self.limits(entry)
        if not flow.limited or taken or self.flows.holds_slot(record.urn, record.request_id):
            return False
        self.flows.hold(record.urn, record.request_id, time.time(), flow)
        return True

    def may_run(self, entry: CatalogueEntry, urn: str, request_id: str) -> tuple[bool, bool]:
        """Whether a message may run now, and whether it runs in a slot: a limited function
        runs only an invocation that holds one; any other is held back (its message is done),
        unless it ended already (its claim says so, and nothing runs)."""
        flow = self.limits(entry)
        if not flow.limited:
            return True, False
        if self.flows.holds_slot(urn, request_id):
            return True, True
        status = self.store.records.status(request_id)
        if status is None or status.terminal:
            return True, False
        if self.flows.hold(urn, request_id, time.time(), flow):
            log.info("%s is held back by the flow config of %s", request_id, urn)
        return False, False

    def is_held(self, urn: str, request_id: str) -> bool:
        return self.flows.is_held(urn, request_id)

    # -- events ---------------------------------------------------------------------------------

    def ended(self, urn: str, request_id: str) -> int:
        """An invocation ended (its run, a cancel, its age limit): its slot and any copy held
        meanwhile go, and the next held ones take the freed slot; how many were let through."""
        return self._free(urn, request_id, None)

    def retry(self, urn: str, request_id: str, at: float) -> int:
        """An attempt failed and waits for its retry in the held set until ``at``; the slot it
        frees is taken by the next held one now."""
        return self._free(urn, request_id, at)

    def _free(self, urn: str, request_id: str, hold_at: float | None) -> int:
        flow = self.flows.effective(urn, self._default(urn))
        try:
            taken, wake = self.flows.take_next(
                urn,
                flow,
                time.time(),
                self.settings.runner_lease,
                BATCH,
                free=request_id,
                hold_at=hold_at,
            )
        except STORE_DOWN as exc:  # the slot's lease runs out, and the flow pass frees it
            log.warning("slot of %s not released (%s)", request_id, exc)
            return 0
        # The index already looks at this function no later than its slots' lease ends (every
        # hold woke it, and the pass keeps the earliest); only a retry's own start may be
        # sooner.
        if hold_at is not None and wake is not None:
            self.flows.wake({urn: wake})
        return self.let_through(urn, taken, time.time())

    # -- the flow pass --------------------------------------------------------------------------

    def look(self, urn: str, seen: str, flow: FlowConfig, now: float) -> int:
        """The flow pass's look at a function that is due: its slots whose lease ended, then
        the held ones that may start; and when to look again."""
        self.reap(urn, now)
        taken, wake = self.flows.take_next(urn, flow, now, self.settings.runner_lease, BATCH)
        started = self.let_through(urn, taken, now)
        if len(taken) == BATCH:
            wake = now  # more may start: the next pass goes on
        self.flows.rewake(urn, seen, wake)
        return started

    def reap(self, urn: str, now: float) -> None:
        """Free, queue again or extend every slot of ``urn`` whose lease ended.

        One of an ended (or retired) invocation is freed. One of a run whose runner stopped
        renewing its lease (a worker killed) keeps its slot and is queued again as a lost run,
        so a dead run counts against the limit until it runs again or ends. One whose
        invocation still waits was queued a lease ago and not claimed: its message may sit in
        the prefetch buffer of a worker that died, so it is queued again and keeps its slot
        (the copy that runs first claims it; the other is skipped). A live run is extended.
        """
        flows, lease = self.flows, self.settings.runner_lease
        extended: dict[str, float] = {}
        expired = flows.expired(urn, now)
        found = self.store.records.records(expired) if expired else {}
        again: list[InvocationRecord] = []
        for rid in expired:
            record = found.get(rid)
            if record is None or record.status.terminal:
                flows.release(urn, rid)
            elif record.status is Status.RUNNING and (
                record.lease < now or runner_gone(record.runner)
            ):
                log.warning("%s %s lost its runner; it runs again in its slot", urn, rid)
                again.append(record)
                extended[rid] = now + lease
            elif record.status is Status.RUNNING:
                extended[rid] = record.lease + 1.0
            else:
                log.info("%s %s was not claimed within a lease; queued again", urn, rid)
                again.append(record)
                extended[rid] = now + lease
        flows.extend(urn, extended)
        if again:
            self._queue(again)

    def let_through(self, urn: str, taken: Sequence[str], now: float) -> int:
        """Queue the messages of invocations given a slot; one that ended meanwhile frees it."""
        if not taken:
            return 0
        found = self.store.records.records(list(taken))
        ready = []
        for rid in taken:
            record = found.get(rid)
            if record is None or record.status.terminal:
                self.flows.release(urn, rid)
                self.flows.wake({urn: now})  # its slot is free for the next pass
            else:
                ready.append(record)
        try:
            self._queue(ready)
        except Exception as exc:
            log.warning("%d let through but not queued (%s); they wait again", len(ready), exc)
            for record in ready:
                self.flows.requeue(urn, record.request_id, now)
            return 0
        return len(ready)

    def _queue(self, records: Sequence[InvocationRecord]) -> None:
        if records:
            if self._publish is None:
                raise RuntimeError("the flow gate has no way to queue messages (bind it)")
            self._publish(records)

    def _default(self, urn: str) -> FlowConfig | None:
        """The decorator's flow config of ``urn``, as this process knows it."""
        try:
            return self.functions.lookup(self.functions.resolve(urn)).flow
        except ExecutorError:  # a function this process does not know: the stored config only
            return None
