"""The payload check and the reading of settings, without any service."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from executor import Settings
from executor.core.errors import PayloadTooLarge, SettingsInvalid
from executor.core.payload import PayloadRefused, check_payload, nesting, read_json
from executor.core.settings import load_settings


def deep(depth: int, kind: str = "list") -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("depth", [0, 1, 2, 10, 64])
def test_nesting_counts_levels(kind, depth):
    assert nesting(deep(depth, kind), 64) == depth


@pytest.mark.parametrize("depth", [65, 1_000, 200_000])
def test_nesting_stops_early_without_recursion(depth):
    assert nesting(deep(depth), 64) == 65


def test_nesting_takes_the_deepest_branch():
    assert nesting({"a": 1, "b": [[[]]], "c": {"d": []}}, 64) == 4


@pytest.mark.parametrize("limit", [1, 5, 64, 200])
def test_check_payload_refuses_one_level_over_the_limit(limit):
    assert check_payload(deep(limit), max_depth=limit, limit=10_000)
    with pytest.raises(PayloadRefused, match=f"deeper than {limit} levels"):
        check_payload(deep(limit + 1), max_depth=limit, limit=10_000)


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, {"a": [1, {"b": math.nan}]}, {2: 1}, b"x", {1.5}]
)
def test_check_payload_refuses_what_json_cannot_carry(value):
    with pytest.raises(PayloadRefused, match="must be JSON"):
        check_payload(value, max_depth=64, limit=10_000)


def test_check_payload_returns_compact_json_and_checks_size():
    assert check_payload({"a": [1, 2.5, None, True, "é"]}, max_depth=64, limit=100) == (
        '{"a":[1,2.5,null,true,"é"]}'
    )
    with pytest.raises(PayloadTooLarge, match="above the limit of 10"):
        check_payload("x" * 20, max_depth=64, limit=10)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "not valid JSON"),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        (b'"\xff"', "not UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_read_json_refuses_with_what_is_wrong(text, words):
    with pytest.raises(PayloadRefused, match=words) as refusal:
        read_json(text, "--payload")
    assert refusal.value.code == "FSS.0400"


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("EXECUTOR_STATUS_RETENTION", "59", "EXECUTOR_STATUS_RETENTION=59 is not allowed"),
        ("EXECUTOR_STATUS_RETENTION", "59", "greater than or equal to 60 (seconds)"),
        ("EXECUTOR_RUNNER_LEASE", "1", "EXECUTOR_RUNNER_LEASE=1 is not allowed"),
        ("EXECUTOR_LOG_FORMAT", "xml", "'text' or 'json'"),
        ("EXECUTOR_SOFT_TIME_LIMIT", "400", "EXECUTOR_SOFT_TIME_LIMIT must be below"),
    ],
)
def test_settings_errors_name_the_variable(monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsInvalid) as refusal:
        load_settings()
    assert words in refusal.value.message
    assert "\n" not in refusal.value.message


def test_valid_settings_load(monkeypatch):
    monkeypatch.setenv("EXECUTOR_STATUS_RETENTION", "60")
    assert load_settings().status_retention == 60
    assert Settings().payload_max_depth == 64


BIG = "7" * 5000


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"a": {"b": [1, ' + BIG + "]}}", "the number at a.b[1] has 5000 digits, more than 4300"),
        (BIG, "the number at the top level has 5000 digits, more than 4300"),
        ("[-" + BIG + "]", "the number at [0] has 5000 digits, more than 4300"),
        ('{"x": 1e400}', "the number at x is too large for a double"),
        ('{"x": -' + "9" * 400 + ".5}", "the number at x is too large for a double"),
    ],
)
def test_read_json_refuses_numbers_beyond_the_limits_naming_where(text, words):
    with pytest.raises(PayloadRefused) as refusal:
        read_json(text, "the body")
    assert refusal.value.message == f"the body: {words}; send it as a string"


def test_read_json_reads_integers_up_to_the_limit():
    assert read_json("[" + "9" * 4300 + "]", "--payload") == [int("9" * 4300)]
    assert read_json('{"f": 1.5e300}', "--payload") == {"f": 1.5e300}


def test_check_payload_refuses_a_python_integer_past_the_limit_naming_where():
    with pytest.raises(PayloadRefused, match=r"number at items\[1\]\.n has more than 4300"):
        check_payload({"items": [0, {"n": 10**5000}]}, max_depth=64, limit=10**6)
    assert check_payload(10**4299, max_depth=64, limit=10**6) == "1" + "0" * 4299


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"k": {3: "v"}}, "object keys must be strings, not 3 (at k)"),
        ([0, [math.inf]], "inf at [1][0] is not a JSON number"),
        ({"s": {1, 2}}, "set values cannot be sent (at s)"),
    ],
)
def test_check_payload_names_where_a_value_json_cannot_carry_is(value, words):
    with pytest.raises(PayloadRefused, match=re.escape(words)):
        check_payload(value, max_depth=64, limit=10**6)


def test_a_huge_integer_where_a_delay_or_request_id_goes_is_refused_in_words():
    from executor.core.errors import InvalidParameter
    from executor.core.invocation import check_delay, check_request_id

    with pytest.raises(InvalidParameter, match="not an integer of more than 4300 digits"):
        check_delay(10**5000)
    with pytest.raises(InvalidParameter, match="an integer of more than 4300 digits is not"):
        check_request_id(10**5000)  # type: ignore[arg-type]


def test_a_huge_integer_in_a_destination_param_is_refused_naming_the_field():
    from pydantic import ValidationError

    from executor.core.config import AsyncConfig

    param = '{"func_urn": "urn:fss:r:p:function:default:f:latest", "n": ' + BIG + "}"
    with pytest.raises(ValidationError) as refusal:
        AsyncConfig.model_validate(
            {"destination_config": {"on_success": {"destination": "FunctionGraph", "param": param}}}
        )
    error = refusal.value.errors()[0]
    assert error["loc"] == ("destination_config", "on_success")
    assert "param of FunctionGraph: the number at n has 5000 digits" in error["msg"]
