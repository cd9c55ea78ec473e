"""Plain Celery with one queue, for the fairness comparison: ``plain.bulk`` is the backlog,
``plain.urgent`` records how long after its sending it started."""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

QUEUE = "plain.fairness"
DELAYS = "plain:urgent"


def make(url: str) -> Celery:
    celery = Celery("plain_fairness", broker=url, set_as_current=False)
    celery.conf.update(task_acks_late=True, task_default_queue=QUEUE, task_ignore_result=True)
    store = redis.Redis.from_url(url) if url.startswith("redis") else None

    @celery.task(name="plain.bulk")
    def bulk(sent: float) -> None:
        return None

    @celery.task(name="plain.urgent")
    def urgent(sent: float) -> None:
        assert store is not None
        store.rpush(DELAYS, time.time() - sent)

    return celery


# The worker's app; a test sends through its own ``make(url)``.
app = make(os.environ.get("EXECUTOR_BROKER_URL", "memory://"))
