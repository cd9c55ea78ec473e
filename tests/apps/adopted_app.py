"""A Celery project of its own (pickle by default, its own queue and routes) with functions
added to it: ``celery -A tests.apps.adopted_app worker`` runs both kinds."""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery

from executor import Context, FunctionApp

BROKER = os.environ.get("EXECUTOR_BROKER_URL", "redis://127.0.0.1:9/0")
DONE_KEY = "test:adopted:plain"

celery = Celery("proj", broker=BROKER, set_as_current=False)
celery.conf.update(
    task_serializer="pickle",
    result_serializer="pickle",
    accept_content=["pickle", "json"],
    task_default_queue="proj",
    task_routes={"proj.*": {"queue": "proj"}},
    task_acks_late=False,
    task_time_limit=3,
    worker_send_task_events=True,
)


@celery.task(name="proj.collect")
def collect(values: set[int]) -> None:
    """Takes a set, which only pickle carries."""
    redis.Redis.from_url(BROKER).rpush(DONE_KEY, ",".join(str(v) for v in sorted(values)))


functions = FunctionApp(celery=celery)


@functions.function("double")
def double(event: Any, context: Context) -> Any:
    return {"doubled": event["n"] * 2}


@functions.function("slowish")
def slowish(event: Any, context: Context) -> Any:
    """Outlives the project's own 3-second limit, within the engine's."""
    import time

    time.sleep(event["seconds"])
    return "done"
