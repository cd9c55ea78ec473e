"""Where a page of a function's invocations ended, as the marker that continues it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    """Where a page ended: the score of its last entry in microseconds, and how many entries
    of that same score it showed. A marker is both in one integer, as FunctionGraph's are."""

    micros: int | None = None
    skip: int = 0

    @classmethod
    def parse(cls, marker: str | None) -> Position:
        if not marker:
            return cls()
        value = int(marker)
        return cls(value // _TIES, value % _TIES)

    def marker(self) -> str | None:
        return None if self.micros is None else str(self.micros * _TIES + self.skip)

    def skipped(self, entries: Iterable[tuple[str, float]]) -> Iterator[tuple[str, float]]:
        """``entries`` (newest first) from the one after this position."""
        skip = self.skip
        for rid, score in entries:
            if self.micros is not None and _micros(score) == self.micros and skip:
                skip -= 1
                continue
            yield rid, score

    def following(self, entries: Sequence[tuple[str, float]]) -> Position:
        """The position after ``entries``, shown after this one."""
        last = _micros(entries[-1][1])
        same = sum(1 for _, score in entries if _micros(score) == last)
        if last == self.micros:
            same += self.skip
        return Position(last, min(same, _TIES - 1))


# How many entries of one microsecond a marker can step over (more than this is not seen).
_TIES = 100


def _micros(score: float) -> int:
    return round(score * 1_000_000)
