"""How the state store is reached: one place that makes Redis clients and names failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from executor.core.errors import Unavailable

# The failures that mean "the state store did not answer", for callers above this layer.
STORE_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
STORE_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)


def connect(url: str, *, timeout: float = 10.0, connect_timeout: float = 5.0) -> redis.Redis:
    """A client with a connection pool, answering text."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        health_check_interval=30,
    )


@contextmanager
def reachable(what: str = "the state store") -> Iterator[None]:
    """Turn a lost connection into ``Unavailable`` with a message that says what to check."""
    try:
        yield
    except STORE_DOWN as exc:
        raise Unavailable(
            f"{what} cannot be reached ({exc}); check EXECUTOR_REDIS_URL and that Redis is up"
        ) from exc
