"""What the console's pages show, built from records and refusals: the config line, the config
form and where a refusal lands in it, the timeline, masked events and the charts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from executor import Client
from executor.api.console.charts import WINDOWS, DrawnCharts, ages_svg, outcomes_svg
from executor.api.console.config_form import ConfigForm
from executor.api.console.views import config_line, masked_event, timeline
from executor.core.config import AsyncConfig
from executor.core.errors import AliasNotAllowed, ExecutorError
from executor.core.invocation import DeliveryState, DeliveryStatus, Invocation, Status, Transition
from executor.core.series import AgePoint, OutcomePoint
from tests.support.names import urn


def test_a_config_reads_in_one_line() -> None:
    config = AsyncConfig.model_validate(
        {
            "max_async_retry_attempts": 0,
            "max_async_event_age_in_seconds": 600,
            "destination_config": {
                "on_success": {"destination": "OBS", "param": {"bucket": "res", "prefix": "/ok"}},
                "on_failure": {"destination": "FunctionGraph", "param": {"func_urn": urn("next")}},
            },
        }
    )
    assert config_line(config) == (
        "retries 0 · age 600 s · success → OBS res/ok · failure → FunctionGraph default:next:latest"
    )
    assert (
        config_line(AsyncConfig())
        == "retries 1 · age 3600 s · success → nowhere · failure → nowhere"
    )


def test_the_form_gives_back_the_config_it_shows() -> None:
    config = AsyncConfig.model_validate(
        {
            "max_async_retry_attempts": 0,
            "enable_async_status_log": True,
            "destination_config": {
                "on_success": {"destination": "SMN", "param": {"topic_urn": "urn:smn:r1:p1:t"}},
                "on_failure": {
                    "destination": "OBS",
                    "param": {"bucket": "res", "prefix": "/f", "expires": 7},
                },
            },
        }
    )
    form = ConfigForm.of(config, "latest")
    assert form.value("failure_expires") == "7"
    posted = ConfigForm.sent({**form.values, "csrf": "x", "unknown": "y"})
    assert "csrf" not in posted.values and "unknown" not in posted.values
    assert AsyncConfig.model_validate(posted.body()) == config


def test_fields_left_empty_take_their_defaults_and_zero_stays_zero() -> None:
    form = ConfigForm.sent(
        {"max_async_retry_attempts": "0", "max_async_event_age_in_seconds": "", "success_kind": ""}
    )
    assert form.body() == {
        "enable_async_status_log": False,
        "max_async_retry_attempts": 0,
        "destination_config": {},
    }
    # What is not a whole number goes to the API's check as typed, to be named there.
    assert (
        ConfigForm.sent({"max_async_retry_attempts": "two"}).body()["max_async_retry_attempts"]
        == "two"
    )


def test_a_refusal_lands_beside_the_fields_it_names(fake_client: Client) -> None:
    form = ConfigForm.sent(
        {
            "version": "latest",
            "max_async_retry_attempts": "4",
            "success_kind": "OBS",
            "success_bucket": "Bad Bucket",
            "success_func_urn": "left over from another kind",
            "failure_kind": "DIS",
            "failure_stream_name": "",
        }
    )
    with pytest.raises(ExecutorError) as refused:
        fake_client.put_async_config(urn("next"), form.body())
    shown = form.refused(refused.value)
    assert shown.refusal is not None and shown.refusal.code == "FSS.0400"
    assert shown.refusal.message == refused.value.message
    assert set(shown.errors) == {
        "max_async_retry_attempts",
        "success_bucket",
        "failure_stream_name",
    }
    assert shown.errors["max_async_retry_attempts"] == "Input should be less than or equal to 3"
    assert shown.errors["failure_stream_name"] == "Field required"
    assert shown.values == form.values
    # An error that names no field of its own lands where the caller says.
    alias = AliasNotAllowed("names the alias '!prod'")
    assert form.refused(alias, at=["version"]).errors == {"version": "names the alias '!prod'"}
    assert form.refused(alias).errors == {}


def test_the_timeline_tells_attempts_retries_and_the_end() -> None:
    history = (
        Transition(status=Status.WAIT, at=1.0, note="due in 5 s"),
        Transition(status=Status.RUNNING, at=2.0, attempt=1),
        Transition(
            status=Status.WAIT, at=3.0, attempt=1, note="retry 1 of 1", error="ValueError: no"
        ),
        Transition(status=Status.RUNNING, at=4.0, attempt=2),
        Transition(status=None, at=4.5, attempt=2, note="redrive r1 queued"),
        Transition(status=Status.FAIL, at=5.0, attempt=2, error="ValueError: no"),
    )
    assert [(s.label, s.tone, s.error, s.note) for s in timeline(history)] == [
        ("accepted", "wait", "", "due in 5 s"),
        ("attempt 1", "run", "", ""),
        ("retry scheduled", "wait", "ValueError: no", "retry 1 of 1"),
        ("attempt 2", "run", "", ""),
        ("note", "note", "", "redrive r1 queued"),
        ("ended FAIL", "bad", "ValueError: no", ""),
    ]


def test_an_event_is_shown_with_its_payloads_masked() -> None:
    event = {"timestamp": "t", "request_payload": {"card": 1}, "response_payload": "ok", "x": 2}
    assert masked_event(event) == {
        "timestamp": "t",
        "request_payload": "<masked>",
        "response_payload": "<masked>",
        "x": 2,
    }
    assert masked_event(None) is None


def test_a_refused_kind_lands_beside_its_select(fake_client: Client) -> None:
    form = ConfigForm.sent({"success_kind": "FTP"})
    with pytest.raises(ExecutorError) as refused:
        fake_client.put_async_config(urn("next"), form.body())
    assert form.refused(refused.value).errors == {
        "success_kind": "destination must be one of FunctionGraph, OBS, DIS, SMN, SQS, not 'FTP'"
    }


@pytest.mark.parametrize("name", ["hour", "day"])
def test_charts_are_svg_that_load_nothing_from_elsewhere(name: str) -> None:
    span = WINDOWS[name]
    now = time.time()
    steps = [now - span.step * i for i in range(span.seconds // span.step, -1, -1)]
    outcomes = outcomes_svg([OutcomePoint(at=t, success=3, fail=1) for t in steps], span)
    ages = ages_svg([AgePoint(at=t, started=1, p50=0.2, p95=1.5) for t in steps], span)
    for svg in (outcomes, ages):
        assert svg.startswith("<?xml") and "<svg" in svg
        assert not re.search(r"<script[^>]*(?:href|src)=", svg)
        assert not re.search(r'(?:href|src)="(?:https?:)?//', svg)
    assert "SUCCESS" in outcomes and "DISCARD" in outcomes
    assert "p95" in ages


def test_a_drawn_chart_is_kept_for_a_while_then_drawn_again() -> None:
    now = [100.0]
    drawn = DrawnCharts(size=2, clock=lambda: now[0])
    calls: list[str] = []

    def draw(text: str) -> Callable[[], str]:
        return lambda: calls.append(text) or text

    hour = WINDOWS["hour"]
    assert drawn.get(("f", "outcomes", "hour"), hour, draw("a")) == "a"
    assert drawn.get(("f", "outcomes", "hour"), hour, draw("b")) == "a"
    now[0] += hour.keep
    assert drawn.get(("f", "outcomes", "hour"), hour, draw("c")) == "c"
    # Past its size, the chart used longest ago is the one let go.
    drawn.get(("g", "ages", "hour"), hour, draw("d"))
    drawn.get(("h", "ages", "hour"), hour, draw("e"))
    assert drawn.get(("f", "outcomes", "hour"), hour, draw("f")) == "f"
    assert calls == ["a", "c", "d", "e", "f"]


@pytest.mark.parametrize(
    ("status", "deliveries", "settled"),
    [
        (Status.RUNNING, (), False),
        (Status.SUCCESS, (), True),
        (Status.SUCCESS, (DeliveryStatus.PENDING,), False),
        (Status.FAIL, (DeliveryStatus.DELIVERED, DeliveryStatus.PENDING), False),
        (Status.FAIL, (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD_LETTERED), True),
    ],
)
def test_an_invocation_page_refreshes_until_its_deliveries_ended_too(
    status: Status, deliveries: tuple[DeliveryStatus, ...], settled: bool
) -> None:
    invocation = Invocation(
        request_id="r1",
        function_urn=urn("hello"),
        status=status,
        enqueued_at=1.0,
        deadline=2.0,
        deliveries=tuple(
            DeliveryState(destination="OBS", outcome="success", state=state) for state in deliveries
        ),
    )
    assert invocation.settled is settled
