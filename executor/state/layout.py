"""Which key layout a state store was written with, checked before a process uses it.

A store marks its layout in ``LAYOUT_KEY`` when the first process meets it empty. A store
written before that mark existed (keys of the unsharded layout) or with another layout is
refused with ``StoreLayoutMismatch``: reading it would show part of it and lose the rest.
"""

from __future__ import annotations

from typing import cast

import redis

from executor.core.errors import StoreLayoutMismatch
from executor.state.keys import LAYOUT, LAYOUT_KEY, LEGACY_KEYS


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
    if found != LAYOUT:
        raise StoreLayoutMismatch(
            f"the state store was written with key layout {found}, this version uses {LAYOUT}; "
            "run the version that wrote it, or empty the store (FLUSHDB)"
        )
