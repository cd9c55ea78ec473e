"""How a failure becomes an answer: every error is ``{"error_code", "error_msg"}`` with the
status of its ``ExecutorError``; a backing service that does not answer is a 503, and anything
unexpected a 500 whose details stay in the server's log."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from executor.api.gate import error_json, error_response
from executor.api.lambda_errors import lambda_http_error
from executor.api.lambda_paths import is_lambda_path
from executor.core.errors import ExecutorError, InvalidParameter, Unavailable
from executor.runtime.celery.errors import BrokerUnreachable
from executor.state.connection import STORE_DOWN

log = logging.getLogger("executor.api")


def answer_failures(api: FastAPI) -> None:
    """Install the handlers that turn each kind of failure into its answer."""
    api.add_exception_handler(ExecutorError, _on_executor_error)
    api.add_exception_handler(RequestValidationError, _on_validation_error)
    api.add_exception_handler(HTTPException, _on_http_error)
    for error in STORE_DOWN:
        api.add_exception_handler(error, _on_unreachable)
    api.add_exception_handler(BrokerUnreachable, _on_unreachable)
    api.add_exception_handler(Exception, _on_unexpected)


async def _on_executor_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ExecutorError)
    return error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where, *field = [str(part) for part in error.get("loc") or ("request",)]
        name = f" parameter {'.'.join(field)}" if field else ""
        problems.append(f"{where}{name}: {error.get('msg', 'invalid')}")
    return error_response(InvalidParameter("invalid request: " + "; ".join(problems)))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path if len(request.url.path) <= 200 else request.url.path[:200] + "..."
    if is_lambda_path(request.url.path):
        return lambda_http_error(exc.status_code, request.method, path, exc.headers)
    if exc.status_code == 404:
        message = f"there is no operation at {path}; /openapi.json lists them"
    elif exc.status_code == 405:
        message = f"{request.method} is not an operation of {path}"
    else:
        message = str(exc.detail)
    answer = error_json(f"FSS.{exc.status_code:04d}", message, exc.status_code)
    # A 405 names the methods the path takes (Allow), as HTTP asks.
    answer.headers.update(exc.headers or {})
    return answer


async def _on_unreachable(request: Request, exc: Exception) -> Response:
    return error_response(
        Unavailable(f"a backing service cannot be reached ({exc}); nothing was accepted, retry")
    )


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return error_response(ExecutorError("internal error; the server log has the details"))
