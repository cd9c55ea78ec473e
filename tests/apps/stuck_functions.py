"""The test functions on a worker whose consumer stops taking messages once it is ready, as
Celery's does when it comes back from a lost Redis connection without consuming again: its
consumer still lists its queues, but nothing is received from them."""

from __future__ import annotations

from typing import Any

from celery import signals

from tests.apps.functions import app

__all__ = ["app"]


def _stop_consuming(sender: Any = None, **_: Any) -> None:
    sender.task_consumer.cancel()


signals.worker_ready.connect(_stop_consuming, weak=False)
