"""Republishing invocations whose message is gone.

Redis hands a message to a worker with BRPOP and records it as unacknowledged with a second
command. A Redis that stops between the two (a restart, a failover) has removed the message
from the queue, while the worker never received it: the invocation stays WAIT with no message
anywhere, until it ages out. A run can also end without its outcome: the state store was
unreachable when the handler returned, or the pool lost track of the job across a broker
reconnect, and the message was acknowledged anyway. That invocation stays RUNNING with a
runner that no longer renews its lease. The state store still holds everything needed to
publish either again; a RUNNING one is claimed as a lost run, which ``EXECUTOR_MAX_WORKER_LOST``
bounds.

A message can only be in a queue or in the broker's unacknowledged set (prefetched, running or
waiting for a retry countdown). So when a function's queue is empty and nothing is
unacknowledged, an invocation of it that has waited longer than ``EXECUTOR_ORPHAN_GRACE``
(or whose runner has been gone that long) has no message, and gets one. Under a steady
backlog the check waits until the queue drains; the message age limit stays the last safety
net.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from executor.core.catalogue import CatalogueEntry
from executor.core.invocation import Status
from executor.core.record import InvocationRecord
from executor.core.settings import Settings
from executor.runtime.admission import Admission
from executor.runtime.celery.broker_url import read_broker
from executor.runtime.celery.internals import unacknowledged
from executor.runtime.runner import runner_gone
from executor.state.store import Store

if TYPE_CHECKING:
    from executor.runtime.celery.types import Celery

log = logging.getLogger("executor.orphans")

# How many in-flight invocations of one function one pass looks at.
_SCAN = 1_000
# The counter of invocations republished; its name predates the word.
REPUBLISHED = "orphans_redriven"


class Orphans:
    """Finds the invocations whose message is in no queue and republishes them."""

    def __init__(
        self, celery: Celery, settings: Settings, store: Store, admission: Admission
    ) -> None:
        self.celery = celery
        self.settings = settings
        self.store = store
        self.admission = admission

    def republish(self, now: float | None = None) -> int:
        """Publish again every orphaned invocation; returns how many were."""
        if not self._redis_broker():
            return 0  # other brokers keep a delivered message until it is acknowledged
        if not self.store.scans.any_open():
            return 0  # nothing open, nothing lost: an idle fleet asks no more, whatever F
        now = time.time() if now is None else now
        by_queue: dict[str, list[CatalogueEntry]] = defaultdict(list)
        for raw in self.store.catalogue.entries().values():
            entry = CatalogueEntry.model_validate_json(raw)
            by_queue[entry.queue].append(entry)
        idle = self._idle_queues(set(by_queue))
        if not idle:
            return 0
        cutoff = now - self.settings.orphan_grace
        candidates = [
            record
            for queue in idle
            for entry in by_queue[queue]
            for record in self._stranded(entry.urn, cutoff)
        ]
        # Look again: a message taken from a queue is unacknowledged a moment later.
        if not candidates or self._idle_queues(idle) != idle:
            return 0
        republished = 0
        for record in candidates:
            now_found = self.store.records.record(record.request_id)
            if now_found is None or now_found.retry_index != record.retry_index:
                continue
            self._publish(record)
            republished += 1
        if republished:
            self.store.scans.incr(REPUBLISHED, republished)
        return republished

    def _redis_broker(self) -> bool:
        url = self.celery.conf.broker_url
        return isinstance(url, str) and read_broker(url).is_redis

    def _idle_queues(self, queues: set[str]) -> set[str]:
        """The queues holding no message, if no message is unacknowledged; else none."""
        idle: set[str] = set()
        # A pooled connection: a new one at every pass would connect (HELLO) every pass.
        with self.celery.pool.acquire(block=True) as connection:
            channel = connection.default_channel
            if unacknowledged(channel):
                return idle
            for queue in queues:
                if not int(channel.client.llen(queue)):
                    idle.add(queue)
        return idle

    def _stranded(self, urn: str, cutoff: float) -> list[InvocationRecord]:
        """Invocations of ``urn`` in WAIT since before ``cutoff``, or RUNNING with a runner
        gone since then."""
        found = []
        for rid in self.store.scans.waiting_since(urn, cutoff, _SCAN):
            record = self.store.records.record(rid)
            if record is None or record.status.terminal:
                continue
            if record.status is Status.RUNNING and not _runner_stopped(record, cutoff):
                continue
            if self.store.scans.last_change(rid) > cutoff:
                continue  # a retry was scheduled recently: its message may be on its way
            if (record.due_at or 0) > cutoff:
                continue  # delayed: not due yet, or published by a pass a moment ago
            if self.admission.gate.is_held(urn, rid):
                continue  # held back by its flow config: the flow gate queues it
            found.append(record)
        return found

    def _publish(self, record: InvocationRecord) -> None:
        why = (
            "its runner stopped before recording an outcome"
            if record.status is Status.RUNNING
            else "lost by the broker"
        )
        log.warning(
            "republishing %s %s: its message is in no queue (%s)",
            record.urn,
            record.request_id,
            why,
        )
        self.admission.republish(record)


def _runner_stopped(record: InvocationRecord, cutoff: float) -> bool:
    """The run's lease lapsed before ``cutoff``, or its process is known to be gone."""
    return record.lease < cutoff or runner_gone(record.runner)
