"""Where the state store is: on the broker's own Redis unless the settings name another.

Unless ``EXECUTOR_REDIS_URL`` (or sentinel or cluster mode) says otherwise, the state store
lives on the broker's Redis: the same database of the same server, or, with a ``sentinel://``
broker, the same master of the same sentinels (sentinel mode, its database and password).
``locate`` decides once per settings, at start, from the URLs as kombu and redis-py read them;
a URL that cannot be read, or a combination that leaves the state store nowhere, is refused
with one line that names the setting to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from redis.connection import parse_url

from executor.core.errors import SettingsInvalid
from executor.core.settings import Settings
from executor.runtime.celery.broker_url import BrokerUrl, read_broker, refused
from executor.state.redis_url import Endpoint, endpoint_of, without_secrets

Mode = Literal["standalone", "sentinel", "cluster"]


@dataclass(frozen=True)
class StoreTarget:
    """Where the state store is, in the terms of redis-py's clients."""

    mode: Mode
    url: str  # a redis-py URL (standalone, cluster); "" with sentinels
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    password: str | None = None

    @property
    def endpoint(self) -> Endpoint | None:
        """The database of a standalone store (None for a cluster or a sentinel master)."""
        if self.mode != "standalone":
            return None
        return endpoint_of(self.url)

    def describe(self) -> str:
        """For logs and health checks, without secrets."""
        if self.mode == "sentinel":
            where = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"sentinel master {self.master} via {where}"
        url = without_secrets(self.url)
        return f"cluster via {url}" if self.mode == "cluster" else url


@dataclass(frozen=True)
class Locations:
    """The broker and the state store of one set of settings."""

    broker: BrokerUrl
    store: StoreTarget


@lru_cache(maxsize=16)
def locate(settings: Settings) -> Locations:
    """The broker, and where the state store is: ``EXECUTOR_REDIS_URL`` (or the sentinels or
    the cluster the settings name), else the broker's own Redis."""
    broker = read_broker(settings.broker_url)
    if broker.is_sentinel and not settings.redis_sentinel_master:
        raise SettingsInvalid(
            "a sentinel:// broker needs EXECUTOR_REDIS_SENTINEL_MASTER=<master name>"
        )
    mode: Mode = settings.redis_mode
    if mode == "standalone" and broker.is_sentinel and not settings.redis_url:
        mode = "sentinel"  # the state store stays with the broker, on the sentinels' master
    if mode == "sentinel":
        return Locations(broker, _sentinel_store(settings, broker))
    if mode == "cluster":
        store = StoreTarget("cluster", _store_url(settings.redis_url))
        nodes = endpoint_of(store.url)
        point = broker.endpoint
        if point is not None and (point.host, point.port) == (
            nodes.host,
            nodes.port,
        ):
            raise SettingsInvalid(
                "the broker cannot live on the Redis Cluster that holds the state: Celery "
                "has no Redis Cluster transport. Use RabbitMQ (amqp://) or a separate "
                "Redis (standalone or sentinel://) as EXECUTOR_BROKER_URL"
            )
        return Locations(broker, store)
    if settings.redis_url:
        return Locations(broker, StoreTarget("standalone", _store_url(settings.redis_url)))
    url = broker.redis_url()
    if not url:
        what = (
            "lists several Redis servers"
            if broker.endpoint is not None
            else f"is not Redis (broker is {broker.transport}://)"
        )
        raise SettingsInvalid(
            f"EXECUTOR_REDIS_URL is required when the broker {what}: set it to the Redis "
            "that holds the state"
        )
    return Locations(broker, StoreTarget("standalone", url))


def _sentinel_store(settings: Settings, broker: BrokerUrl) -> StoreTarget:
    sentinels = _sentinel_list(settings.redis_sentinels) or broker.sentinels
    if not sentinels or not settings.redis_sentinel_master:
        raise SettingsInvalid(
            "EXECUTOR_REDIS_MODE=sentinel needs EXECUTOR_REDIS_SENTINELS=host:port,... "
            "(or a sentinel:// broker) and EXECUTOR_REDIS_SENTINEL_MASTER=<master name>"
        )
    # The broker's database and password are the master's (kombu passes them on to it).
    own = broker if broker.is_sentinel else None
    db = settings.redis_db if settings.redis_db is not None else (own.db if own else 0)
    password = settings.redis_password.get_secret_value() or (own.password if own else None)
    return StoreTarget(
        "sentinel",
        "",
        sentinels=sentinels,
        master=settings.redis_sentinel_master,
        db=db,
        password=password or None,
    )


def _sentinel_list(spec: str) -> tuple[tuple[str, int], ...]:
    found = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise SettingsInvalid(f"EXECUTOR_REDIS_SENTINELS: {item!r} is not host:port")
        found.append((host, int(port)))
    return tuple(found)


def _store_url(url: str) -> str:
    """``EXECUTOR_REDIS_URL`` as a redis-py URL: redis-py's forms, or Celery's socket form."""
    if url.startswith("redis+socket://"):
        return read_broker(url, "EXECUTOR_REDIS_URL").redis_url()
    try:
        parse_url(url)  # type: ignore[no-untyped-call]
        endpoint_of(url)
    except ValueError as exc:
        raise refused(
            "EXECUTOR_REDIS_URL",
            url,
            f"{exc}; use redis://host:port/db, rediss://..., unix:///path?db=N or "
            "redis+socket:///path",
        ) from None
    return url
