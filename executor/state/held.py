"""A connection each process keeps for the scripts a worker runs per message.

redis-py's client takes a connection from its pool, checks its health and gives it back around
every command; for the two scripts of every message (claim and finish) that bookkeeping costs
about as much client CPU as the call itself. Here one connection is kept per process and the
script is sent and read directly. Any error, the first one included, drops the connection and
runs the script through the normal client instead, with its reconnects and retries; a later
call opens a new one (for a client of one server; Sentinel and Cluster clients are used as
they are). One thread at a time uses it: a call made while another thread holds it
goes through the normal client too.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.connection import AbstractConnection
from redis.exceptions import NoScriptError

log = logging.getLogger("executor.state")

Arg = str | int | float


class HeldScripts:
    """Runs scripts on a connection held by this process; see the module docstring."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._connection: AbstractConnection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        # Only a client of one server is held; Sentinel and Cluster clients route each call.
        pool = getattr(client, "connection_pool", None)
        self._plain = type(pool) is redis.ConnectionPool
        # A child forked while another thread held the lock starts with a free one.
        held = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_lock(held))

    def run(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        if self._plain and self._lock.acquire(blocking=False):
            try:
                connection = self._held()
                connection.send_command(  # type: ignore[no-untyped-call, unused-ignore]
                    "EVALSHA", script.sha, len(keys), *keys, *args
                )
                return connection.read_response()
            except NoScriptError:
                pass  # the normal client loads it
            except redis.ResponseError:
                raise
            except Exception as exc:
                log.debug("held connection dropped (%s); using the pooled client", exc)
                self._drop()
            finally:
                self._lock.release()
        return script(keys=list(keys), args=list(args))

    def _held(self) -> AbstractConnection:
        # A forked child must not share its parent's socket.
        if self._connection is None or self._pid != os.getpid():
            pool = self.client.connection_pool
            self._connection = pool.connection_class(**pool.connection_kwargs)
            self._pid = os.getpid()
        return self._connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._pid == os.getpid():
            try:
                connection.disconnect()  # type: ignore[no-untyped-call, unused-ignore]
            except Exception:  # closing a broken socket may fail; it is dropped either way
                log.debug("closing the held connection failed", exc_info=True)


def _reset_lock(held: weakref.ref[HeldScripts]) -> None:
    instance = held()
    if instance is not None:
        instance._lock = threading.Lock()
