"""A broker URL as kombu reads it (the database a redis-py URL names is ``state.redis_url``).

Celery documents four forms of a Redis broker URL, and kombu reads them all: ``redis://`` (with
user, password and database), ``rediss://`` (TLS, with ``ssl_cert_reqs`` and the other ``ssl_``
options in its query), ``redis+socket:///path`` (a Unix socket, ``?virtual_host=`` for the
database) and ``sentinel://host:port;sentinel://host:port;...`` (the sentinels of a master whose
name comes from the transport options). ``read_broker`` reads one with kombu's own parser (its
``Connection``, which splits the ``;`` list and the ``redis+`` prefix, and ``url_to_parts``),
so the engine sees what Celery will connect to; what kombu cannot read is refused with one
line naming the setting.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from kombu.connection import Connection
from kombu.utils.url import maybe_sanitize_url, url_to_parts

from executor.core.errors import SettingsInvalid
from executor.state.redis_url import REDIS_PORT, Endpoint, database_of, without_secrets

REDIS_TRANSPORTS = ("redis", "rediss", "sentinel")
_SENTINEL_PORT = 26379
# redis-py's names for the certificate checks kombu reads from ``ssl_cert_reqs``.
_CERT_REQS = {ssl.CERT_NONE: "none", ssl.CERT_OPTIONAL: "optional", ssl.CERT_REQUIRED: "required"}
_FORMS = (
    "a Redis broker is redis://[user:password@]host:port/db, rediss://...?ssl_cert_reqs=required, "
    "redis+socket:///path/to/redis.sock?virtual_host=db or sentinel://host:port;sentinel://..."
)


@dataclass(frozen=True)
class BrokerUrl:
    """A broker URL as kombu reads it."""

    url: str
    transport: str  # kombu's name for it: redis, rediss, sentinel, amqp, ...
    alternates: tuple[str, ...]
    endpoint: Endpoint | None  # the database of a redis, rediss or redis+socket broker
    sentinels: tuple[tuple[str, int], ...]
    db: int
    username: str | None
    password: str | None
    ssl: dict[str, Any] | None

    @property
    def is_redis(self) -> bool:
        """Redis in any form, Sentinel included: kombu's Redis transport carries it."""
        return self.transport in REDIS_TRANSPORTS

    @property
    def is_sentinel(self) -> bool:
        return self.transport == "sentinel"

    def masked(self) -> str:
        """The URL without passwords, every alternate of a list included."""
        return ";".join(str(maybe_sanitize_url(url)) for url in self.alternates)

    def redis_url(self) -> str:
        """The redis-py URL of the broker's database ("" when it is not one Redis server)."""
        point = self.endpoint
        if point is None or len(self.alternates) > 1:
            return ""
        auth = ""
        if self.username or self.password:
            auth = quote(self.username or "", safe="")
            auth += f":{quote(self.password, safe='')}" if self.password else ""
            auth += "@"
        query: dict[str, str] = {}
        for key, value in (self.ssl or {}).items():
            if key == "ssl_cert_reqs":
                query[key] = _CERT_REQS.get(value, "required")
            elif isinstance(value, bool):
                query[key] = "true" if value else "false"
            elif value is not None:
                query[key] = str(value)
        if point.path:
            query["db"] = str(point.db)
            return f"unix://{auth}{quote(point.path)}?{urlencode(query)}"
        scheme = "rediss" if self.transport == "rediss" else "redis"
        tail = f"?{urlencode(query)}" if query else ""
        return f"{scheme}://{auth}{point.host}:{point.port}/{point.db}{tail}"


def read_broker(url: str, setting: str = "EXECUTOR_BROKER_URL") -> BrokerUrl:
    """``url`` read as kombu reads it; ``SettingsInvalid`` naming ``setting`` if it cannot be."""
    try:
        connection = Connection(url)  # type: ignore[no-untyped-call]
        transport = str(connection.transport_cls)
        alternates = tuple(str(alt) for alt in connection.alt) or (url,)
        # kombu reads the ports of the other sentinels only when it connects: read them now.
        parts = [url_to_parts(alt) for alt in alternates]
        db = database_of(connection.virtual_host) if transport in REDIS_TRANSPORTS else 0
    except (KeyError, ValueError, TypeError, ImportError) as exc:
        raise refused(setting, url, _reason(exc)) from None
    username, password = connection.userid, connection.password
    endpoint = None
    sentinels: tuple[tuple[str, int], ...] = ()
    if transport == "sentinel":
        sentinels = tuple(
            (part.hostname or "127.0.0.1", part.port or _SENTINEL_PORT)
            for part in parts
            if part.scheme == "sentinel"
        )
    elif transport in ("redis", "rediss"):
        host = str(connection.hostname or "127.0.0.1")
        if "://" in host:  # redis+socket://: kombu keeps the rest as the host to read later
            inner = url_to_parts(host)
            if inner.scheme != "socket" or not inner.path:
                raise refused(setting, url, f"redis+{inner.scheme}:// is not a Redis URL form")
            try:
                db = database_of(inner.query.get("virtual_host") or connection.virtual_host)
            except ValueError as exc:
                raise refused(setting, url, str(exc)) from None
            username, password = inner.username, inner.password
            endpoint = Endpoint("", 0, "/" + inner.path, db)
        else:
            endpoint = Endpoint(host, int(connection.port or REDIS_PORT), "", db)
    return BrokerUrl(
        url=url,
        transport=transport,
        alternates=alternates,
        endpoint=endpoint,
        sentinels=sentinels,
        db=db,
        username=username,
        password=password,
        ssl=dict(connection.ssl) if isinstance(connection.ssl, dict) else None,
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else "unknown transport"
    if isinstance(exc, TypeError):
        return f"an option kombu does not take ({exc})".replace("_init_params() ", "")
    return str(exc)


def refused(setting: str, url: str, reason: str) -> SettingsInvalid:
    forms = f"; {_FORMS}" if setting == "EXECUTOR_BROKER_URL" else ""
    return SettingsInvalid(f"{setting}={without_secrets(url)} is not allowed: {reason}{forms}")
