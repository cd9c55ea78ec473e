"""The payload check and the reading of settings, without any service."""

from __future__ import annotations

import math
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
