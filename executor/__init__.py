"""async-executor: run functions asynchronously on Celery and report every outcome.

from executor import FunctionApp

app = FunctionApp()

@app.function("hello")
def hello(event, context):
    return f"hello {event['name']}"
"""

from executor.app import FunctionApp
from executor.client import Client
from executor.config import AsyncConfig, DestinationConfig, DestinationRef, StoredAsyncConfig
from executor.context import Context
from executor.errors import (
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
    Unavailable,
)
from executor.events import ResultEvent
from executor.guard import ChainBroken
from executor.invocation import Invocation, InvocationPage, Status
from executor.settings import Settings, get_settings
from executor.urn import FunctionURN, parse_urn

__all__ = [
    "AccessDenied",
    "AliasNotAllowed",
    "AsyncConfig",
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
    "ResultEvent",
    "Settings",
    "Status",
    "StoredAsyncConfig",
    "Unavailable",
    "get_settings",
    "parse_urn",
]
