"""The one place the engine reaches into Celery and kombu where they give no public hook.

Each name here is an implementation detail of the installed Celery or kombu, checked by a unit
test that fails when an upgrade changes it:

- a worker stops after an unrecoverable error, or on its own decision, by setting
  ``celery.worker.state.should_stop`` (what ``celery.worker.state.maybe_shutdown`` reads) to
  an exit status: Celery has no call for a warm shutdown with a status;
- whether a worker holds messages: ``celery.worker.state.active_requests`` and
  ``reserved_requests``;
- Celery logs "Unrecoverable error" below the ``celery`` logger before a worker that cannot go
  on waits for its pool, and sends no signal then;
- kombu's Redis transport keeps the messages delivered and not yet acknowledged in a hash named
  by ``Channel.unacked_key``.

The worker's consumer (``intake.Consumer``) overrides three of Celery's consumer methods; its
test checks they are still there.
"""

from __future__ import annotations

from typing import Any, Final

from celery.platforms import EX_FAILURE
from celery.worker import state

# The logger Celery's own loggers hang below (the worker module logs as "celery.worker").
CELERY_LOGGER: Final = "celery"
# The start of what Celery logs when a worker cannot go on.
UNRECOVERABLE: Final = "Unrecoverable error"


def request_stop(status: int = EX_FAILURE) -> None:
    """Ask this process's worker for a warm shutdown that ends with exit ``status``."""
    state.should_stop = status


def worker_busy() -> bool:
    """Whether this process's worker runs or holds a message."""
    return bool(state.active_requests or state.reserved_requests)


def unacknowledged(channel: Any) -> int:
    """How many messages kombu's Redis ``channel`` delivered and has not seen acknowledged."""
    return int(channel.client.hlen(channel.unacked_key))
