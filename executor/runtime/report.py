"""How one message's task ends, as the execution decides it: ``outcome`` makes Celery end it so."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class End(Enum):
    """How a task ends in Celery."""

    SUCCESS = "success"
    FAIL = "fail"
    RETRY = "retry"
    DISCARD = "discard"
    SKIP = "skip"  # nothing of this message's own: a duplicate, an older copy, ended elsewhere
    REQUEUE = "requeue"  # the state store did not answer: the message goes back to its queue


@dataclass(frozen=True)
class Report:
    """How one message's task ends in Celery: ``error`` for a failure, a retry or a requeue,
    ``countdown`` for a retry, ``expired`` for a discard."""

    end: End
    error: BaseException | str | None = None
    countdown: float = 0.0
    expired: bool = False


SUCCESS = Report(End.SUCCESS)
SKIP = Report(End.SKIP)
