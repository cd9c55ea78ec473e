"""Operating the dead-letter store: list and read events, send them again, purge them.

Sending an event again (``resend``) queues it through the normal delivery task, with a fresh
delivery deadline; an event that cannot be queued goes back into the store.
"""

from __future__ import annotations

from collections.abc import Iterable

from executor.core.errors import DeadLetterNotFound, InvalidParameter, Unavailable
from executor.core.messages import DeadLetter
from executor.runtime.delivery import Deliveries
from executor.state.dead_letters import DeadLetterStore


class DeadLetters:
    """List, show, send again and purge the dead-letter store."""

    def __init__(self, store: DeadLetterStore, deliveries: Deliveries) -> None:
        self.store = store
        self.deliveries = deliveries

    def count(self) -> int:
        return self.store.count()

    def page(self, limit: int = 100, offset: int = 0) -> tuple[DeadLetter, ...]:
        """Oldest first."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidParameter("limit must be between 1 and 1000, offset 0 or more")
        return tuple(DeadLetter.model_validate_json(e) for e in self.store.page(offset, limit))

    def identities(self) -> list[str]:
        return self.store.identities()

    def get(self, identity: str) -> DeadLetter:
        raw = self.store.get(identity)
        if raw is None:
            raise DeadLetterNotFound(
                f"no dead-lettered event {identity!r}: it was sent again or purged, or the "
                "identity is wrong (see 'executor dlq list')"
            )
        return DeadLetter.model_validate_json(raw)

    def resend(self, identities: Iterable[str]) -> list[str]:
        """Queue each event again for its destination; the identities that were queued.

        An identity that is not (or no longer) in the store is skipped.
        """
        queued = []
        for identity in identities:
            raw = self.store.take(identity)
            if raw is None:
                continue
            letter = DeadLetter.model_validate_json(raw)
            try:
                self.deliveries.resend_dead_letter(letter)
            except Exception as exc:
                self.store.put_back(identity, raw, letter.at)
                raise Unavailable(
                    f"the broker did not take the event {identity} sent again ({exc}); it is "
                    "still in the dead-letter store, check EXECUTOR_BROKER_URL and retry"
                ) from exc
            queued.append(identity)
        return queued

    def purge(self, identities: Iterable[str]) -> int:
        """Delete events for good; how many there were."""
        return self.store.purge(list(identities))

    def purge_all(self) -> int:
        return self.store.purge_all()
