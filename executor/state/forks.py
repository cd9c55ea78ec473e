"""What a prefork pool process lets go of when it starts: its parent's Redis connections.

A pool process is forked from the worker's main process, and a process forked after the main
one connected (a replacement for one that died, or one that reached its task limit) inherits a
copy of every socket the main one holds, its broker connection among them. Redis sees a
connection until the last copy closes: if the main process dies while such a pool process still
runs a task, the main one's ``BRPOP`` stays blocked on the server, and the next message pushed
to that queue is popped for a process that no longer exists, acknowledged by no one and lost
from the queue (it is in no queue and not unacknowledged). kombu means to let go of these
connections after a fork, but redis-py, seeing another process, only forgets its pools and
leaves the sockets open.

So each pool process closes, at its start, every Redis connection made by another process:
its own copy of the socket only (redis-py shuts a socket down only in the process that made
it). A connection the pool process needs again reconnects on its first command.
"""

from __future__ import annotations

import gc
import logging
import os

from redis.connection import AbstractConnection

log = logging.getLogger("executor.worker")


def release_inherited() -> int:
    """Close this process's copies of the Redis connections its parent made; returns how many
    connections were closed."""
    me = os.getpid()
    closed = 0
    for found in gc.get_objects():
        # Its MRO, not isinstance: the class is abstract, and an abstract class's check is
        # ten times slower over every object of the process.
        if AbstractConnection in type(found).__mro__ and found.pid != me:
            try:
                found.disconnect()
            except Exception as exc:  # a copy that cannot close is left as it was
                log.debug("an inherited Redis connection was not closed: %s", exc)
                continue
            closed += 1
    return closed
