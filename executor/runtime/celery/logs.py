"""Structured logs: one JSON object per line when ``EXECUTOR_LOG_FORMAT=json``.

Every line logged while an invocation or a delivery is handled carries its ``request_id`` and
``function_urn`` (and, when it is traced, the OpenTelemetry ``trace_id`` and ``span_id``),
whether it comes from this package, from a handler's ``context.logger`` or from Celery itself.
Lines hold what the code logged and nothing else: no task arguments, so payloads, result
events and credentials stay out unless ``EXECUTOR_SHOW_PAYLOADS`` lets Celery's own lines show
arguments.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from celery import current_task, signals
from celery.utils.log import get_multiprocessing_logger

from executor.core.constants import DELIVER_TASK, INVOKE_TASK_PREFIX
from executor.core.settings import Settings
from executor.runtime import tracing

_CONTEXT_FIELDS = ("request_id", "function_urn", "task", "trace_id", "span_id")
_OUTCOMES = (":success", ":failure")


class TaskContext(logging.Filter):
    """Adds the request id, function URN and task name of the line's invocation or delivery."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        traced = tracing.ids()
        if traced is not None:
            record.trace_id, record.span_id = traced
        if getattr(record, "request_id", None):
            return True
        task = current_task  # a proxy of the running task, false when none runs
        if task and task.request.id:
            self._from_request(record, str(task.name), task.request.id, task.request.kwargs or {})
        elif isinstance(record.args, dict) and "id" in record.args and "name" in record.args:
            # Celery's own task lines (received, succeeded, retry) pass the message as a dict.
            self._from_request(record, str(record.args["name"]), str(record.args["id"]), {})
        return True

    def _from_request(
        self, record: logging.LogRecord, name: str, task_id: str, kwargs: dict[str, Any]
    ) -> None:
        urn = kwargs.get("urn") or kwargs.get("function_urn") or self._urn_of(name)
        request_id = kwargs.get("request_id") or task_id
        if name == DELIVER_TASK and request_id.endswith(_OUTCOMES):
            request_id = request_id.rsplit(":", 1)[0]
        record.request_id = request_id
        record.task = name
        if urn:
            record.function_urn = urn

    def _urn_of(self, task_name: str) -> str:
        if not task_name.startswith(INVOKE_TASK_PREFIX):
            return ""
        package, _, rest = task_name.removeprefix(INVOKE_TASK_PREFIX).partition(":")
        return (
            f"urn:fss:{self.settings.region}:{self.settings.project_id}:function:{package}:{rest}"
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for field in _CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value:
                line[field] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def structure(logger: logging.Logger, settings: Settings) -> None:
    """Give every handler of ``logger`` the task context, and JSON lines if asked."""
    for handler in logger.handlers:
        if not any(isinstance(f, TaskContext) for f in handler.filters):
            handler.addFilter(TaskContext(settings))
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter())
    if settings.log_format == "json":
        # Warnings (Celery's, when run as root, say) would otherwise bypass the JSON lines.
        logging.captureWarnings(True)


def configure(settings: Settings, level: str | int = "INFO") -> None:
    """Set up the root logger of a process that Celery does not set up (API, CLI)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s: %(levelname)s/%(name)s] %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    structure(root, settings)


def connect(settings: Settings, uid: str) -> None:
    """Structure the worker's loggers with ``settings`` (connected once per app, by ``uid``)."""

    def logger_set_up(sender: Any = None, logger: logging.Logger | None = None, **_: Any) -> None:
        if logger is not None:
            structure(logger, settings)
            # The pool's own logger (a child process lost, say) has a handler of its own.
            pool_logger = get_multiprocessing_logger()
            if pool_logger is not None:
                structure(pool_logger, settings)

    def worker_init(sender: Any = None, options: dict[str, Any] | None = None, **_: Any) -> None:
        """With JSON asked for, set logging up before Celery's first warnings, not after them."""
        if settings.log_format == "json":
            level = (options or {}).get("loglevel") or "INFO"
            configure(settings, level.upper() if isinstance(level, str) else int(level))

    signals.celeryd_init.connect(worker_init, weak=False, dispatch_uid=f"{uid}-log-init")
    signals.after_setup_logger.connect(logger_set_up, weak=False, dispatch_uid=f"{uid}-log")
    signals.after_setup_task_logger.connect(
        logger_set_up, weak=False, dispatch_uid=f"{uid}-task-log"
    )
