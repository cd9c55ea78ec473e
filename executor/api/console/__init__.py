"""The console: configure, watch and repair async invocations in a browser, under ``/console``
of the API process.

Server-rendered pages (Jinja2), a stylesheet and a small script, all in this package: nothing
is fetched from elsewhere. A visitor signs in with the API's own credentials and sees only the
functions, invocations and dead letters of the project it signed in to.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from executor.api.auth import Authenticator
from executor.api.console import (
    activity,
    dead_letters,
    flow,
    functions,
    invocations,
    missing,
    signin,
)
from executor.api.console.charts import DrawnCharts
from executor.api.console.pages import ROOT
from executor.api.console.session import Sessions
from executor.core.settings import Settings


def mount_console(api: FastAPI, settings: Settings, authenticator: Authenticator) -> None:
    """Serve the console under ``/console`` of ``api`` (which holds the client in its state)."""
    api.state.console_sessions = Sessions(settings, authenticator)
    api.state.console_charts = DrawnCharts()
    # The static files first: the last router answers every other console path with a page.
    api.mount(
        f"{ROOT}/static",
        StaticFiles(packages=[("executor.api.console", "static")]),
        name="console-static",
    )
    for part in (signin, functions, activity, flow, invocations, dead_letters, missing):
        api.include_router(part.router, prefix=ROOT, include_in_schema=False)


__all__ = ["mount_console"]
