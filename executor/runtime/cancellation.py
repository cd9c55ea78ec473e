"""Cancel: end a waiting (or, with force, running) invocation as DISCARD, and with ``recursive``
every invocation it started, directly or further down, that has not ended.

Each level is cancelled before its children are read, so a cancelled invocation that never runs
cannot start one the walk misses. Each end is one call of the transition port; the records say
DISCARD before workers are asked to drop what they hold.
"""

from __future__ import annotations

import logging

from executor.core.errors import InvalidParameter
from executor.core.invocation import Invocation, Status
from executor.core.settings import Settings
from executor.runtime.flow_gate import FlowGate
from executor.runtime.ports import Revoking
from executor.state.store import Store

log = logging.getLogger("executor.client")


class Cancellations:
    """Cancellations of invocations, over the transition port, and their revoke broadcast."""

    def __init__(self, settings: Settings, store: Store, gate: FlowGate, control: Revoking) -> None:
        self.settings = settings
        self.store = store
        self.gate = gate
        self.control = control

    def cancel(self, invocation: Invocation, force: bool, recursive: bool) -> list[str]:
        """The request ids this call ended, the named one first; ``InvalidParameter`` when
        there is nothing to cancel."""
        request_id, status = invocation.request_id, invocation.status
        if not recursive:
            if status.terminal:
                raise InvalidParameter(
                    f"invocation {request_id} already ended with status {status.value}"
                )
            if status is Status.RUNNING and not force:
                raise InvalidParameter(
                    f"invocation {request_id} is running; cancel with force to stop it"
                )
        cancelled = self.walk(invocation, force, recursive)
        if recursive and not cancelled:
            raise InvalidParameter(
                f"nothing to cancel: invocation {request_id} is {status.value}"
                + ("" if force or status.terminal else " (force stops a running one)")
                + " and none of the invocations it started is waiting"
                + ("" if force else " (or running, with force)")
            )
        if cancelled:
            try:
                self.control.revoke(cancelled, terminate=force, signal="SIGKILL")
            except Exception as exc:  # the records already say DISCARD, which workers obey
                log.warning("revoke of %s was not broadcast: %s", ", ".join(cancelled), exc)
        return cancelled

    def walk(self, invocation: Invocation, force: bool, recursive: bool) -> list[str]:
        """End ``invocation`` as DISCARD, then (``recursive``) what it started, level by level."""
        retention = self.settings.status_retention
        port, records = self.store.transitions, self.store.records
        cancelled = []
        if port.cancel(
            invocation.request_id, invocation.function_urn, force=force, retention=retention
        ):
            cancelled.append(invocation.request_id)
            self.gate.ended(invocation.function_urn, invocation.request_id)
        if not recursive:
            return cancelled
        seen = {invocation.request_id}
        level = [invocation.request_id]
        while level:
            children = [c for c in records.children(level) if c not in seen]
            seen.update(children)
            for child in records.get_many(children):
                if not child.status.terminal and port.cancel(
                    child.request_id, child.function_urn, force=force, retention=retention
                ):
                    cancelled.append(child.request_id)
                    self.gate.ended(child.function_urn, child.request_id)
            level = children
        return cancelled
