"""The catalogue workers publish, so a producer can route to a function it does not import."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from executor.core.config import AsyncConfig
from executor.core.constants import INVOCATION_QUEUE, INVOKE_TASK_PREFIX
from executor.core.flow import FlowConfig
from executor.core.urn import FunctionURN


def function_queue(urn: FunctionURN) -> str:
    """The queue of a function of its own (``EXECUTOR_FAIR_QUEUES``): one for all its versions,
    named by project, so an operator can see whose backlog it is."""
    return f"{INVOCATION_QUEUE}.{urn.project}.{urn.package}.{urn.name}"


def queue_project(queue: str) -> str:
    """The project a function's own queue belongs to; any other queue is a group of its own."""
    prefix = f"{INVOCATION_QUEUE}."
    return queue[len(prefix) :].partition(".")[0] if queue.startswith(prefix) else queue


def task_name(urn: FunctionURN) -> str:
    """The Celery task name of a function, readable in Flower."""
    return f"{INVOKE_TASK_PREFIX}{urn.package}:{urn.name}:{urn.qualifier}"


class CatalogueEntry(BaseModel):
    """What a producer needs to know of a function it does not import."""

    model_config = ConfigDict(frozen=True)

    urn: str
    task: str
    queue: str
    agency: str | None = None
    default_config: AsyncConfig | None = None
    flow: FlowConfig | None = None
    updated_at: float = 0.0
