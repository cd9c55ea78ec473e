"""Task messages and ``task-sent`` events in the form Celery and kombu write them to Redis.

When the broker is the state store's own Redis, a script can write an invocation's record and
its message (and the ``task-sent`` event Flower reads) in one step. This module builds those
two strings exactly as ``send_task`` would have them written: the protocol-2 message of
``celery.app.amqp`` in the envelope of ``kombu.transport.redis`` (body base64, the same
headers, properties and delivery info), and the event in the envelope Celery's event
dispatcher publishes on the ``celeryev`` channel. A test compares both with what ``send_task``
writes, field by field, so a Celery or kombu release that changes the format fails there.

Anything this module does not reproduce turns the fused path off, with the reason logged once:
another broker (RabbitMQ, another Redis, Sentinel, Cluster), a ``global_keyprefix``, priorities,
queue expiry, other serializers or compression, and publish signal receivers (they expect to
see each message go through Celery).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from celery import Celery, signals
from celery.utils.saferepr import saferepr
from celery.utils.time import utcoffset
from kombu.utils.url import url_to_parts

log = logging.getLogger("executor.publisher")

_PUBLISH_SIGNALS = (signals.before_task_publish, signals.after_task_publish)
_NO_LINKS = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_REDIS = ("redis", "rediss")


@dataclass(frozen=True)
class Route:
    """Where a task's messages go on the broker's Redis, as kombu would put them."""

    queue: str
    exchange: str
    routing_key: str
    delivery_mode: int
    channel: str  # the task-sent event's channel; "" when task-sent events are off


@dataclass(frozen=True)
class Origin:
    """The task a message is sent from, for its ``root_id`` and ``parent_id`` headers."""

    root_id: str | None = None
    parent_id: str | None = None


class Envelope:
    """Builds the messages; decides once per process whether it may."""

    def __init__(self, celery: Celery, state_url: str) -> None:
        self.celery = celery
        self.state_url = state_url
        self._refusal: str | None = None
        self._decided = False
        self._signalled = False
        self._routes: dict[tuple[str, str], Route | None] = {}

    # -- the decision -------------------------------------------------------------------------

    def available(self) -> bool:
        """Whether messages may be written by state-store scripts; logs why not, once."""
        if not self._decided:
            self._refusal = self._why_not()
            self._decided = True
            if self._refusal:
                log.info("task messages go through Celery's publisher: %s", self._refusal)
            else:
                log.info("the broker is the state store: records and messages written together")
        if self._refusal:
            return False
        if any(signal.receivers for signal in _PUBLISH_SIGNALS):
            if not self._signalled:
                self._signalled = True
                log.info(
                    "task messages go through Celery's publisher: "
                    "before_task_publish or after_task_publish receivers are connected"
                )
            return False
        return True

    def _why_not(self) -> str | None:
        if not isinstance(self.celery, Celery):
            return "the publisher is not a Celery app"
        conf = self.celery.conf
        if int(conf.task_protocol) != 2:
            return f"task_protocol is {conf.task_protocol}"
        if conf.task_serializer != "json" or conf.task_compression:
            return "messages are not plain JSON"
        if conf.task_send_sent_event and conf.event_serializer != "json":
            return "events are not JSON"
        if conf.task_default_priority is not None or conf.task_queue_max_priority is not None:
            return "priorities are configured"
        options = conf.broker_transport_options or {}
        for option in ("global_keyprefix", "priority_steps", "sep"):
            if options.get(option):
                return f"the broker transport option {option} is set"
        if not isinstance(conf.broker_url, str):
            return "the broker is a failover list"
        broker = url_to_parts(conf.broker_url)
        if broker.scheme not in _REDIS:
            return f"the broker is {broker.scheme}://, not the state store"
        if _address(conf.broker_url) != _address(self.state_url):
            return "the broker is another Redis than the state store"
        return None

    def route(self, task: str, queue: str) -> Route | None:
        """The route of ``task`` to ``queue``; None if its messages need Celery's publisher."""
        key = (task, queue)
        if key not in self._routes:
            self._routes[key] = self._route(task, queue)
        return self._routes[key]

    def _route(self, task: str, queue: str) -> Route | None:
        conf = self.celery.conf
        amqp = self.celery.amqp
        options = amqp.router.route({"queue": queue}, task, (), {}, None)
        declared = options.pop("queue")
        if options:
            log.info("%s goes through Celery's publisher: task_routes give it %s", task, options)
            return None
        arguments = declared.queue_arguments or {}
        if (
            declared.expires
            or declared.message_ttl
            or declared.max_priority
            or "x-expires" in arguments
            or "x-max-priority" in arguments
        ):
            log.info(
                "%s goes through Celery's publisher: queue %s has expiry or priority", task, queue
            )
            return None
        if declared.exchange.type != "direct":
            log.info("%s goes through Celery's publisher: its exchange is not direct", task)
            return None
        delivery_mode = declared.exchange.delivery_mode or conf.task_default_delivery_mode
        if delivery_mode == "persistent":
            delivery_mode = 2
        elif delivery_mode == "transient":
            delivery_mode = 1
        channel = ""
        if conf.task_send_sent_event:
            channel = _fanout_prefix(conf.broker_url, conf.broker_transport_options or {})
            channel += conf.event_exchange
            if (conf.broker_transport_options or {}).get("fanout_patterns", True):
                channel += "/task.sent"
        return Route(
            queue=declared.name,
            exchange="",
            routing_key=declared.name,
            delivery_mode=int(delivery_mode),
            channel=channel,
        )

    # -- the strings --------------------------------------------------------------------------

    def message(
        self,
        route: Route,
        *,
        task: str,
        task_id: str,
        kwargs: dict[str, Any],
        argsrepr: str | None,
        kwargsrepr: str | None,
        expires: float | None,
        retries: int = 0,
        origin: Origin | None = None,
    ) -> tuple[str, str]:
        """The message as kombu's Redis transport stores it, and its task-sent event ("" when
        events are off)."""
        amqp = self.celery.amqp
        maxlevels = self.celery.conf.task_repr_maxlevels
        if argsrepr is None:
            argsrepr = saferepr((), amqp.argsrepr_maxsize, maxlevels=maxlevels)
        if kwargsrepr is None:
            kwargsrepr = saferepr(kwargs, amqp.kwargsrepr_maxsize, maxlevels=maxlevels)
        root_id, parent_id = self._lineage(origin)
        root_id = root_id or task_id
        expires_iso = None
        properties: dict[str, Any] = {
            "correlation_id": task_id,
            "reply_to": self.celery.thread_oid,
            "kwargsrepr": kwargsrepr,
            "argsrepr": argsrepr,
            "delivery_mode": route.delivery_mode,
        }
        if expires is not None:
            expires_iso = datetime.fromtimestamp(expires, tz=UTC).isoformat()
            properties["expiration"] = str(int(max(expires - time.time(), 0.0) * 1000))
        properties["delivery_info"] = {"exchange": route.exchange, "routing_key": route.routing_key}
        properties["priority"] = 0
        properties["body_encoding"] = "base64"
        properties["delivery_tag"] = str(uuid.uuid4())
        headers: dict[str, Any] = {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": expires_iso,
            "group": None,
            "group_index": None,
            "retries": retries,
            "timelimit": [None, None],
            "root_id": root_id,
            "parent_id": parent_id,
            "argsrepr": argsrepr,
            "kwargsrepr": kwargsrepr,
            "origin": _nodename(),
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        body = json.dumps([[], kwargs, _NO_LINKS])
        message = json.dumps(
            {
                "body": base64.b64encode(body.encode()).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": headers,
                "properties": properties,
            }
        )
        if not route.channel:
            return message, ""
        sent = {
            "uuid": task_id,
            "root_id": root_id,
            "parent_id": parent_id,
            "name": task,
            "args": argsrepr,
            "kwargs": kwargsrepr,
            "retries": retries,
            "eta": None,
            "expires": expires_iso,
            "queue": route.queue,
            "exchange": route.exchange,
            "routing_key": route.routing_key,
        }
        return message, self._event(sent)

    def _event(self, fields: dict[str, Any]) -> str:
        dispatcher = self.celery.amqp._event_dispatcher
        event = {
            "hostname": dispatcher.hostname,
            "utcoffset": utcoffset(),
            "pid": dispatcher.pid,
            "clock": dispatcher.clock.forward(),
            **fields,
            "timestamp": time.time(),
            "type": "task-sent",
        }
        body = json.dumps(event)
        return json.dumps(
            {
                "body": base64.b64encode(body.encode()).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": {"hostname": dispatcher.hostname},
                "properties": {
                    "delivery_mode": 1,
                    "delivery_info": {
                        "exchange": self.celery.conf.event_exchange,
                        "routing_key": "task.sent",
                    },
                    "priority": 0,
                    "body_encoding": "base64",
                    "delivery_tag": str(uuid.uuid4()),
                },
            }
        )

    def _lineage(self, origin: Origin | None) -> tuple[str | None, str | None]:
        """``root_id`` and ``parent_id`` as ``send_task`` finds them: given, else the running
        task's."""
        root_id = origin.root_id if origin else None
        parent_id = origin.parent_id if origin else None
        if not root_id or not parent_id:
            parent = self.celery.current_worker_task
            if parent:
                root_id = root_id or parent.request.root_id or parent.request.id
                parent_id = parent_id or parent.request.id
        return root_id, parent_id


_NODENAME: tuple[int, str] = (0, "")


def _nodename() -> str:
    """Celery's ``origin`` header of this process (``gen<pid>@<host>``), computed per pid."""
    global _NODENAME
    pid = os.getpid()
    if _NODENAME[0] != pid:
        from celery.utils.nodenames import anon_nodename

        _NODENAME = (pid, anon_nodename())
    return _NODENAME[1]


def _address(url: str) -> tuple[str, int, str, str]:
    """Host, port, database and socket path a Redis URL points at."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme == "unix":
        return ("", 0, query.get("db", ["0"])[0], parts.path)
    db = parts.path.strip("/") or query.get("db", ["0"])[0]
    return (parts.hostname or "localhost", parts.port or 6379, db or "0", "")


def _fanout_prefix(url: str, options: dict[str, Any]) -> str:
    prefix = options.get("fanout_prefix", True)
    if isinstance(prefix, str):
        return prefix
    if not prefix:
        return ""
    return f"/{int(_address(url)[2])}."
