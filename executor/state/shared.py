"""What the state store keeps beside invocations: async configs, the function catalogue,
destination markers and the lease of periodic work."""

from __future__ import annotations

from typing import Any, cast

import redis

from executor.state.connection import reachable
from executor.state.keys import CATALOGUE, CONFIGS, config_key, lock_key, marker_key


class SharedState:
    """Part of ``Store``: the keys every process shares that belong to no invocation."""

    redis: redis.Redis

    # -- markers of destinations ----------------------------------------------------------------

    def claim_marker(self, name: str, value: str, ttl: int) -> bool:
        return bool(self.redis.set(marker_key(name), value, nx=True, ex=ttl))

    def read_marker(self, name: str) -> str | None:
        return cast("str | None", self.redis.get(marker_key(name)))

    def write_marker(self, name: str, value: str, ttl: int) -> None:
        self.redis.set(marker_key(name), value, ex=ttl)

    def drop_marker(self, name: str) -> None:
        self.redis.delete(marker_key(name))

    # -- async configs --------------------------------------------------------------------------

    def put_config(self, urn: str, body: str) -> None:
        with reachable():
            pipe = self.redis.pipeline()
            pipe.set(config_key(urn), body)
            pipe.sadd(CONFIGS, urn)
            pipe.execute()

    def get_config(self, urn: str) -> str | None:
        with reachable():
            return cast("str | None", self.redis.get(config_key(urn)))

    def delete_config(self, urn: str) -> bool:
        with reachable():
            pipe = self.redis.pipeline()
            pipe.delete(config_key(urn))
            pipe.srem(CONFIGS, urn)
            deleted, _ = pipe.execute()
        return bool(deleted)

    def all_configs(self) -> dict[str, str]:
        with reachable():
            urns = sorted(cast("set[str]", self.redis.smembers(CONFIGS)))
            if not urns:
                return {}
            bodies = cast("list[str | None]", self.redis.mget([config_key(u) for u in urns]))
        return {u: b for u, b in zip(urns, bodies, strict=True) if b}

    # -- function catalogue ---------------------------------------------------------------------

    def publish_catalogue(self, entries: dict[str, str]) -> None:
        if entries:
            with reachable():
                self.redis.hset(CATALOGUE, mapping=cast("Any", entries))

    def catalogue_entry(self, urn: str) -> str | None:
        with reachable():
            return cast("str | None", self.redis.hget(CATALOGUE, urn))

    def catalogue(self) -> dict[str, str]:
        with reachable():
            return cast("dict[str, str]", self.redis.hgetall(CATALOGUE))

    # -- coordination ---------------------------------------------------------------------------

    def try_lock(self, name: str, token: str, ttl: float) -> bool:
        """A lease that lets exactly one of many workers run a periodic job."""
        return bool(self.redis.set(lock_key(name), token, nx=True, px=int(ttl * 1000)))
