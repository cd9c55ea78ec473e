"""What task events and Celery's own log lines may show of a message's arguments.

Flower and Celery's log lines read the ``argsrepr`` and ``kwargsrepr`` headers of a message,
never its body, so masking those headers keeps payloads and result events out of both. Celery
rebuilds a retried message from the running request and would compute fresh headers from the
real arguments; ``MaskedTask`` carries the masked headers over to the new message.
"""

from __future__ import annotations

from typing import Any, ClassVar

from celery import Task

from executor.core.settings import Settings

MASKED = "<masked>"


def invocation_repr(settings: Settings, urn: str) -> str | None:
    """The ``kwargsrepr`` of an invocation message; None lets Celery show the arguments."""
    if settings.show_payloads:
        return None
    return repr({"urn": urn, "payload": MASKED})


def delivery_repr(settings: Settings, request_id: str, kind: str) -> str | None:
    """The ``kwargsrepr`` of a delivery message, whose arguments carry the whole event."""
    if settings.show_payloads:
        return None
    return repr({"request_id": request_id, "to": kind, "event": MASKED})


class MaskedTask(Task):  # type: ignore[misc]
    """A task whose retries keep the masked argument headers of the message they replace.

    ``show_payloads`` is set on the task classes of an app that shows payloads.
    """

    show_payloads: ClassVar[bool] = False

    def signature_from_request(
        self,
        request: Any = None,
        args: Any = None,
        kwargs: Any = None,
        queue: str | None = None,
        **extra_options: Any,
    ) -> Any:
        request = self.request if request is None else request
        if not self.show_payloads:
            for header in ("argsrepr", "kwargsrepr"):
                value = getattr(request, header, None)
                if value is not None:
                    extra_options.setdefault(header, value)
        return super().signature_from_request(request, args, kwargs, queue, **extra_options)
