"""What the pages show, built from the client's records: plain values a template prints.

Nothing here reads a request or renders HTML, so each view can be checked on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from executor.core.catalogue import CatalogueEntry
from executor.core.config import DEFAULT_CONFIG, AsyncConfig, DestinationRef
from executor.core.invocation import Invocation, Status, Transition
from executor.core.params import FUNCTION_GRAPH
from executor.core.urn import parse_urn
from executor.runtime.celery.redaction import MASKED

HOUR: Final = 3600
# The fields of a result event that hold what the caller sent and what the function returned.
PAYLOAD_FIELDS: Final = ("request_payload", "response_payload", "requestPayload", "responsePayload")


@dataclass(frozen=True)
class FunctionRow:
    """One line of the function list."""

    urn: str
    name: str
    package: str
    version: str
    agency: str
    config: str
    stored: bool  # a stored config, rather than the defaults
    counts: Mapping[str, int]  # accepted in the last hour, by their status now


def short_urn(urn: str) -> str:
    """``package:name:version`` of a function URN, as the pages name functions."""
    parsed = parse_urn(urn, region="", project="")
    return f"{parsed.package}:{parsed.name}:{parsed.qualifier}"


def destination_text(ref: DestinationRef | None) -> str:
    """Where one side of a config goes, in a few words."""
    if ref is None:
        return "nowhere"
    param = ref.decoded().model_dump()
    if ref.destination == FUNCTION_GRAPH:
        return f"FunctionGraph {short_urn(param['func_urn'])}"
    if ref.destination == "OBS":
        where = f"{param['bucket']}{param['prefix']}" if param["prefix"] else param["bucket"]
        return f"OBS {where}"
    if ref.destination == "DIS":
        return f"DIS {param['stream_name']}"
    return f"SMN {param['topic_urn']}"


def config_line(config: AsyncConfig) -> str:
    """An async config in one line: retries, age, where successes and failures go."""
    side = config.destination_config
    return (
        f"retries {config.max_async_retry_attempts} · age {config.max_async_event_age_in_seconds}"
        f" s · success → {destination_text(side.on_success)} · failure → "
        f"{destination_text(side.on_failure)}"
    )


def function_row(
    entry: CatalogueEntry, stored: AsyncConfig | None, counts: Mapping[Status, int]
) -> FunctionRow:
    urn = parse_urn(entry.urn, region="", project="")
    config = stored or entry.default_config or DEFAULT_CONFIG
    return FunctionRow(
        urn=entry.urn,
        name=urn.name,
        package=urn.package,
        version=urn.qualifier,
        agency=entry.agency or "",
        config=config_line(config),
        stored=stored is not None,
        counts={status.value: counts.get(status, 0) for status in Status},
    )


@dataclass(frozen=True)
class Step:
    """One line of an invocation's timeline."""

    at: float
    label: str
    tone: str  # wait, run, ok, bad, gone, note: how the line is drawn
    attempt: int
    note: str
    error: str = ""


_ENDS: Final = {Status.SUCCESS: "ok", Status.FAIL: "bad", Status.DISCARD: "gone"}


def timeline(history: tuple[Transition, ...]) -> list[Step]:
    """The history as a reader follows it: accepted, each attempt and the error it failed
    with, the end."""
    steps = []
    ran = False
    for moment in history:
        status = moment.status
        if status is None:
            steps.append(Step(moment.at, "note", "note", moment.attempt, moment.note))
        elif status is Status.WAIT:
            label = "retry scheduled" if ran else "accepted"
            steps.append(Step(moment.at, label, "wait", moment.attempt, moment.note, moment.error))
        elif status is Status.RUNNING:
            ran = True
            steps.append(Step(moment.at, f"attempt {moment.attempt}", "run", moment.attempt, ""))
        else:
            label = f"ended {status.value}"
            tone = _ENDS[status]
            steps.append(Step(moment.at, label, tone, moment.attempt, moment.note, moment.error))
    return steps


def masked_event(event: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A result event with what the caller sent and the function returned masked."""
    if event is None:
        return None
    return {k: MASKED if k in PAYLOAD_FIELDS else v for k, v in event.items()}


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def can_redrive(invocation: Invocation) -> bool:
    return invocation.status in (Status.FAIL, Status.DISCARD)


def can_cancel(invocation: Invocation) -> bool:
    return not invocation.status.terminal
