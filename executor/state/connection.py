"""How the state store is reached: one place that makes Redis clients and names failures.

Three modes (``EXECUTOR_REDIS_MODE``): one server by URL, the master of a Sentinel group
(redis-py's ``Sentinel.master_for``: its pool asks the sentinels again after a failover), or a
Redis Cluster (redis-py's ``RedisCluster``: it follows MOVED replies and refreshes its slot map).
In the last two a call keeps retrying through a failover for ``EXECUTOR_REDIS_FAILOVER_SECONDS``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, SlotNotCoveredError, TryAgainError
from redis.retry import Retry
from redis.sentinel import Sentinel

from executor.core.errors import Unavailable
from executor.core.settings import Settings
from executor.state.locations import locate

# The failures that mean "the state store did not answer", for callers above this layer.
STORE_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
STORE_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)

# A demoted master answers writes with READONLY until the client finds the new one.
_FAILOVER_ERRORS = [redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError]
_CLUSTER_FAILOVER_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
)
_BACKOFF_BASE, _BACKOFF_CAP = 0.05, 0.5


def connect(
    target: Settings | str, *, timeout: float = 10.0, connect_timeout: float = 5.0
) -> redis.Redis:
    """A client with a connection pool, answering text, for the configured mode.

    A bare URL means one standalone server (used for other Redis servers than the store).
    """
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout,
    }
    if isinstance(target, str):
        return redis.Redis.from_url(target, health_check_interval=30, **common)
    store = locate(target).store
    if store.mode == "sentinel":
        sentinel = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
            list(store.sentinels),
            sentinel_kwargs={
                "password": target.redis_sentinel_password.get_secret_value() or None,
                "socket_timeout": connect_timeout,
                "socket_connect_timeout": connect_timeout,
            },
            password=store.password,
            db=store.db,
            health_check_interval=30,
            retry=_failover_retry(target),
            retry_on_error=_FAILOVER_ERRORS,
            **common,
        )
        master = sentinel.master_for(store.master)  # type: ignore[no-untyped-call, unused-ignore]
        return cast("redis.Redis", master)
    password = target.redis_password.get_secret_value() or None
    if store.mode == "cluster":
        extra = {"password": password} if password else {}
        cluster = cast("_FailoverCluster", _FailoverCluster.from_url(store.url, **extra, **common))
        cluster.failover_seconds = target.redis_failover_seconds
        # The commands this project uses have the same signatures on both clients; a cluster
        # routes each by its key's slot (every transition's keys share one, see keys.py).
        return cast("redis.Redis", cluster)
    client = redis.Redis.from_url(store.url, health_check_interval=30, **common)
    if password:
        client.connection_pool.connection_kwargs["password"] = password
    return client


class _FailoverCluster(RedisCluster):
    """A cluster client that rides out a master's failover.

    redis-py refreshes its slot map after a connection error and retries at once, so all its
    retries can fail before the cluster has promoted a replica; this one backs off between
    attempts until ``failover_seconds`` have passed.
    """

    failover_seconds = 20.0

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.failover_seconds
        delay = _BACKOFF_BASE
        while True:
            try:
                return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call, unused-ignore]
            except _CLUSTER_FAILOVER_ERRORS:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, _BACKOFF_CAP)


def _failover_retry(settings: Settings) -> Retry:
    """Retries whose backoff adds up to about ``redis_failover_seconds``."""
    doubling = math.ceil(math.log2(_BACKOFF_CAP / _BACKOFF_BASE))
    spent = _BACKOFF_BASE * (2**doubling - 1)
    capped = max(0, math.ceil((settings.redis_failover_seconds - spent) / _BACKOFF_CAP))
    return Retry(
        ExponentialBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE),
        doubling + capped,
        supported_errors=tuple(_FAILOVER_ERRORS),
    )


def describe(settings: Settings) -> str:
    """Where the state store is, for logs and health checks, without secrets."""
    return locate(settings).store.describe()


@contextmanager
def reachable(what: str = "the state store") -> Iterator[None]:
    """Turn whatever Redis answers with instead of a result into ``Unavailable``, with a message
    that says what to check: a caller sees the project's errors, never redis-py's."""
    try:
        yield
    except STORE_DOWN as exc:
        raise Unavailable(
            f"{what} cannot be reached ({exc}); check EXECUTOR_REDIS_URL (or "
            "EXECUTOR_REDIS_SENTINELS) and that Redis is up"
        ) from exc
    except redis.OutOfMemoryError as exc:
        raise Unavailable(
            f"{what} is full (Redis refused a write at its maxmemory: {exc}); the call did "
            "not complete: retry once memory is freed, or raise maxmemory"
        ) from exc
    except redis.RedisError as exc:
        raise Unavailable(
            f"{what} refused the call ({type(exc).__name__}: {exc}); it did not complete, retry"
        ) from exc
