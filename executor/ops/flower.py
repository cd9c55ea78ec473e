"""``executor flower``: Flower on the app's Celery, behind basic auth from the settings.

Flower shows every invocation under its function's task name (``fn:package:name:qualifier``)
and every delivery as ``executor.deliver``. What it shows of their arguments comes from the
masked headers (see ``executor.runtime.celery.redaction``) unless ``EXECUTOR_SHOW_PAYLOADS`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from executor.core.errors import InvalidParameter
from executor.core.settings import Settings

if TYPE_CHECKING:
    from executor.runtime.celery.types import Celery

# The tasks page shows what an operator of invocations looks for: the masked arguments, the
# function's error and how often it was retried. FLOWER_TASKS_COLUMNS overrides it.
TASKS_COLUMNS = "name,uuid,state,kwargs,exception,retries,received,runtime,worker"

AUTH_HINT = (
    "set EXECUTOR_FLOWER_BASIC_AUTH to user:password (several: user1:pw1,user2:pw2); "
    "Flower shows every invocation and can stop workers, so it never runs without it"
)


def basic_auth(settings: Settings) -> str:
    """The validated ``user:password`` list, or an error that says how to set it."""
    value = settings.flower_basic_auth.get_secret_value().strip()
    if not value:
        raise InvalidParameter(f"Flower needs credentials: {AUTH_HINT}")
    for pair in value.split(","):
        user, sep, password = pair.partition(":")
        if not (sep and user.strip() and password):
            raise InvalidParameter(f"EXECUTOR_FLOWER_BASIC_AUTH is malformed: {AUTH_HINT}")
    return value


def flower_argv(
    *, port: int, address: str, url_prefix: str = "", extra: Sequence[str] = ()
) -> list[str]:
    argv = ["flower", f"--port={port}", f"--address={address}"]
    if url_prefix:
        argv.append(f"--url_prefix={url_prefix.strip('/')}")
    return [*argv, *extra]


def run_flower(
    celery: Celery,
    settings: Settings,
    *,
    port: int,
    address: str,
    url_prefix: str = "",
    extra: Sequence[str] = (),
) -> None:
    """Run Flower in this process until it is stopped (SIGTERM or Ctrl-C)."""
    # Flower reads FLOWER_* variables; the credentials go there rather than into the command
    # line, which any user of the host can read with ps.
    os.environ["FLOWER_BASIC_AUTH"] = basic_auth(settings)
    os.environ.setdefault("FLOWER_TASKS_COLUMNS", TASKS_COLUMNS)
    celery.start(argv=flower_argv(port=port, address=address, url_prefix=url_prefix, extra=extra))
