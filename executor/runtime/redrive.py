"""Redrive: invoke an invocation that ended FAIL or DISCARD again, with its payload.

A redrive of ``<id>`` gets the derived id ``<id>.r1``, the next one ``<id>.r2``, and a redrive
of a redrive counts on from the same original. The derived id goes through idempotent
acceptance, so two operators redriving the same invocation at once get the same id and queue
one invocation; while the last redrive has not ended, asking again returns it.
"""

from __future__ import annotations

from executor.core.errors import InvalidParameter, InvocationNotFound
from executor.core.invocation import Invocation, Status
from executor.runtime.admission import Admission
from executor.runtime.start import Start
from executor.state.functions import Functions
from executor.state.records import Records

REDRIVABLE = (Status.FAIL, Status.DISCARD)
# The most invocations one bulk redrive selects.
MAX_SELECT = 100_000
_PAGE = 500


def redrive_id(original: str, number: int) -> str:
    return f"{original}.r{number}"


class Redrives:
    """Redrives of ended invocations, numbered on their originals."""

    def __init__(self, records: Records, functions: Functions, admission: Admission) -> None:
        self.records = records
        self.functions = functions
        self.admission = admission

    def one(self, request_id: str) -> str:
        """The request id of the redrive of ``request_id`` (queued now, or already)."""
        invocation = self.records.get(request_id)
        if invocation is None:
            raise InvocationNotFound(
                f"no invocation {request_id!r}: the id is wrong or the record passed its retention"
            )
        if invocation.status not in REDRIVABLE:
            state = "succeeded" if invocation.status is Status.SUCCESS else "has not ended"
            raise InvalidParameter(
                f"invocation {request_id} {state} ({invocation.status.value}); only FAIL and "
                "DISCARD invocations can be redriven"
            )
        original = invocation.redrive_of
        if not original or self.records.record(original) is None:
            original = invocation.request_id
        root = self.records.record(original)
        number = root.redrives if root is not None else 0
        if number:
            latest = self.records.get(redrive_id(original, number))
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
        return self._accept(invocation, original, number)

    def _accept(self, invocation: Invocation, original: str, number: int) -> str:
        urn = self.functions.resolve(invocation.function_urn)
        entry = self.functions.lookup(urn)
        config = self.functions.configs.effective(urn, entry.default_config)
        record = self.records.record(invocation.request_id)
        return self.admission.start(
            Start(
                entry=entry,
                payload=invocation.payload,
                payload_json=record.payload_json if record is not None else "null",
                max_age=config.max_async_event_age_in_seconds,
                chain=invocation.chain,
                request_id=redrive_id(original, number),
                origin=invocation.origin,
                redrive_of=original,
                redrive_number=number,
            )
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
        urn = str(self.functions.resolve(function))
        found: list[str] = []
        seen: set[str] = set()
        marker: str | None = None
        while len(found) < limit:
            page = self.records.page(
                urn,
                status=wanted,
                since=since,
                until=until,
                limit=min(_PAGE, limit - len(found)),
                marker=marker,
            )
            for invocation in page.invocations:
                original = invocation.redrive_of or invocation.request_id
                if original not in seen:
                    seen.add(original)
                    found.append(original)
            marker = page.next_marker
            if marker is None:
                break
        return found
