"""async-executor: run functions asynchronously on Celery and report every outcome.

from executor import FunctionApp

app = FunctionApp()

@app.function("hello")
def hello(event, context):
    return f"hello {event['name']}"

The names below load on first use, so importing a leaf module (``executor.core.urn``) does not
bring in Celery, Redis or boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "FunctionApp": "executor.runtime.celery.app",
    "Client": "executor.runtime.client",
    "Context": "executor.core.context",
    "AsyncConfig": "executor.core.config",
    "DestinationConfig": "executor.core.config",
    "DestinationRef": "executor.core.config",
    "StoredAsyncConfig": "executor.core.config",
    "AccessDenied": "executor.core.errors",
    "AliasNotAllowed": "executor.core.errors",
    "ConfigNotFound": "executor.core.errors",
    "CycleDetected": "executor.core.errors",
    "ExecutorError": "executor.core.errors",
    "FunctionNotFound": "executor.core.errors",
    "InvalidParameter": "executor.core.errors",
    "InvalidURN": "executor.core.errors",
    "InvocationNotFound": "executor.core.errors",
    "NotFound": "executor.core.errors",
    "PayloadTooLarge": "executor.core.errors",
    "RequestIdConflict": "executor.core.errors",
    "Unavailable": "executor.core.errors",
    "ResultEvent": "executor.core.events",
    "ChainBroken": "executor.core.guard",
    "Cancellation": "executor.core.invocation",
    "Invocation": "executor.core.invocation",
    "InvocationPage": "executor.core.invocation",
    "Status": "executor.core.invocation",
    "Settings": "executor.core.settings",
    "get_settings": "executor.core.settings",
    "FunctionURN": "executor.core.urn",
    "parse_urn": "executor.core.urn",
    "RetryAfter": "executor.core.retry",
}

__all__ = [
    "AccessDenied",
    "AliasNotAllowed",
    "AsyncConfig",
    "Cancellation",
    "ChainBroken",
    "Client",
    "ConfigNotFound",
    "Context",
    "CycleDetected",
    "DestinationConfig",
    "DestinationRef",
    "ExecutorError",
    "FunctionApp",
    "FunctionNotFound",
    "FunctionURN",
    "InvalidParameter",
    "InvalidURN",
    "Invocation",
    "InvocationNotFound",
    "InvocationPage",
    "NotFound",
    "PayloadTooLarge",
    "RequestIdConflict",
    "ResultEvent",
    "RetryAfter",
    "Settings",
    "Status",
    "StoredAsyncConfig",
    "Unavailable",
    "get_settings",
    "parse_urn",
]

if TYPE_CHECKING:
    from executor.core.config import (
        AsyncConfig,
        DestinationConfig,
        DestinationRef,
        StoredAsyncConfig,
    )
    from executor.core.context import Context
    from executor.core.errors import (
        AccessDenied,
        AliasNotAllowed,
        ConfigNotFound,
        CycleDetected,
        ExecutorError,
        FunctionNotFound,
        InvalidParameter,
        InvalidURN,
        InvocationNotFound,
        NotFound,
        PayloadTooLarge,
        RequestIdConflict,
        Unavailable,
    )
    from executor.core.events import ResultEvent
    from executor.core.guard import ChainBroken
    from executor.core.invocation import Cancellation, Invocation, InvocationPage, Status
    from executor.core.retry import RetryAfter
    from executor.core.settings import Settings, get_settings
    from executor.core.urn import FunctionURN, parse_urn
    from executor.runtime.celery.app import FunctionApp
    from executor.runtime.client import Client


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'executor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
