"""A redis-py URL and the Redis database it names; URLs with their passwords masked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.connection import parse_url

REDIS_PORT = 6379
_CREDENTIALS = re.compile(r"://[^@/;]*@")


@dataclass(frozen=True)
class Endpoint:
    """One database of one Redis server: by TCP host and port, or by socket path."""

    host: str
    port: int
    path: str
    db: int


def endpoint_of(url: str) -> Endpoint:
    """The database a redis-py URL points at; a path that is not a number is refused (redis-py
    would quietly take database 0)."""
    found = parse_url(url)  # type: ignore[no-untyped-call]
    if not url.startswith("unix://") and "db" not in found:
        database_of(urlsplit(url).path)
    if "path" in found:
        return Endpoint("", 0, str(found["path"]), int(found.get("db", 0)))
    return Endpoint(
        str(found.get("host", "localhost")),
        int(found.get("port", REDIS_PORT)),
        "",
        int(found.get("db", 0)),
    )


def without_secrets(url: str) -> str:
    """``url`` with every password masked, for logs and refusals (it may not be readable)."""
    return _CREDENTIALS.sub("://***@", url)


def database_of(vhost: Any) -> int:
    """The database number of a virtual host, by the rule of kombu's Redis transport."""
    text = str(vhost or "").strip("/")
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"the database must be a number, not {text!r}")
    return int(text)
