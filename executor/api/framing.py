"""The HTTP server's own refusals, answered with the API's error body.

uvicorn refuses a request that h11 cannot read before the application sees it: a
``Content-Length`` that is not a number of bytes (``abc``, ``-1``, one too long for h11, two
that differ), ``Transfer-Encoding`` other than chunked, a request line or header name that is
not HTTP, headers that keep arriving past 16 KiB (headers that arrive whole in one read are
measured by the gate instead). It answers with a plain-text 400. This
protocol, which ``executor api`` runs uvicorn with, answers the same refusals with
``{"error_code", "error_msg"}``, the status h11 suggests (400, or 431 for headers too large)
and h11's reason. Everything else, the server's framing included, is left to uvicorn.
"""

from __future__ import annotations

import sys
from http import HTTPStatus

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from executor.api.wire import ErrorBody

_HINT = {
    400: "fix the request line, the headers or the framing of the body",
    431: "send smaller headers",
}


class JsonRefusals(H11Protocol):
    """uvicorn's h11 protocol with its refusal of an unreadable request in the API's shape."""

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this while it handles h11's RemoteProtocolError, which says why.
        error = sys.exc_info()[1]
        reason = str(error) if isinstance(error, h11.RemoteProtocolError) else msg
        status = getattr(error, "error_status_hint", 400)
        status = status if status in _HINT else 400
        body = ErrorBody(
            error_code=f"FSS.{status:04d}",
            error_msg=f"the request is not valid HTTP/1.1 ({reason[:200]}); {_HINT[status]}",
        ).model_dump_json()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase),
            h11.Data(data=body.encode()),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
