"""A worker that stays up but takes nothing from queues that hold work is stopped, so that
its supervisor starts it again.

Celery's consumer on the Redis transport can come back from a lost broker connection without
consuming any more (celery#8091, #10205, #10302): it logs nothing, answers pings and looks
alive to its supervisor while its queues fill. A healthy worker with free room never leaves a
ready message waiting, so the watch judges from the outside of the consumer: every
``window / 6`` seconds it asks the broker how many messages wait in the queues this worker
consumes. When this worker has received no message for ``window`` seconds, runs and holds
none, and its queues held messages at every look during that time, it is stuck: it logs one
line and asks Celery for a warm shutdown with status 1 (which hands back what it had taken),
and ends the process with status 1 if that shutdown has not ended ``grace`` seconds later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from executor.runtime.celery.exits import end_process_after, stop_worker
from executor.runtime.celery.internals import worker_busy

if TYPE_CHECKING:
    from executor.runtime.celery.types import Celery

log = logging.getLogger("executor.worker")

# Queues a look asks about beyond those last seen holding messages.
_BATCH = 8


class Stall:
    """The verdict of the looks so far: whether this worker has sat idle beside a backlog, with
    no message received, for ``window`` seconds (counted from the first look that saw it)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.backlog_since: float | None = None

    def received(self) -> None:
        self.backlog_since = None

    def look(self, now: float, *, busy: bool, waiting: int | None) -> bool:
        """Record one look; True once the window has passed. ``waiting`` is None when the
        broker could not be asked: no judgement, and the window starts again."""
        if busy or not waiting:
            self.backlog_since = None
            return False
        if self.backlog_since is None:
            self.backlog_since = now
        return now - self.backlog_since >= self.window


class StallWatch:
    """The thread that looks at the broker for one worker; ``received`` is called by the
    worker's ``task_received`` signal."""

    def __init__(
        self,
        celery: Celery,
        queues: Callable[[], Iterable[str]],
        window: float,
        grace: float,
    ) -> None:
        self.celery = celery
        self.queues = queues
        self.grace = grace
        self.stall = Stall(window)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Queues seen holding messages, looked at first; the others a batch per look.
        self._held: dict[str, None] = {}
        self._next = 0

    def received(self) -> None:
        with self._lock:
            self.stall.received()

    def start(self) -> None:
        threading.Thread(target=self._run, name="executor-stall-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        interval = self.stall.window / 6
        with self.celery.connection_for_read() as connection:
            while not self._stop.wait(interval):
                waiting = self._waiting(connection)
                busy = worker_busy()
                with self._lock:
                    stuck = self.stall.look(time.monotonic(), busy=busy, waiting=waiting)
                if stuck and not self._stop.is_set():
                    self._end(waiting or 0)
                    return

    def looked_at(self) -> list[str]:
        """The queues one look asks about: those last seen holding messages, then the next
        batch of the others in turn, so a look costs the broker the same with a queue per
        function for a thousand functions as for ten (a backlog in any queue is found within
        a few looks, and then looked at every time)."""
        queues = list(dict.fromkeys(self.queues()))
        known = set(queues)
        held = [q for q in self._held if q in known]
        others = [q for q in queues if q not in self._held]
        if len(others) > _BATCH:
            start = self._next % len(others)
            self._next = start + _BATCH
            others = (others[start:] + others[:start])[:_BATCH]
        return held + others

    def _waiting(self, connection: Any) -> int | None:
        """Messages ready in this worker's queues, as the broker counts them; None if unknown."""
        total = 0
        try:
            for name in self.looked_at():
                try:
                    declared = connection.default_channel.queue_declare(queue=name, passive=True)
                except connection.channel_errors:
                    # No such queue (Redis: an empty one). RabbitMQ closes the channel on it, so
                    # the next look opens another; Redis keeps it (closing it would open a
                    # connection per empty queue at every look).
                    self._held.pop(name, None)
                    if connection.transport.driver_type != "redis":
                        connection.close()
                    continue
                if declared.message_count:
                    self._held[name] = None
                else:
                    self._held.pop(name, None)
                total += declared.message_count
        except (*connection.connection_errors, OSError) as exc:
            log.debug("stall watch: the broker was not asked (%s)", exc)
            connection.close()
            return None
        return total

    def _end(self, waiting: int) -> None:
        window = self.stall.window
        stop_worker(
            f"it received no message for {window:.0f} s while its queues held {waiting} "
            "(its broker consumer is stuck); a supervisor starts it again"
        )
        end_process_after(self.grace, "its shutdown after a stuck consumer")
