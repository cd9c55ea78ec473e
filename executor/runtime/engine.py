"""The Celery application every producer and worker shares."""

from __future__ import annotations

from celery import Celery

from executor.core.constants import DELIVER_TASK, DELIVERY_QUEUE, INVOCATION_QUEUE
from executor.core.settings import Settings


def make_celery(settings: Settings, main: str = "executor") -> Celery:
    """A Celery app configured for at-least-once execution with JSON messages only."""
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
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # Look for messages a lost worker held every 10 s rather than every 100 s, so they
            # come back soon after the visibility timeout (Redis only; other brokers ignore it).
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app
