"""Where the state store keeps things: every Redis key this project writes.

All keys start with ``ae:``; a record's history and delivery states sit beside it, so one
EXPIRE per key ends a finished invocation's footprint after the retention.
"""

from __future__ import annotations

from executor.core.constants import KEY_PREFIX

P = KEY_PREFIX
DEADLINES = P + "deadlines"
OUTBOX = P + "outbox"
STATS = P + "stats"
CATALOGUE = P + "catalogue"
CONFIGS = P + "cfgs"
DLQ = P + "dlq"
DLQ_INDEX = P + "dlq:idx"
# Delayed invocations by the time they are due: the reconciler publishes them then.
DUE = P + "due"


def record_key(request_id: str) -> str:
    return f"{P}inv:{request_id}"


def history_key(request_id: str) -> str:
    return f"{P}inv:{request_id}:h"


def deliveries_key(request_id: str) -> str:
    return f"{P}inv:{request_id}:d"


def children_key(request_id: str) -> str:
    """The request ids of the invocations this one started (destinations, context calls)."""
    return f"{P}inv:{request_id}:c"


def index_key(urn: str) -> str:
    return f"{P}idx:{urn}"


def active_key(urn: str) -> str:
    return f"{P}active:{urn}"


def config_key(urn: str) -> str:
    return f"{P}cfg:{urn}"


def lock_key(name: str) -> str:
    return f"{P}lock:{name}"


def marker_key(name: str) -> str:
    """A marker a destination keeps (``dis:<stream>:<identity>``, ...)."""
    return f"{P}{name}"
