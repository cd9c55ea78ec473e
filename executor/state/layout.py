"""Which key layout a state store was written with, checked before a process uses it.

A store marks its layout in ``LAYOUT_KEY`` when the first process meets it empty. A store
written before that mark existed (keys of the unsharded layout) or with another layout is
refused with ``StoreLayoutMismatch``: reading it would show part of it and lose the rest. A
store of the layout just before this one is brought up to it by ``migrate``
(``executor store migrate``), with the workers stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import redis

from executor.core.constants import KEY_PREFIX
from executor.core.errors import StoreLayoutMismatch
from executor.core.invocation import Status
from executor.state.keys import (
    LAYOUT,
    LAYOUT_KEY,
    LEGACY_KEYS,
    PREVIOUS_LAYOUT,
    RETIRE,
    chain_key,
    record_key,
    shard_of,
    sharded,
    status_key,
)


def check_layout(client: redis.Redis) -> None:
    """Mark an empty store with this layout; refuse a store written with another."""
    found = cast("str | None", client.get(LAYOUT_KEY))
    if found is None:
        legacy = [key for key in LEGACY_KEYS if client.exists(key)]
        if legacy:
            raise StoreLayoutMismatch(
                f"the state store holds keys of the previous, unsharded layout ({legacy[0]}, ...);"
                " this version reads only the sharded one. Let the old version drain it (no "
                "invocation in WAIT or RUNNING), then empty it (FLUSHDB) or point "
                "EXECUTOR_REDIS_URL at a new database"
            )
        if client.set(LAYOUT_KEY, LAYOUT, nx=True):
            return
        found = cast("str | None", client.get(LAYOUT_KEY))
    if found == PREVIOUS_LAYOUT:
        raise StoreLayoutMismatch(
            f"the state store was written with key layout {found}, before the indexes by "
            f"status of layout {LAYOUT}: stop the workers, run 'executor store migrate' once, "
            "then start them again"
        )
    if found != LAYOUT:
        raise StoreLayoutMismatch(
            f"the state store was written with key layout {found}, this version uses {LAYOUT}; "
            "run the version that wrote it, or empty the store (FLUSHDB)"
        )


@dataclass(frozen=True)
class Migrated:
    """What ``migrate`` did: the records it indexed and the delivery chains it moved."""

    records: int
    chains: int


def migrate(client: redis.Redis, retention: int) -> Migrated:
    """Bring a store of the previous layout up to this one: index every record by its status,
    put every ended one in the retirements (its end plus ``retention``), and move the delivery
    chains into their invocation's slot. Safe to run again; refuses any other layout."""
    found = cast("str | None", client.get(LAYOUT_KEY))
    if found == LAYOUT:
        return Migrated(0, 0)
    if found != PREVIOUS_LAYOUT:
        raise StoreLayoutMismatch(
            f"the state store has key layout {found}; only {PREVIOUS_LAYOUT} can be migrated"
        )
    records = chains = 0
    for key in client.scan_iter(match=f"{KEY_PREFIX}{{*}}:inv:*", count=1000):
        name = str(key)
        if name.endswith((":h", ":d")):
            continue
        request_id = name.split(":inv:", 1)[1]
        urn, status, enqueued_at, ended_at = cast(
            "list[str | None]",
            client.hmget(record_key(request_id), "urn", "status", "enqueued_at", "ended_at"),
        )
        if not urn or not status or not enqueued_at:
            continue
        shard = shard_of(request_id)
        client.zadd(status_key(urn, status, shard), {request_id: float(enqueued_at)})
        if Status(status).terminal:
            retire_at = float(ended_at or enqueued_at) + retention
            client.zadd(sharded(RETIRE, shard), {request_id: retire_at})
        records += 1
    for key in client.scan_iter(match=f"{KEY_PREFIX}chain:*", count=1000):
        name = str(key)
        identity = name.removeprefix(f"{KEY_PREFIX}chain:")
        fields = cast("dict[str, str]", client.hgetall(name))
        ttl = int(client.ttl(name))
        if fields:
            target = chain_key(identity)
            client.hset(target, mapping=cast("Any", fields))
            if ttl > 0:
                client.expire(target, ttl)
        client.delete(name)
        chains += 1
    client.set(LAYOUT_KEY, LAYOUT)
    return Migrated(records, chains)
