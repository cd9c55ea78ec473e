"""The test functions on a worker whose consumer is stuck on its way back from a lost broker
connection before its task consumer took its queues again: it lists no queues and takes
nothing, while the worker stays up."""

from __future__ import annotations

from typing import Any

from celery import signals

from tests.apps.functions import app

__all__ = ["app"]


def _drop_consumer(sender: Any = None, **_: Any) -> None:
    sender.task_consumer.cancel()
    sender.task_consumer.queues = []


signals.worker_ready.connect(_drop_consumer, weak=False)
