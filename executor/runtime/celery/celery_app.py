"""The Celery application every producer and worker shares, or the guarantees the engine
needs of one it adopts."""

from __future__ import annotations

import logging
import math
from typing import Any

from celery import Celery
from kombu.transport.redis import Channel as RedisChannel

from executor.core.constants import DELIVER_TASK, DELIVERY_QUEUE, INVOCATION_QUEUE
from executor.core.errors import InvalidParameter
from executor.core.settings import Settings
from executor.runtime.celery.broker_url import BrokerUrl, read_broker
from executor.state.locations import locate

JSON = "json"

log = logging.getLogger("executor.app")


def make_celery(settings: Settings, main: str = "executor") -> Celery:
    """A Celery app configured for at-least-once execution with JSON messages only."""
    broker = locate(settings).broker
    app = Celery(main, broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_default_queue=INVOCATION_QUEUE,
        task_routes={DELIVER_TASK: {"queue": DELIVERY_QUEUE}},
        task_soft_time_limit=settings.soft_time_limit,
        task_time_limit=settings.time_limit,
        broker_transport_options=_transport_options(settings, broker),
        broker_connection_retry_on_startup=True,
        # A broker blip must not kill handlers that are running: their outcome is recorded in
        # the state store, and the message Redis redelivers later finds it there and is
        # skipped. Cancelling them instead ended healthy runs as phantom time-limit failures.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    if broker.ssl:
        # What kombu read from a rediss:// URL, given as Celery's own setting too, which
        # Flower needs to reach the broker.
        app.conf.broker_use_ssl = broker.ssl
    if broker.is_sentinel:
        # Keep publishing through a failover: the sentinels need a few seconds to promote.
        app.conf.task_publish_retry_policy = {
            "max_retries": math.ceil(settings.redis_failover_seconds) + 3,
            "interval_start": 0,
            "interval_step": 0.25,
            "interval_max": 1,
        }
    return app


# The order a Redis worker waits on its queues in: projects in turn, then their functions.
PROJECT_CYCLE = "executor.runtime.celery.fairness:ProjectCycle"


def _transport_options(settings: Settings, broker: BrokerUrl) -> dict[str, Any]:
    options: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout,
        # Look for messages a lost worker held every 10 s rather than every 100 s, so they
        # come back soon after the visibility timeout (Redis only; other brokers ignore it).
        "unacked_restore_throttle": 1,
    }
    if settings.fair_queues:
        options["queue_order_strategy"] = PROJECT_CYCLE
    if broker.is_sentinel:
        # kombu's Sentinel transport asks the sentinels for this master, again after a failover.
        options["master_name"] = settings.redis_sentinel_master
        secret = settings.redis_sentinel_password.get_secret_value()
        if secret:
            options["sentinel_kwargs"] = {"password": secret}
    return options


def task_options(settings: Settings) -> dict[str, Any]:
    """What every task of the engine needs, whatever the app's own defaults say: set on each
    task, so an adopted app keeps its configuration for its own tasks."""
    return {
        "serializer": JSON,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "acks_on_failure_or_timeout": True,
        "ignore_result": True,
        "soft_time_limit": settings.soft_time_limit,
        "time_limit": settings.time_limit,
    }


def check_adoptable(app: Celery, settings: Settings) -> None:
    """Refuse an app whose workers could not read the engine's JSON messages, or whose Redis
    broker would hand a running or waiting message to a second worker."""
    _check_visibility(app, settings)
    accepted = {str(c).split("/")[-1] for c in app.conf.accept_content or ()}
    if JSON not in accepted:
        raise InvalidParameter(
            f"the Celery app {app.main!r} does not accept JSON messages "
            f"(accept_content={list(app.conf.accept_content or ())}); add 'json' to its "
            "accept_content: every function and delivery message is JSON"
        )


def _check_visibility(app: Celery, settings: Settings) -> None:
    """Redis hands a message that stays unacknowledged past the app's ``visibility_timeout`` to
    another worker: a run within the time limit, or a retry countdown, must end well before."""
    url = app.conf.broker_url
    if not isinstance(url, str) or not read_broker(url).is_redis:
        return  # other brokers keep a delivered message until its worker is gone
    options = app.conf.broker_transport_options or {}
    timeout = float(options.get("visibility_timeout") or RedisChannel.visibility_timeout)
    longest = max(settings.time_limit, settings.retry_backoff_max)
    if timeout / 2 <= longest:
        raise InvalidParameter(
            f"the Celery app {app.main!r} has a Redis visibility_timeout of {timeout:.0f} s: "
            f"Redis would hand a message to a second worker while the first still runs it (up "
            f"to EXECUTOR_TIME_LIMIT) or holds it for a retry (up to EXECUTOR_RETRY_BACKOFF_MAX)"
            f"; set broker_transport_options['visibility_timeout'] above {2 * longest:.0f}"
        )
    if timeout < settings.visibility_timeout:
        log.warning(
            "the Celery app %r has a Redis visibility_timeout of %.0f s, below "
            "EXECUTOR_VISIBILITY_TIMEOUT (%d s), which bounds the retry countdowns a function "
            "may ask for: set one equal to the other",
            app.main,
            timeout,
            settings.visibility_timeout,
        )
