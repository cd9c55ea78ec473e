"""Settings: defaults, what the environment sets, and the combinations that are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from executor.core.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("EXECUTOR_"):
            monkeypatch.delenv(name)


def test_the_urls_are_kept_as_given() -> None:
    settings = Settings(broker_url="redis://h:1/3")
    assert (settings.broker_url, settings.redis_url) == ("redis://h:1/3", "")


@pytest.mark.parametrize(
    ("visibility", "time_limit", "backoff_max", "refused"),
    [
        (600, 299, 100, False),
        (600, 300, 100, True),
        (600, 200, 300, True),
        (7200, 3599, 3599, False),
        (7200, 3600, 10, True),
    ],
)
def test_limits_must_stay_below_half_the_visibility_timeout(
    visibility: int, time_limit: float, backoff_max: float, refused: bool
) -> None:
    values = {
        "broker_url": "redis://x",
        "visibility_timeout": visibility,
        "time_limit": time_limit,
        "soft_time_limit": time_limit - 1,
        "retry_backoff_max": backoff_max,
    }
    if refused:
        with pytest.raises(ValidationError, match="half of EXECUTOR_VISIBILITY_TIMEOUT"):
            Settings(**values)  # type: ignore[arg-type]
    else:
        assert Settings(**values).time_limit == time_limit  # type: ignore[arg-type]


@pytest.mark.parametrize("soft", [330, 400])
def test_the_soft_limit_must_be_below_the_hard_limit(soft: float) -> None:
    with pytest.raises(ValidationError, match="SOFT_TIME_LIMIT must be below"):
        Settings(broker_url="redis://x", soft_time_limit=soft, time_limit=330)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_port", 0),
        ("api_port", 65_536),
        ("max_chain_depth", 0),
        ("payload_limit", 0),
        ("status_retention", 59),
        ("retry_backoff_base", 0),
        ("visibility_timeout", 4),
        ("max_worker_lost", 0),
        ("log_format", "xml"),
        ("metrics_port", -1),
    ],
)
def test_out_of_range_values_are_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(broker_url="redis://x", **{field: value})  # type: ignore[arg-type]
    assert refused.value.errors()[0]["loc"] == (field,)


def test_the_environment_is_read_with_its_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR_BROKER_URL", "redis://env:7/1")
    monkeypatch.setenv("EXECUTOR_MAX_CHAIN_DEPTH", "4")
    monkeypatch.setenv("EXECUTOR_SHOW_PAYLOADS", "true")
    monkeypatch.setenv("MAX_CHAIN_DEPTH", "9")
    settings = Settings()
    assert (settings.broker_url, settings.max_chain_depth, settings.show_payloads) == (
        "redis://env:7/1",
        4,
        True,
    )


def test_secrets_stay_out_of_the_repr() -> None:
    settings = Settings(
        broker_url="redis://x",
        api_tokens="tok-secret:p1",
        api_access_keys="AK:SK-secret:p1",
        flower_basic_auth="admin:pw-secret",  # type: ignore[arg-type]
    )
    shown = repr(settings)
    for secret in ("tok-secret", "SK-secret", "pw-secret"):
        assert secret not in shown
    assert settings.flower_basic_auth.get_secret_value() == "admin:pw-secret"


def test_settings_are_frozen() -> None:
    settings = Settings(broker_url="redis://x")
    with pytest.raises(ValidationError):
        settings.region = "elsewhere"  # type: ignore[misc]
