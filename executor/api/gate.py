"""What every request passes before routing: the body limit, then authentication."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from executor.api.auth import Authenticator
from executor.api.lambda_errors import lambda_error
from executor.api.lambda_paths import is_lambda_path
from executor.api.signing import HttpRequest
from executor.api.wire import ErrorBody
from executor.core.errors import ExecutorError, InvalidParameter, PayloadTooLarge, ProjectDenied


class Gate:
    """ASGI middleware: refuses a body above the limit, then a caller without a valid
    credential for the project in the path, before anything is parsed or routed."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, limit: int) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
            self._authenticate(scope, body)
        except ExecutorError as exc:
            # Lambda's paths answer in Lambda's shape, so its SDKs raise the matching class.
            lambda_path = is_lambda_path(scope["path"])
            refusal = lambda_error(exc).response() if lambda_path else error_response(exc)
            await refusal(scope, receive, send)
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
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise self._too_large(size)
            chunks.append(chunk)
            if message["type"] != "http.request" or not message.get("more_body", False):
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


def error_response(exc: ExecutorError) -> JSONResponse:
    return error_json(exc.code, exc.message, exc.http_status)


def error_json(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse(ErrorBody(error_code=code, error_msg=message).model_dump(), status)


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("utf-8", "replace"))
    return headers
