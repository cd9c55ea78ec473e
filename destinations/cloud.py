"""The destinations' client libraries that come with an extra (boto3 with ``[aws]``).

A worker installed without them still runs every function whose destinations do not need them;
a delivery that does fails once, permanently, with a line that names the extra, and its event
waits in the dead-letter store to be sent again once the extra is installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from destinations.base import PermanentDeliveryError
from executor.core import extras


@contextmanager
def needs_extra(what: str) -> Iterator[None]:
    """Around the import of a client library: a missing one is a permanent delivery error."""
    try:
        yield
    except ModuleNotFoundError as exc:
        extra = extras.extra_of(exc.name)
        if extra is None:
            raise
        # boto3 for botocore too: the package a user installs, not the one found missing first.
        package = extras.MODULES[extra][0]
        raise PermanentDeliveryError(
            f"{what} needs {package}, which is not installed on this worker: "
            f"{extras.install_hint(extra)} on the workers, then send the dead letter again"
        ) from None
