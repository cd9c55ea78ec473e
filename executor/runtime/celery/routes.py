"""Whether, and where, the state store's scripts may write a task's messages themselves.

When the broker is the state store's own Redis, a script can write an invocation's record and
its message (and the ``task-sent`` event Flower reads) in one step; ``Envelope`` builds those
strings as Celery would. Anything ``Envelope`` does not reproduce turns this off, with the
reason logged once: another broker (RabbitMQ, another Redis, Sentinel, Cluster), a
``global_keyprefix``, priorities, queue expiry, other serializers or compression, task routes,
and publish signal receivers (they expect to see each message go through Celery).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from celery import Celery, signals

from executor.runtime.celery.broker_url import read_broker
from executor.state.redis_url import Endpoint

log = logging.getLogger("executor.publisher")

_PUBLISH_SIGNALS = (signals.before_task_publish, signals.after_task_publish)


@dataclass(frozen=True)
class Route:
    """Where a task's messages go on the broker's Redis, as kombu would put them."""

    queue: str
    exchange: str
    routing_key: str
    delivery_mode: int
    channel: str  # the task-sent event's channel; "" when task-sent events are off


class Routes:
    """Decides once per process whether scripts may write messages, and each task's route."""

    def __init__(self, celery: Celery, store: Endpoint | None) -> None:
        """``store``: the state store's database (None when it is not one Redis server)."""
        self.celery = celery
        self.store = store
        self._refusal: str | None = None
        self._decided = False
        self._signalled = False
        self._routes: dict[tuple[str, str], Route | None] = {}

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
        broker = read_broker(conf.broker_url)
        if broker.endpoint is None:
            return f"the broker is {broker.transport}://, not the state store"
        if len(broker.alternates) > 1:
            return "the broker is a failover list"
        if broker.endpoint != self.store:
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


def _fanout_prefix(url: str, options: dict[str, Any]) -> str:
    prefix = options.get("fanout_prefix", True)
    if isinstance(prefix, str):
        return prefix
    if not prefix:
        return ""
    return f"/{read_broker(url).db}."
