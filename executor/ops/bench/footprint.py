"""The bytes that messages waiting in the queue hold in Redis, counted key by key.

``used_memory`` moves with the allocator and the client buffers by more than a few dozen
messages weigh, so it cannot price one message. ``MEMORY USAGE key SAMPLES 0`` prices one key
exactly, every element of a list, hash or sorted set included. A batch of messages holds each
key it created, whole, and its share of each key it added elements to (the queue, the index
sets): the elements it added at that key's bytes per element. A share, not the key's growth,
because a shared key grows in steps: its hash table doubles at a power of two and holds the
old table beside the new one until it has moved every entry, so a batch that crosses a step
would pay for every message after it. A key that shrank or vanished adds nothing.

Redis keeps a small list, hash or sorted set compact (a listpack) and converts it to its big
encoding past a size threshold, where each element costs several times more. The keys every
message adds to are first brought past their thresholds, so the figure is what one more
message costs a store that already holds a few thousand: the same for 20 as for 2,000.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, cast

import redis

# Encodings Redis converts to a bigger one as a key grows past a threshold.
COMPACT: Final = frozenset({"listpack", "ziplist", "intset"})
# How each type of key counts its elements; a string has none.
_LENGTH: Final = {"list": "llen", "hash": "hlen", "set": "scard", "zset": "zcard", "stream": "xlen"}

# Sends that many messages.
Send = Callable[[int], object]


@dataclass(frozen=True)
class Held:
    """One key as it was: its bytes and its number of elements (none for a string)."""

    size: int
    elements: int


def snapshot(rdb: redis.Redis) -> dict[str, Held]:
    """Every key of the database, its bytes and its number of elements; ``rdb`` decodes
    responses (as ``RedisServer.client`` does)."""
    keys: list[str] = list(rdb.scan_iter(count=1000))
    pipe = rdb.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
        pipe.type(key)
    found = pipe.execute()
    sizes = cast("list[int | None]", found[0::2])
    types = cast("list[str]", found[1::2])
    pipe = rdb.pipeline(transaction=False)
    for key, kind in zip(keys, types, strict=True):
        if kind in _LENGTH:
            getattr(pipe, _LENGTH[kind])(key)
    lengths = iter(cast("list[int]", pipe.execute()))
    held: dict[str, Held] = {}
    for key, size, kind in zip(keys, sizes, types, strict=True):
        elements = next(lengths) if kind in _LENGTH else 0
        # A key that expired between the scan and its size holds nothing.
        if size is not None:
            held[key] = Held(size, elements)
    return held


def added_bytes(before: Mapping[str, Held], after: Mapping[str, Held]) -> float:
    """Bytes the messages sent between two snapshots hold: each key they created, whole; each
    element they added to a key, at that key's bytes per element; any other growth as it is."""
    total = 0.0
    for name, key in after.items():
        old = before.get(name)
        if old is None:
            total += key.size
        elif key.elements > old.elements:
            total += (key.elements - old.elements) * key.size / key.elements
        else:
            total += max(0, key.size - old.size)
    return total


def settle(rdb: redis.Redis, send: Send, batch: int = 500, limit: int = 40) -> int:
    """Send batches until every key that a batch added elements to has left its compact
    encoding; the number of messages sent. A key each message creates gets no elements from
    the next batch, so only the keys all messages share (queues, indexes) decide."""
    before = snapshot(rdb)
    compact: list[str] = []
    for number in range(1, limit + 1):
        send(batch)
        after = snapshot(rdb)
        grown = [
            name
            for name, key in before.items()
            if name in after and after[name].elements > key.elements
        ]
        pipe = rdb.pipeline(transaction=False)
        for name in grown:
            pipe.object("encoding", name)
        encodings = pipe.execute()
        compact = [name for name, enc in zip(grown, encodings, strict=True) if enc in COMPACT]
        if grown and not compact:
            return number * batch
        before = after
    raise RuntimeError(
        f"after {limit * batch} messages, keys that every message adds to are still compact "
        f"({', '.join(sorted(compact)[:5])}): a waiting message is priced past Redis's "
        "default thresholds, so run the bench on a redis-server with its default config"
    )


def bytes_per_message(rdb: redis.Redis, send: Send, count: int) -> float:
    """Bytes one waiting message holds: ``count`` of them sent, once the shared keys settled,
    with nothing consuming them."""
    settle(rdb, send)
    before = snapshot(rdb)
    send(count)
    return round(added_bytes(before, snapshot(rdb)) / count, 1)
