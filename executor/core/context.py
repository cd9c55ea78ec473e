"""The ``context`` argument a handler receives."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from executor.core.guard import ChainBroken, hop


class Invoker(Protocol):
    """What a handler's context calls to invoke another function (the client's method)."""

    def __call__(
        self,
        function: str,
        payload: Any = None,
        *,
        chain: Sequence[str] = (),
        request_id: str | None = None,
        origin: str = "",
        delay: float = 0,
        origin_deadline: float | None = None,
    ) -> str: ...


class Context:
    """What a running handler may know and do.

    ``invoke_async`` carries the call chain, so a handler that calls back into a function
    already running in its chain is refused instead of looping.
    """

    def __init__(
        self,
        *,
        invoke: Invoker,
        request_id: str,
        function_urn: str,
        attempt: int,
        deadline: float,
        chain: tuple[str, ...],
        function: str,
        logger: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self._invoke = invoke
        self.request_id = request_id
        self.function_urn = function_urn
        self.attempt = attempt
        self.deadline = deadline
        self.chain = chain
        self._function = function
        self.logger = logger

    @property
    def time_left(self) -> float:
        """Seconds until the message's deadline (enqueue time + max message age)."""
        return max(0.0, self.deadline - time.time())

    def invoke_async(
        self, function: str, payload: Any, *, request_id: str | None = None, delay: float = 0
    ) -> str | None:
        """Invoke another function asynchronously; None when the chain guard drops the call.

        The call is recorded as started by this invocation (a recursive cancel reaches it).
        A ``request_id`` makes it idempotent across this handler's retries; ``delay`` as in
        ``Client.invoke_async``.
        """
        try:
            return self._invoke(
                function,
                payload,
                chain=hop(self.chain, self._function),
                origin=self.request_id,
                request_id=request_id,
                delay=delay,
                origin_deadline=self.deadline,
            )
        except ChainBroken as exc:
            self.logger.warning("%s", exc.message)
            return None


Handler = Callable[[Any, Context], Any]
"""A function's code: ``handler(event, context)``."""
