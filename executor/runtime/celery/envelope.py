"""Task messages and ``task-sent`` events in the form Celery and kombu write them to Redis.

When the broker is the state store's own Redis (see ``routes``), a script writes an
invocation's record and its message in one step. This module builds those two strings exactly
as ``send_task`` would have them written: the protocol-2 message of ``celery.app.amqp`` in the
envelope of ``kombu.transport.redis`` (body base64, the same headers, properties and delivery
info), and the event in the envelope Celery's event dispatcher publishes on the ``celeryev``
channel. A test compares both with what ``send_task`` writes, field by field, so a Celery or
kombu release that changes the format fails there.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from celery.utils.saferepr import saferepr
from celery.utils.time import utcoffset

from executor.runtime.celery.routes import Route
from executor.runtime.ports import Origin

_NO_LINKS = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


class Envelope:
    """Builds the message strings of one Celery app."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self._dispatcher: tuple[int, Any] = (0, None)

    def encode(
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
        dispatcher = self._events()
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

    def _events(self) -> Any:
        """An event dispatcher of this process, which only names the sender: events are
        published by the scripts. (Celery's own is made per process the same way.)"""
        pid, dispatcher = self._dispatcher
        if pid != os.getpid():
            dispatcher = self.celery.events.Dispatcher(enabled=False)
            self._dispatcher = (os.getpid(), dispatcher)
        return dispatcher

    def _lineage(self, origin: Origin | None) -> tuple[str | None, str | None]:
        """``root_id`` and ``parent_id``: as given by ``origin``, else the running task's, as
        ``send_task`` finds them."""
        if origin is not None:
            return origin.root_id, origin.parent_id
        parent = self.celery.current_worker_task
        if parent:
            return parent.request.root_id or parent.request.id, parent.request.id
        return None, None


_NODENAME: tuple[int, str] = (0, "")


def _nodename() -> str:
    """Celery's ``origin`` header of this process (``gen<pid>@<host>``), computed per pid."""
    global _NODENAME
    pid = os.getpid()
    if _NODENAME[0] != pid:
        from celery.utils.nodenames import anon_nodename

        _NODENAME = (pid, anon_nodename())
    return _NODENAME[1]
