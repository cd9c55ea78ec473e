"""Fast checks of the invocation-control inputs: request ids, delays, retry policies."""

from __future__ import annotations

import math

import pytest

from executor import InvalidParameter, RetryAfter
from executor.api.wire import delay_seconds, idempotency_key
from executor.core.invocation import check_delay, check_request_id
from executor.core.retry import RetryPolicy, exception_types


@pytest.mark.parametrize(
    "good", ["a", "A-z_0.9:x", "x" * 64, "5f0c2b1e-0000-4000-8000-000000000000"]
)
def test_request_ids_allowed(good: str) -> None:
    assert check_request_id(good) == good


@pytest.mark.parametrize("bad", ["", "x" * 65, "a b", "a/b", "ä", "a\n", "a,b"])
def test_request_ids_refused(bad: str) -> None:
    with pytest.raises(InvalidParameter, match="1 to 64 characters"):
        check_request_id(bad)


@pytest.mark.parametrize("good", [0, 0.5, 1, 3600, 3600.0])
def test_delays_allowed(good: float) -> None:
    assert check_delay(good) == float(good)


@pytest.mark.parametrize("bad", [-0.001, 3600.5, math.nan, math.inf, True, "5"])
def test_delays_refused(bad: object) -> None:
    with pytest.raises(InvalidParameter, match="between 0 and 3600"):
        check_delay(bad)  # type: ignore[arg-type]


def test_headers_read_as_the_api_reads_them() -> None:
    assert idempotency_key(None) is None
    assert idempotency_key(' "k-1" ') == "k-1"
    assert idempotency_key("k-1") == "k-1"
    with pytest.raises(InvalidParameter):
        idempotency_key('""')
    assert delay_seconds(None) == 0.0
    assert delay_seconds(" 2.5 ") == 2.5
    with pytest.raises(InvalidParameter, match="X-Executor-Delay"):
        delay_seconds("later")


def test_retry_policy_choices() -> None:
    everything = RetryPolicy()
    assert everything.retries(ValueError()) and everything.retries(TimeoutError())
    only = RetryPolicy(retry_on=(TimeoutError, ConnectionError))
    assert only.retries(TimeoutError()) and only.retries(ConnectionRefusedError())
    assert not only.retries(ValueError())
    assert "not in retry_on (TimeoutError, ConnectionError)" in only.describe(ValueError())
    never = RetryPolicy(no_retry_on=(ValueError,))
    assert not never.retries(UnicodeError()) and never.retries(KeyError())
    assert "no_retry_on" in never.describe(ValueError())
    both = RetryPolicy(retry_on=(OSError,), no_retry_on=(FileNotFoundError,))
    assert both.retries(OSError()) and not both.retries(FileNotFoundError())
    # The handler's own request wins over both lists.
    assert both.retries(RetryAfter(1)) and never.retries(RetryAfter(0))


def test_retry_policy_takes_exception_classes_only() -> None:
    assert exception_types(None, "retry_on") == ()
    assert exception_types(ValueError, "retry_on") == (ValueError,)
    assert exception_types([KeyError, OSError], "retry_on") == (KeyError, OSError)
    with pytest.raises(InvalidParameter, match="no_retry_on takes exception classes"):
        exception_types([ValueError, "KeyError"], "no_retry_on")  # type: ignore[list-item]
    with pytest.raises(InvalidParameter, match="exception classes"):
        exception_types([int], "retry_on")


@pytest.mark.parametrize("bad", [-1, 3601, math.nan, False])
def test_retry_after_range(bad: float) -> None:
    with pytest.raises(InvalidParameter, match="0 to 3600 seconds"):
        RetryAfter(bad)


def test_retry_after_message() -> None:
    assert str(RetryAfter(2)) == "retry requested in 2 s"
    assert str(RetryAfter(1.5, "rate limited")) == "rate limited"
    assert RetryAfter(1.5).seconds == 1.5
