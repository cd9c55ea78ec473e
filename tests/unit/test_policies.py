"""The policies that decide an invocation's fate, each on its own and in the order they run."""

from __future__ import annotations

import pytest

from executor.core.constants import (
    CONDITION_EVENT_AGE_EXCEEDED,
    CONDITION_NOT_RETRYABLE,
    CONDITION_RETRIES_EXHAUSTED,
)
from executor.core.guard import ChainBroken
from executor.core.policies import AGE_LIMIT, Call, ChainLimit, RetryBudget, Step, decide
from executor.core.retry import RetryAfter, RetryPolicy

DEADLINE = 1000.0


def failed(error: BaseException, retry: int = 0, max_retries: int = 2, wait: float = 1.0) -> Step:
    return Step(DEADLINE, 900.0 + wait, wait, error, retry, max_retries)


@pytest.mark.parametrize(("at", "ends"), [(999.9, False), (1000.0, True), (1500.0, True)])
def test_nothing_starts_at_or_after_its_deadline(at: float, ends: bool) -> None:
    verdict = AGE_LIMIT.judge(Step(DEADLINE, at))
    assert (verdict is not None) is ends
    if verdict is not None:
        assert verdict.condition == CONDITION_EVENT_AGE_EXCEEDED
        assert verdict.note == "aged out before it started"


def test_a_retry_that_would_start_after_the_deadline_is_not_made() -> None:
    verdict = AGE_LIMIT.judge(failed(ValueError(), wait=150.0))
    assert verdict is not None
    assert verdict.note == "retry in 150.00s would start after the deadline"
    assert AGE_LIMIT.judge(failed(ValueError(), wait=99.0)) is None


@pytest.mark.parametrize(
    ("retry", "max_retries", "ends"), [(0, 1, False), (1, 1, True), (0, 0, True)]
)
def test_the_retry_budget_counts_retries_not_attempts(
    retry: int, max_retries: int, ends: bool
) -> None:
    verdict = RetryBudget().judge(failed(ValueError(), retry, max_retries))
    assert (verdict is not None) is ends
    assert RetryBudget().judge(Step(DEADLINE, 900.0)) is None  # before any attempt


def test_the_first_policy_with_a_verdict_decides() -> None:
    no_value_errors = RetryPolicy(no_retry_on=(ValueError,))
    policies = (no_value_errors, RetryBudget(), AGE_LIMIT)
    # Not retryable, out of retries and past the deadline at once: the filter speaks first.
    verdict = decide(failed(ValueError(), retry=5, wait=500.0), policies)
    assert verdict is not None and verdict.condition == CONDITION_NOT_RETRYABLE
    verdict = decide(failed(KeyError(), retry=5, wait=500.0), policies)
    assert verdict is not None and verdict.condition == CONDITION_RETRIES_EXHAUSTED
    verdict = decide(failed(KeyError(), retry=0, wait=500.0), policies)
    assert verdict is not None and verdict.condition == CONDITION_EVENT_AGE_EXCEEDED
    assert decide(failed(RetryAfter(1)), policies) is None


def test_a_call_may_not_re_enter_its_chain_nor_go_deeper_than_the_limit() -> None:
    limit = ChainLimit(max_depth=3)
    limit.admit(Call("a"))
    limit.admit(Call("c", ("a", "b")))
    with pytest.raises(ChainBroken, match="a -> b -> a"):
        limit.admit(Call("a", ("a", "b")))
    with pytest.raises(ChainBroken, match="4 calls deep"):
        limit.admit(Call("d", ("a", "b", "c")))
