"""The ``context`` argument a handler receives."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from executor.core.guard import ChainBroken, hop

if TYPE_CHECKING:
    from executor.runtime.client import Client


class Context:
    """What a running handler may know and do.

    ``invoke_async`` carries the call chain, so a handler that calls back into a function
    already running in its chain is refused instead of looping.
    """

    def __init__(
        self,
        *,
        client: Client,
        request_id: str,
        function_urn: str,
        attempt: int,
        deadline: float,
        chain: tuple[str, ...],
        function: str,
        logger: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self._client = client
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

    def invoke_async(self, function: str, payload: Any) -> str | None:
        """Invoke another function asynchronously; None when the chain guard drops the call."""
        try:
            return self._client.invoke_async(
                function,
                payload,
                chain=hop(self.chain, self._function),
                origin=self.request_id,
            )
        except ChainBroken as exc:
            self.logger.warning("%s", exc.message)
            return None
