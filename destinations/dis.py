"""DIS destination: append each event to a data stream, once.

Two backends, chosen by the agency's ``dis`` section:

- ``redis`` (default): a Redis Stream named ``stream_name`` with the fields ``id`` (the event's
  identity, ``<request_id>:<outcome>``), ``event`` (its JSON) and, when the delivery is traced,
  ``traceparent`` (its W3C trace context), trimmed to about ``maxlen``
  entries. One Lua script checks a per-identity marker and adds the entry, so a repeated
  delivery never adds a second one.
- ``kinesis``: ``PutRecord`` to a Kinesis-compatible stream, partition key = request id. A marker
  in the state store, claimed before the put and confirmed after it, skips repeated deliveries;
  only a put whose answer was lost can still be repeated.

Markers live as long as invocation records (``EXECUTOR_STATUS_RETENTION``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from typing import Any, ClassVar

import redis

from destinations.base import (
    Delivery,
    DestinationRuntime,
    TemporaryDeliveryError,
    redis_errors,
)
from destinations.cloud import needs_extra
from executor.core.agency import DISAccess
from executor.core.constants import KEY_PREFIX
from executor.core.params import DISParam, Param

log = logging.getLogger("executor.destinations.dis")

# KEYS: stream, marker   ARGV: identity, event, maxlen (0: untrimmed), marker ttl, traceparent
APPEND_ONCE = """
local id = redis.call('GET', KEYS[2])
if id then return {0, id} end
local args = {KEYS[1]}
if tonumber(ARGV[3]) > 0 then
  table.insert(args, 'MAXLEN'); table.insert(args, '~'); table.insert(args, ARGV[3])
end
for _, v in ipairs({'*', 'id', ARGV[1], 'event', ARGV[2]}) do table.insert(args, v) end
if ARGV[5] ~= '' then table.insert(args, 'traceparent'); table.insert(args, ARGV[5]) end
id = redis.call('XADD', unpack(args))
redis.call('SET', KEYS[2], id, 'EX', ARGV[4])
return {1, id}
"""


def marker_key(stream: str, identity: str) -> str:
    return f"{KEY_PREFIX}dis:{stream}:{identity}"


class DISDestination:
    """Appends the event to a data stream: Redis Streams, or a Kinesis-compatible service."""

    kind: ClassVar[str] = "DIS"
    param_model: ClassVar[type[Param]] = DISParam

    def __init__(self) -> None:
        self._streams: dict[tuple[int, str], tuple[redis.Redis, Any]] = {}
        self._lock = threading.Lock()

    def deliver(self, delivery: Delivery, runtime: DestinationRuntime) -> None:
        assert isinstance(delivery.param, DISParam)
        _, access = runtime.agencies.access(delivery.agency, DISAccess)
        if access.backend == "kinesis":
            self._put_record(delivery, runtime, access, delivery.param.stream_name)
        else:
            self._append(delivery, runtime, access, delivery.param.stream_name)

    def _append(
        self, delivery: Delivery, runtime: DestinationRuntime, access: DISAccess, stream: str
    ) -> None:
        settings = runtime.settings
        url = access.redis_url.get_secret_value() if access.redis_url else runtime.state_url
        _, append = self._redis(url)
        with redis_errors(f"DIS stream {stream}"):
            added, entry = append(
                keys=[stream, marker_key(stream, delivery.identity)],
                args=[
                    delivery.identity,
                    delivery.body(),
                    access.maxlen,
                    settings.status_retention,
                    delivery.traceparent,
                ],
            )
        if not added:
            log.info("event %s is already entry %s of %s", delivery.identity, entry, stream)

    def _redis(self, url: str) -> tuple[redis.Redis, Any]:
        # One connection pool per process and URL; a pool made before a fork is not reused.
        key = (os.getpid(), url)
        with self._lock:
            found = self._streams.get(key)
            if found is None:
                connection = redis.Redis.from_url(
                    url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5
                )
                found = self._streams[key] = (connection, connection.register_script(APPEND_ONCE))
        return found

    def _put_record(
        self, delivery: Delivery, runtime: DestinationRuntime, access: DISAccess, stream: str
    ) -> None:
        marker = f"dis:{stream}:{delivery.identity}"
        what = f"DIS stream {stream}"
        with needs_extra(f"{what} (its agency's backend is kinesis)"):
            from destinations import _aws
        claim_ttl = int(access.connect_timeout + access.read_timeout) + 30
        with redis_errors(f"{what} (the state store)"):
            if not runtime.claim_marker(marker, f"pending:{uuid.uuid4().hex}", claim_ttl):
                if str(runtime.read_marker(marker) or "").startswith("done:"):
                    log.info("event %s is already in %s", delivery.identity, stream)
                    return
                raise TemporaryDeliveryError(
                    f"{what}: another delivery of {delivery.identity} is under way"
                )
        try:
            reply = _aws.kinesis(access).put_record(
                StreamName=stream, Data=delivery.body(), PartitionKey=delivery.request_id
            )
        except _aws.FAILURES as exc:
            # A claim left behind expires by itself; the put's own error is what matters.
            with contextlib.suppress(redis.RedisError):
                runtime.drop_marker(marker)
            raise _aws.delivery_error(exc, what) from exc
        try:
            runtime.write_marker(
                marker, f"done:{reply['SequenceNumber']}", runtime.settings.status_retention
            )
        except redis.RedisError as exc:
            # The record is in the stream: report it delivered rather than put it twice.
            log.warning(
                "event %s is in %s but its marker was not kept: %s", delivery.identity, stream, exc
            )
