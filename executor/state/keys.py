"""Where the state store keeps things: every Redis key this project writes.

All keys start with ``ae:`` and carry a Redis Cluster hash tag (the part in braces), so that
every key one transition script touches lies in one hash slot:

* an invocation belongs to one of ``SHARDS`` shards, chosen from its request id; its record,
  history and delivery states sit in the shard's slot together with the shard's part of the
  indexes the scripts update (deadlines, outbox, counters, per-function index and active set).
  Readers of those indexes (reconciler, metrics, listings) read every shard and merge;
* everything else (catalogue, configs, dead letters, locks, the layout mark) shares one
  global slot, so multi-key commands on them stay valid on a cluster.

The same layout serves a standalone server, a Sentinel master and a Cluster: one code path.
The shard tags are picked so their slots are spread evenly over the 16384 of a cluster,
whose masters own contiguous slot ranges.
"""

from __future__ import annotations

import re
import zlib
from typing import Final

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from executor.core.constants import KEY_PREFIX

P = KEY_PREFIX
SHARDS: Final = 16
# Written once into a store; a store written with another layout is refused, never half-read.
LAYOUT: Final = f"3:{SHARDS}"
# The layout before the indexes by status, which ``executor store migrate`` brings up to this one.
PREVIOUS_LAYOUT: Final = f"2:{SHARDS}"
# Keys the layout before the sharded one wrote; their presence means an old store.
LEGACY_KEYS: Final = (
    P + "stats",
    P + "deadlines",
    P + "outbox",
    P + "due",
    P + "catalogue",
    P + "cfgs",
)

# Names of the sharded structures (see ``sharded``).
DEADLINES: Final = "deadlines"
OUTBOX: Final = "outbox"
STATS: Final = "stats"
# Delayed invocations by the time they are due: the reconciler publishes them then.
DUE: Final = "due"
# Ended invocations by the time their retention ends: the reconciler retires them then.
RETIRE: Final = "retire"


def _pick_tags() -> tuple[str, ...]:
    span = REDIS_CLUSTER_HASH_SLOTS // SHARDS
    tags = []
    for shard in range(SHARDS):
        n = 0
        while key_slot(f"s{shard}.{n}".encode()) // span != shard:
            n += 1
        tags.append(f"s{shard}.{n}")
    return tuple(tags)


_TAGS: Final = _pick_tags()
_GLOBAL: Final = P + "{g}:"

CATALOGUE: Final = _GLOBAL + "catalogue"
CONFIGS: Final = _GLOBAL + "cfgs"
DLQ: Final = _GLOBAL + "dlq"
DLQ_INDEX: Final = _GLOBAL + "dlq:idx"
LAYOUT_KEY: Final = _GLOBAL + "layout"
# Flow configs by URN (a hash): the functions the dispatcher looks after.
FLOWS: Final = _GLOBAL + "flows"
# When each flow-controlled function must be looked at next (a sorted set of URNs by time): the
# one index the fleet's flow pass reads, and the lease of that pass.
FLOW_WAKE: Final = _GLOBAL + "flows:wake"
FLOW_WAKES: Final = _GLOBAL + "flows:wakes"
FLOW_PASS: Final = _GLOBAL + "lock:flow-pass"


# A redrive's id is its original's with ``.r<n>`` appended (see runtime.redrive).
_REDRIVE_SUFFIX: Final = re.compile(r"(\.r\d+)+\Z")


def shard_of(request_id: str) -> int:
    """The shard an invocation's keys live in (stable across processes and versions).

    A redrive (``<original>.r<n>``) lies in its original's shard, so accepting it can number
    it on the original's record in the same slot.
    """
    base = _REDRIVE_SUFFIX.sub("", request_id) or request_id
    return zlib.crc32(base.encode()) % SHARDS


def _shard(shard: int) -> str:
    return f"{P}{{{_TAGS[shard]}}}:"


def sharded(name: str, shard: int) -> str:
    """Shard ``shard``'s part of a global structure (``DEADLINES``, ``OUTBOX``, ``STATS``)."""
    return _shard(shard) + name


def sharded_for(name: str, request_id: str) -> str:
    """The part of a global structure that sits in ``request_id``'s slot."""
    return sharded(name, shard_of(request_id))


def record_key(request_id: str) -> str:
    return f"{_shard(shard_of(request_id))}inv:{request_id}"


def history_key(request_id: str) -> str:
    return record_key(request_id) + ":h"


def deliveries_key(request_id: str) -> str:
    return record_key(request_id) + ":d"


def children_key(origin: str, shard: int) -> str:
    """Shard ``shard``'s part of the request ids of the invocations ``origin`` started
    (destinations, context calls); a child is listed in its own shard."""
    return f"{_shard(shard)}children:{origin}"


def index_key(urn: str, shard: int) -> str:
    """Shard ``shard``'s part of every invocation of ``urn`` (scored by acceptance time)."""
    return f"{_shard(shard)}idx:{urn}"


def active_key(urn: str, shard: int) -> str:
    """Shard ``shard``'s part of the invocations of ``urn`` that have not ended."""
    return f"{_shard(shard)}active:{urn}"


def status_key(urn: str, status: str, shard: int) -> str:
    """Shard ``shard``'s part of the invocations of ``urn`` now in ``status`` (scored by
    acceptance time): every transition moves an invocation from one to the next."""
    return f"{_shard(shard)}st:{status}:{urn}"


def minute_key(minute: int, shard: int) -> str:
    """Shard ``shard``'s counters of one minute (outcomes and ages at start, by function)."""
    return f"{_shard(shard)}m:{minute}"


def span_key(span: int, shard: int) -> str:
    """Shard ``shard``'s counters of one ten-minute span, for views of a day."""
    return f"{_shard(shard)}t:{span}"


def config_key(urn: str) -> str:
    return f"{_GLOBAL}cfg:{urn}"


def lock_key(name: str) -> str:
    return f"{_GLOBAL}lock:{name}"


def marker_key(name: str) -> str:
    """A marker a destination keeps (``dis:<stream>:<identity>``, ...); single-key commands
    only, so it needs no hash tag."""
    return f"{P}{name}"


def chain_key(identity: str) -> str:
    """The delivery chain of one event (``<request_id>:<outcome>``), in its invocation's slot
    so that it leaves with the record."""
    request_id = identity.rpartition(":")[0] or identity
    return f"{_shard(shard_of(request_id))}chain:{identity}"


def flow_keys(urn: str) -> tuple[str, str, str]:
    """The held set, the slots and the state (tokens, throttle counts) of ``urn``'s flow
    control, in one slot of their own so one script takes from all three."""
    tag = f"{P}{{fl.{zlib.crc32(urn.encode()):08x}}}:"
    return f"{tag}held:{urn}", f"{tag}slots:{urn}", f"{tag}flow:{urn}"
