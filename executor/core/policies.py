"""The policies that decide an invocation's fate, each a small part with one method.

Like middleware, each looks at one ``Step`` of an invocation and either lets it go on (None) or
ends it with a ``Verdict``: the condition its result event carries and a note for its history.
The steps are the start of an attempt and the end of a failed one; the first policy with a
verdict decides. Where a call may start at all (the chain guard) is an admission policy: it
refuses the call with an error instead.

    AgeLimit      nothing starts at or after the deadline (acceptance, or due time, + max age)
    RetryPolicy   the function's retry_on / no_retry_on (``executor.core.retry``)
    RetryBudget   at most max_async_retry_attempts retries
    ChainLimit    no call re-enters its chain or goes deeper than EXECUTOR_MAX_CHAIN_DEPTH
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from executor.core.constants import CONDITION_EVENT_AGE_EXCEEDED, CONDITION_RETRIES_EXHAUSTED
from executor.core.guard import check_call


@dataclass(frozen=True)
class Step:
    """A point where an invocation's fate is decided.

    ``at`` is when the next attempt would start: now, before an attempt, or after ``wait``
    seconds for a retry. ``error`` is what the attempt raised, None before one; ``retry`` is
    the retry index of the attempt that failed and ``max_retries`` the function's retry budget.
    """

    deadline: float
    at: float
    wait: float = 0.0
    error: BaseException | None = None
    retry: int = 0
    max_retries: int = 0


@dataclass(frozen=True)
class Verdict:
    """The end a policy decided: the result event's condition, and why."""

    condition: str
    note: str = ""


class Policy(Protocol):
    """A policy that may end an invocation at a step."""

    def judge(self, step: Step) -> Verdict | None:
        """A verdict that ends the invocation here, or None to let it go on."""
        ...


class AgeLimit:
    """An invocation may not start at or after its deadline: its message aged out."""

    def judge(self, step: Step) -> Verdict | None:
        if step.at < step.deadline:
            return None
        if step.error is None:
            return Verdict(CONDITION_EVENT_AGE_EXCEEDED, "aged out before it started")
        return Verdict(
            CONDITION_EVENT_AGE_EXCEEDED,
            f"retry in {step.wait:.2f}s would start after the deadline",
        )


class RetryBudget:
    """A failed attempt is retried at most ``max_async_retry_attempts`` times."""

    def judge(self, step: Step) -> Verdict | None:
        if step.error is None or step.retry < step.max_retries:
            return None
        return Verdict(CONDITION_RETRIES_EXHAUSTED)


def decide(step: Step, policies: Iterable[Policy]) -> Verdict | None:
    """The first verdict of ``policies`` on ``step``, in order; None lets it go on."""
    for policy in policies:
        verdict = policy.judge(step)
        if verdict is not None:
            return verdict
    return None


AGE_LIMIT = AgeLimit()


@dataclass(frozen=True)
class Call:
    """A call that would start an invocation of ``target`` (a function without qualifier),
    made with ``chain``: the functions that led to it. ``recursion`` says the target's flow
    config allows its chain to loop (``recursive_loop`` Allow)."""

    target: str
    chain: Sequence[str] = ()
    recursion: bool = False


class AdmissionPolicy(Protocol):
    """A policy that may refuse a call before anything of it is written."""

    def admit(self, call: Call) -> None:
        """Raise the error that refuses ``call``; return to let it start."""
        ...


@dataclass(frozen=True)
class ChainLimit:
    """No call re-enters a function already in its chain, nor goes deeper than ``max_depth``,
    unless its target allows recursion."""

    max_depth: int

    def admit(self, call: Call) -> None:
        if call.chain and not call.recursion:
            check_call(call.chain, call.target, self.max_depth)
