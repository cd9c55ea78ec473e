"""The HTTP server's own refusals, answered with the API's error body.

uvicorn refuses a request that h11 cannot read before the application sees it: a
``Content-Length`` that is not a number of bytes (``abc``, ``-1``, one too long for h11, two
that differ), ``Transfer-Encoding`` other than chunked, a request line or header name that is
not HTTP, headers that keep arriving past 16 KiB (headers that arrive whole in one read are
measured by the gate instead). It answers with a plain-text 400. This
protocol, which ``executor api`` runs uvicorn with, answers the same refusals with
``{"error_code", "error_msg"}``, the status h11 suggests (400, or 431 for headers too large)
and h11's reason. Everything else, the server's framing included, is left to uvicorn.

A client that half-closes its side of the connection is answered too, where uvicorn would close
it without a word: in the middle of a body, h11 is told the body will not be finished and
refuses it (``peer closed connection without sending complete message body``) like any other
framing error, so the client learns that nothing was accepted (``Gate`` hands a route a body
only once all of it has arrived); after a whole request, its answer (an invocation's request
id) is sent before the connection is closed.

uvicorn bounds the wait for a request's headers only while nothing arrives between requests
(its keep-alive timer, which any data cancels); on a new connection, or once a byte has come,
it waits for ever. Here a request's headers have ``head_timeout`` seconds
(``EXECUTOR_API_READ_TIMEOUT``) from the connection or the previous answer, after which the
connection is closed, as uvicorn closes an idle one: there is no request yet to answer.
"""

from __future__ import annotations

import asyncio
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

    _answer_then_close = False
    head_timeout: float | None = None

    @classmethod
    def reading_within(cls, seconds: float) -> type[JsonRefusals]:
        """This protocol with each request's headers due within ``seconds``."""
        return type(cls.__name__, (cls,), {"head_timeout": seconds})

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_arrived()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        """Give the next request's headers ``head_timeout`` seconds (data arriving does not
        reset it, unlike uvicorn's keep-alive timer, so a trickle cannot hold it open)."""
        if self.head_timeout is not None and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE:
            self.timeout_keep_alive_handler()  # closes the connection, as for an idle one

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio.Protocol's own
        if self.conn.our_state is not h11.SEND_RESPONSE:
            return None  # nothing is owed: asyncio closes the connection, as uvicorn has it
        if self.conn.their_state is h11.SEND_BODY:
            self.conn.receive_data(b"")
            self.handle_events()  # h11 refuses the unfinished body: send_400_response answers
            return True
        if self.conn.their_state is h11.DONE:
            self._answer_then_close = True  # the request is whole: its answer is still owed
            return True
        return None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._answer_then_close:
            self.transport.close()
        elif self.conn.their_state is h11.IDLE:
            self._await_head()  # the next request on this connection

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
