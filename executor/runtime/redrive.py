"""Redrive: invoke an invocation that ended FAIL or DISCARD again, with its payload.

A redrive of ``<id>`` gets the derived id ``<id>.r1``, the next one ``<id>.r2``, and a redrive
of a redrive counts on from the same original. The derived id goes through idempotent
acceptance, so two operators redriving the same invocation at once get the same id and queue
one invocation; while the last redrive has not ended, asking again returns it.
"""

from __future__ import annotations

import json
from typing import Protocol

from executor.core.errors import InvalidParameter
from executor.core.invocation import Invocation, InvocationPage, Status
from executor.runtime.functions import Functions
from executor.runtime.lifecycle import Lifecycle
from executor.state.store import Store

REDRIVABLE = (Status.FAIL, Status.DISCARD)
# The most invocations one bulk redrive selects.
MAX_SELECT = 100_000
_PAGE = 500


def redrive_id(original: str, number: int) -> str:
    return f"{original}.r{number}"


class Reader(Protocol):
    """How invocations are read: the client's ``get_invocation`` and ``list_invocations``."""

    def get_invocation(self, request_id: str) -> Invocation: ...

    def list_invocations(
        self,
        function: str,
        status: Status | str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        marker: str | None = None,
    ) -> InvocationPage: ...


class Redrives:
    def __init__(
        self, reader: Reader, store: Store, functions: Functions, lifecycle: Lifecycle
    ) -> None:
        self.reader = reader
        self.store = store
        self.functions = functions
        self.lifecycle = lifecycle

    def one(self, request_id: str) -> str:
        """The request id of the redrive of ``request_id`` (queued now, or already)."""
        record = self.reader.get_invocation(request_id)
        if record.status not in REDRIVABLE:
            state = "succeeded" if record.status is Status.SUCCESS else "has not ended"
            raise InvalidParameter(
                f"invocation {request_id} {state} ({record.status.value}); only FAIL and "
                "DISCARD invocations can be redriven"
            )
        original = (
            record.redrive_of if record.redrive_of and self.store.raw(record.redrive_of) else ""
        )
        original = original or record.request_id
        number = self.store.control.redrives(original)
        if number:
            latest = self.store.get(redrive_id(original, number))
            if latest is not None:
                if not latest.status.terminal:
                    return latest.request_id
                if latest.status is Status.SUCCESS:
                    raise InvalidParameter(
                        f"invocation {original} was redriven as {latest.request_id}, which "
                        "succeeded; nothing to redrive"
                    )
                number += 1
        else:
            number = 1
        return self._accept(record, original, number)

    def _accept(self, record: Invocation, original: str, number: int) -> str:
        urn = self.functions.resolve(record.function_urn)
        entry = self.functions.lookup(urn)
        config = self.functions.configs.effective(urn, entry.default_config)
        raw = self.store.raw(record.request_id)
        return self.lifecycle.accept(
            entry,
            request_id=redrive_id(original, number),
            payload=record.payload,
            payload_json=raw.get("payload", json.dumps(record.payload)),
            chain=record.chain,
            max_age=config.max_async_event_age_in_seconds,
            origin=record.origin,
            redrive_of=original,
            redrive_number=number,
        )

    def select(
        self,
        function: str,
        status: Status | str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 1000,
    ) -> list[str]:
        """Request ids of ``function`` that ended with ``status``, newest first; a redrive that
        is listed counts as its original, so each original is named once."""
        wanted = Status(str(status).upper()) if str(status).upper() in Status.__members__ else None
        if wanted not in REDRIVABLE:
            raise InvalidParameter(f"status must be FAIL or DISCARD, not {status!r}")
        if not 1 <= limit <= MAX_SELECT:
            raise InvalidParameter(f"limit must be between 1 and {MAX_SELECT}")
        found: list[str] = []
        seen: set[str] = set()
        marker: str | None = None
        while len(found) < limit:
            page = self.reader.list_invocations(
                function,
                status=wanted,
                since=since,
                until=until,
                limit=min(_PAGE, limit - len(found)),
                marker=marker,
            )
            for record in page.invocations:
                original = record.redrive_of or record.request_id
                if original not in seen:
                    seen.add(original)
                    found.append(original)
            marker = page.next_marker
            if marker is None:
                break
        return found
