"""The order a worker on Redis takes its queues in, with a queue per function
(``EXECUTOR_FAIR_QUEUES``): projects take turns, and within a project its functions do.

Kombu's Redis transport waits on all of a worker's queues with one BRPOP, which answers from
the first non-empty queue of the list, and then tells the cycle which queue the message came
from. Its own round-robin moves that queue to the end, so a project with ten busy functions
would get ten turns for another project's one; here the whole project moves behind the others,
its used queue last among its own.
"""

from __future__ import annotations

from kombu.utils.scheduling import round_robin_cycle

from executor.core.catalogue import queue_project


class ProjectCycle(round_robin_cycle):
    """Round-robin over projects, then over each project's queues."""

    def rotate(self, last_used: str) -> str:
        items: list[str] = self.items
        if last_used not in items:
            return last_used
        items.remove(last_used)
        project = queue_project(last_used)
        own = [q for q in items if queue_project(q) == project]
        others = [q for q in items if queue_project(q) != project]
        items[:] = [*others, *own, last_used]
        return last_used
