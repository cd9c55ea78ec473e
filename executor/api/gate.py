"""What every request passes before routing: the size of its headers, its whole body read in
time and within the limit, then authentication.

The body is read here, once, for every route: a route is given it only once it has arrived in
full. uvicorn ends a body it cannot finish (the client closed or half-closed the connection
before ``Content-Length`` was reached, a chunk line h11 refused) with ``http.disconnect``, not an
error; taken as the end of the body, that handed a route the part that had arrived, and it was
recorded. A request whose body is cut short reaches no route, and one whose body does not
arrive within ``EXECUTOR_API_READ_TIMEOUT`` is answered 408 and its connection closed.
"""

from __future__ import annotations

import asyncio

from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from executor.api.auth import Authenticator
from executor.api.lambda_errors import lambda_error
from executor.api.lambda_paths import is_lambda_path
from executor.api.signing import HttpRequest
from executor.api.wire import ErrorBody
from executor.core.constants import HEADER_LIMIT
from executor.core.errors import (
    ExecutorError,
    HeadersTooLarge,
    InvalidParameter,
    PayloadTooLarge,
    ProjectDenied,
    RequestTimeout,
)


class _Cut(Exception):
    """The connection ended before the body did: there is no one left to answer."""


class Gate:
    """ASGI middleware: refuses headers above ``HEADER_LIMIT``, a body above the limit or one
    that does not arrive in full within ``read_timeout`` seconds, then a caller without a valid
    credential for the project in the path, before anything is parsed or routed."""

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, limit: int, read_timeout: float
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limit = limit
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_headers(scope)
            async with asyncio.timeout(self.read_timeout):
                body = await self._read(scope, receive)
            self._authenticate(scope, body)
        except _Cut:
            return
        except TimeoutError:
            exc = RequestTimeout(
                f"the request's body did not arrive in full within {self.read_timeout:g} "
                "seconds (EXECUTOR_API_READ_TIMEOUT); send it whole, as its Content-Length "
                "or chunks declare"
            )
            await refusal(scope, exc, close=True)(scope, receive, send)
            return
        except (HeadersTooLarge, PayloadTooLarge) as exc:
            await refusal(scope, exc, close=True)(scope, receive, send)
            return
        except ExecutorError as exc:
            await refusal(scope, exc)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        declared = _headers(scope).get("content-length")
        if declared is not None:
            declared = declared.strip()
            if not (declared.isascii() and declared.isdigit()):
                raise InvalidParameter("Content-Length must be a number of bytes")
            if int(declared) > self.limit:
                raise self._too_large(int(declared))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Cut
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise self._too_large(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is {size} bytes, above the limit of {self.limit}; send a smaller "
            "payload, or a reference to where the data is stored"
        )

    def _authenticate(self, scope: Scope, body: bytes) -> None:
        path: str = scope["path"]
        if not path.startswith("/v2/"):
            return
        raw_path: bytes = scope.get("raw_path") or path.encode()
        request = HttpRequest(
            method=scope["method"],
            raw_path=raw_path.decode("utf-8", "replace"),
            query=scope.get("query_string", b"").decode("utf-8", "replace"),
            headers=_headers(scope),
            body=body,
        )
        principal = self.authenticator.authenticate(request)
        project = path.split("/")[2]
        if project:
            principal.require(project)
        named = request.header("x-project-id")
        if named is not None and named != project:
            raise ProjectDenied(
                f"X-Project-Id names project {named!r} but the path names {project!r}"
            )


def refusal(scope: Scope, exc: ExecutorError, *, close: bool = False) -> Response:
    """The answer to a request refused before routing: Lambda's paths answer in Lambda's shape,
    so its SDKs raise the matching class; ``close`` as in ``error_response``."""
    if not is_lambda_path(scope["path"]):
        return error_response(exc, close=close)
    response = lambda_error(exc).response()
    if close:
        response.headers["connection"] = "close"
    return response


def error_response(exc: ExecutorError, *, close: bool = False) -> JSONResponse:
    """The API's answer to ``exc``; ``close`` ends the connection after it, for a request
    whose body is left unread."""
    response = error_json(exc.code, exc.message, exc.http_status)
    if close:
        response.headers["connection"] = "close"
    return response


def error_json(code: str, message: str, status: int) -> JSONResponse:
    # A message may quote what the caller sent, a lone surrogate included, which UTF-8 cannot
    # carry: it is shown escaped rather than failing the answer.
    shown = message.encode("utf-8", "backslashreplace").decode()
    return JSONResponse(ErrorBody(error_code=code, error_msg=shown).model_dump(), status)


def _check_headers(scope: Scope) -> None:
    """h11 refuses headers past its limit only while they are still arriving: headers that
    arrive whole in one read are not measured. They are here, as h11 would count them."""
    size = len(scope["method"]) + len(scope.get("raw_path") or b"") + len(" HTTP/1.1\r\n\r\n")
    query: bytes = scope.get("query_string", b"")
    size += len(query) + 1 if query else 0
    size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
    if size > HEADER_LIMIT:
        raise HeadersTooLarge(
            f"the request line and headers are {size} bytes, above the limit of "
            f"{HEADER_LIMIT}; send smaller headers"
        )


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("utf-8", "replace"))
    return headers
