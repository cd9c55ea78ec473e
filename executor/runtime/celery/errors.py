"""The errors of Celery and kombu that code above the seam catches."""

from __future__ import annotations

from celery.exceptions import Terminated
from kombu.exceptions import OperationalError

# The broker did not answer (kombu's name for it): a request is answered with 503.
BrokerUnreachable = OperationalError

# What stops a function's handler when its task is revoked with ``terminate``: never a failure
# of the function.
STOPS: tuple[type[BaseException], ...] = (Terminated,)

__all__ = ["STOPS", "BrokerUnreachable"]
