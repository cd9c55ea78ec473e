"""What the state store keeps beside invocations for every process: the function catalogue
workers publish, and the markers destinations keep."""

from __future__ import annotations

from typing import Any, cast

import redis

from executor.state.connection import reachable
from executor.state.keys import CATALOGUE, marker_key


class Catalogue:
    """The functions workers run, by URN: what a producer needs of one it does not import."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def publish(self, entries: dict[str, str]) -> None:
        if entries:
            with reachable():
                self.redis.hset(CATALOGUE, mapping=cast("Any", entries))

    def entry(self, urn: str) -> str | None:
        with reachable():
            return cast("str | None", self.redis.hget(CATALOGUE, urn))

    def entries(self) -> dict[str, str]:
        with reachable():
            return cast("dict[str, str]", self.redis.hgetall(CATALOGUE))


class Markers:
    """Markers destinations keep (``dis:<stream>:<identity>``, ...), each with its own TTL."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def claim(self, name: str, value: str, ttl: int) -> bool:
        """Set the marker unless it exists; True when this call set it."""
        return bool(self.redis.set(marker_key(name), value, nx=True, ex=ttl))

    def read(self, name: str) -> str | None:
        return cast("str | None", self.redis.get(marker_key(name)))

    def write(self, name: str, value: str, ttl: int) -> None:
        self.redis.set(marker_key(name), value, ex=ttl)

    def drop(self, name: str) -> None:
        self.redis.delete(marker_key(name))
