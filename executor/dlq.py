"""The dead-letter store: events a destination refused for good or could not take in time.

The delivery task writes each one to the hash ``ae:dlq`` (by identity) and the sorted set
``ae:dlq:idx`` (by time). From here an operator lists and reads them, redrives them (queued
again through the normal delivery task, with a fresh delivery deadline) or purges them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict

from executor.delivery import mark
from executor.errors import DeadLetterNotFound, InvalidParameter, Unavailable
from executor.keys import DLQ, DLQ_INDEX
from executor.store import reachable

if TYPE_CHECKING:
    from executor.app import FunctionApp

# KEYS: dlq, index   ARGV: identity
# Taking an entry out is atomic, so two operators redriving at once queue it once.
_TAKE = """
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if entry then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return entry
"""


class DeadLetter(BaseModel):
    """One event that was not delivered, with why, where to and after how many attempts."""

    model_config = ConfigDict(frozen=True)

    identity: str
    request_id: str
    outcome: str
    destination: dict[str, Any]
    event: dict[str, Any]
    chain: tuple[str, ...] = ()
    function_urn: str
    agency: str | None = None
    reason: str
    attempts: int
    at: float

    @property
    def kind(self) -> str:
        return str(self.destination.get("destination", ""))

    def summary(self) -> dict[str, Any]:
        """What a listing shows: everything but the event itself."""
        return {
            "identity": self.identity,
            "function_urn": self.function_urn,
            "destination": self.kind,
            "reason": self.reason,
            "attempts": self.attempts,
            "at": datetime.fromtimestamp(self.at, tz=UTC).isoformat(timespec="seconds"),
        }


class DeadLetters:
    """List, show, redrive and purge the dead-letter store of one app."""

    def __init__(self, app: FunctionApp) -> None:
        self.app = app
        self.redis = app.client.store.redis
        self._take = self.redis.register_script(_TAKE)

    def count(self) -> int:
        with reachable():
            return int(self.redis.zcard(DLQ_INDEX))

    def page(self, limit: int = 100, offset: int = 0) -> tuple[DeadLetter, ...]:
        """Oldest first."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidParameter("limit must be between 1 and 1000, offset 0 or more")
        with reachable():
            identities = cast("list[str]", self.redis.zrange(DLQ_INDEX, offset, offset + limit - 1))
            if not identities:
                return ()
            entries = cast("list[str | None]", self.redis.hmget(DLQ, identities))
        return tuple(DeadLetter.model_validate_json(e) for e in entries if e)

    def identities(self) -> list[str]:
        with reachable():
            return cast("list[str]", self.redis.zrange(DLQ_INDEX, 0, -1))

    def get(self, identity: str) -> DeadLetter:
        with reachable():
            raw = cast("str | None", self.redis.hget(DLQ, identity))
        if raw is None:
            raise DeadLetterNotFound(
                f"no dead-lettered event {identity!r}: it was redriven or purged, or the "
                "identity is wrong (see 'executor dlq list')"
            )
        return DeadLetter.model_validate_json(raw)

    def redrive(self, identities: Iterable[str]) -> list[str]:
        """Queue each event again for its destination; the identities that were queued.

        An identity that is not (or no longer) in the store is skipped.
        """
        queued = []
        for identity in identities:
            with reachable():
                raw = cast("str | None", self._take(keys=[DLQ, DLQ_INDEX], args=[identity]))
            if raw is None:
                continue
            letter = DeadLetter.model_validate_json(raw)
            try:
                self._dispatch(letter)
            except Exception as exc:
                with reachable():
                    self.redis.hsetnx(DLQ, identity, raw)
                    self.redis.zadd(DLQ_INDEX, {identity: letter.at}, nx=True)
                raise Unavailable(
                    f"the broker did not take the redriven event {identity} ({exc}); it is "
                    "still in the dead-letter store, check EXECUTOR_BROKER_URL and retry"
                ) from exc
            queued.append(identity)
        return queued

    def _dispatch(self, letter: DeadLetter) -> None:
        mark(
            self.app,
            letter.request_id,
            letter.kind,
            letter.outcome,
            "pending",
            letter.attempts,
            f"redriven from the dead-letter store; was: {letter.reason}",
        )
        self.app.lifecycle.dispatch(
            request_id=letter.request_id,
            outcome=letter.outcome,
            destination=letter.destination,
            event=letter.event,
            chain=list(letter.chain),
            function_urn=letter.function_urn,
            agency=letter.agency,
        )

    def purge(self, identities: Iterable[str]) -> int:
        """Delete events for good; how many there were."""
        wanted = list(identities)
        if not wanted:
            return 0
        with reachable():
            pipe = self.redis.pipeline()
            pipe.hdel(DLQ, *wanted)
            pipe.zrem(DLQ_INDEX, *wanted)
            removed, _ = pipe.execute()
        return int(removed)

    def purge_all(self) -> int:
        with reachable():
            pipe = self.redis.pipeline()
            pipe.hlen(DLQ)
            pipe.delete(DLQ, DLQ_INDEX)
            count, _ = pipe.execute()
        return int(count)
