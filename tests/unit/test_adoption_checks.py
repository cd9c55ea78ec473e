"""An adopted Celery app's Redis visibility timeout is checked against the engine's limits."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from celery import Celery

from executor import FunctionApp, Settings
from executor.core.errors import InvalidParameter
from executor.runtime.celery.celery_app import check_adoptable


def _app(broker: str, **options: Any) -> Celery:
    app = Celery("proj", broker=broker, set_as_current=False)
    app.conf.accept_content = ["json"]
    app.conf.broker_transport_options = options
    return app


def test_a_visibility_timeout_that_redelivers_running_tasks_is_refused(settings: Settings) -> None:
    short = _app("redis://127.0.0.1:1/0", visibility_timeout=600)  # the time limit is 330 s
    with pytest.raises(InvalidParameter, match=r"visibility_timeout'\] above 660"):
        FunctionApp(settings, celery=short)


def test_the_limit_counts_the_retry_backoff_too() -> None:
    settings = Settings(broker_url="redis://127.0.0.1:1/0", retry_backoff_max=1000)
    with pytest.raises(InvalidParameter, match="EXECUTOR_RETRY_BACKOFF_MAX"):
        check_adoptable(_app("redis://127.0.0.1:1/0", visibility_timeout=1800), settings)


def test_sentinel_brokers_are_checked_like_redis(settings: Settings) -> None:
    sentinel = _app("sentinel://127.0.0.1:26379/0", visibility_timeout=300)
    with pytest.raises(InvalidParameter, match="visibility_timeout of 300 s"):
        check_adoptable(sentinel, settings)


def test_kombus_default_is_checked_and_warned_below_the_engines_own(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="executor.app"):
        check_adoptable(_app("redis://127.0.0.1:1/0"), settings)  # kombu's 3600 s
    assert "visibility_timeout of 3600 s, below EXECUTOR_VISIBILITY_TIMEOUT (7200 s)" in (
        caplog.text
    )
    assert len(caplog.records) == 1


def test_a_long_enough_timeout_or_another_broker_passes_in_silence(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="executor.app"):
        check_adoptable(_app("redis://127.0.0.1:1/0", visibility_timeout=7200), settings)
        check_adoptable(_app("amqp://guest@127.0.0.1:1//", visibility_timeout=10), settings)
    assert caplog.records == []
