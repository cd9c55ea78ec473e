"""A worker's name and the moments of its life that modules above the seam answer."""

from __future__ import annotations

from collections.abc import Callable

from celery import signals
from celery.utils.nodenames import default_nodename, host_format

Receiver = Callable[..., None]


def node_name(node: str | None) -> str:
    """The node name a worker started with ``--hostname node`` (or none) answers to."""
    return str(host_format(default_nodename(node)))


def on_worker_ready(receiver: Receiver, uid: str | None = None) -> None:
    """Call ``receiver(sender=<the worker's consumer>)`` once a worker of this process is ready."""
    signals.worker_ready.connect(receiver, weak=False, dispatch_uid=uid)


def on_task_postrun(receiver: Receiver) -> None:
    """Call ``receiver(task=..., kwargs=..., state=...)`` after each task this process runs."""
    signals.task_postrun.connect(receiver, weak=False)


__all__ = ["Receiver", "node_name", "on_task_postrun", "on_worker_ready"]
