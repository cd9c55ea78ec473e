"""Lambda's refusals: ``{"Type": "User", "message": ...}`` with the error type in the body's
``__type`` and the ``x-amzn-ErrorType`` header, so botocore raises the matching exception class
(``client.exceptions.InvalidParameterValueException`` and the like)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from fastapi.responses import JSONResponse

from executor.core.errors import (
    AccessDenied,
    ExecutorError,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    ProjectDenied,
    RequestIdConflict,
    Unauthenticated,
    Unavailable,
)

INVALID_PARAMETER: Final = "InvalidParameterValueException"
NOT_FOUND: Final = "ResourceNotFoundException"
SERVICE: Final = "ServiceException"


class LambdaError(Exception):
    """A refusal in Lambda's terms: its error type, HTTP status and message."""

    def __init__(self, error_type: str, status: int, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        kind = "Server" if self.status >= 500 else "User"
        headers = {"x-amzn-ErrorType": self.error_type}
        if self.error_type == "TooManyRequestsException":
            headers["Retry-After"] = "1"
        return JSONResponse(
            {"Type": kind, "message": self.message, "__type": self.error_type},
            self.status,
            headers=headers,
        )


# The engine's errors as Lambda's, most specific first.
_TYPES: Final[tuple[tuple[type[ExecutorError], str, int], ...]] = (
    (PayloadTooLarge, "RequestTooLargeException", 413),
    (InvalidParameter, INVALID_PARAMETER, 400),
    (AccessDenied, INVALID_PARAMETER, 400),
    (NotFound, NOT_FOUND, 404),
    (RequestIdConflict, "ResourceConflictException", 409),
    (Unauthenticated, "UnrecognizedClientException", 403),
    (ProjectDenied, "AccessDeniedException", 403),
    (Unavailable, "TooManyRequestsException", 429),
)


def lambda_error(exc: ExecutorError) -> LambdaError:
    for kind, error_type, status in _TYPES:
        if isinstance(exc, kind):
            message = exc.message
            if isinstance(exc, PayloadTooLarge):
                # Lambda takes 1 MB; this server's own limit is lower.
                message += " (the limit is EXECUTOR_PAYLOAD_LIMIT of this server)"
            return LambdaError(error_type, status, message)
    return LambdaError(SERVICE, 500, exc.message)


def lambda_http_error(
    status: int, method: str, path: str, headers: Mapping[str, str] | None
) -> JSONResponse:
    """The router's own 404 and 405 on a path of the Lambda API."""
    if status == 404:
        error = not_found(f"there is no operation of the Lambda API at {path}")
    elif status == 405:
        error = LambdaError(
            "MethodNotAllowedException", 405, f"{method} is not an operation of {path}"
        )
    else:
        error = LambdaError(INVALID_PARAMETER, status, f"{method} {path} is refused")
    answer = error.response()
    answer.headers.update(headers or {})
    return answer


def invalid(message: str) -> LambdaError:
    return LambdaError(INVALID_PARAMETER, 400, message)


def not_found(message: str) -> LambdaError:
    return LambdaError(NOT_FOUND, 404, message)
