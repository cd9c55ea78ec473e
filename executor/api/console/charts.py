"""A function's charts as SVG, drawn by pygal on the server: outcomes per step and the age of
events when their attempts started (p50, p95), over the last hour or day.

pygal's interactive script would come from the internet, so the charts are drawn without it
(``js=[]``): they are plain images, each point's value in its ``<desc>``. Reading a day of
counters and drawing it takes a good part of a page's time budget, so a drawn chart is kept
for a fraction of its step (``Window.keep``) and drawn again after.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import pygal
from pygal.style import Style

from executor.core.series import MINUTE, SPAN, AgePoint, OutcomePoint


@dataclass(frozen=True)
class Window:
    """A span of time a chart covers, read in steps of ``step`` seconds."""

    name: str
    title: str
    seconds: int
    step: int
    label_every: int  # one x label per this many steps
    keep: float  # seconds a drawn chart is shown again before it is drawn anew


WINDOWS: Final = {
    "hour": Window("hour", "last hour", 3600, MINUTE, 10, 5.0),
    "day": Window("day", "last day", 86_400, SPAN, 12, 30.0),
}
_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#777777",
    colors=("#2e7d32", "#c62828", "#9e9e9e"),
    font_family="sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=14,
)
_AGE_STYLE = Style(**{**_STYLE.to_dict(), "colors": ("#1565c0", "#ef6c00")})
_SIZE: Final = {"width": 900, "height": 280}


def window(name: str) -> Window:
    return WINDOWS.get(name, WINDOWS["hour"])


def _labels(points: Sequence[OutcomePoint | AgePoint], span: Window) -> list[str]:
    return [
        datetime.fromtimestamp(p.at, tz=UTC).strftime("%H:%M") if i % span.label_every == 0 else ""
        for i, p in enumerate(points)
    ]


def _chart(
    kind: type[pygal.graph.graph.Graph], title: str, style: Style, **extra: object
) -> pygal.Graph:
    return kind(
        title=title,
        style=style,
        js=[],
        legend_at_bottom=True,
        show_minor_x_labels=False,
        truncate_label=-1,
        margin=8,
        **_SIZE,
        **extra,
    )


def outcomes_svg(points: Sequence[OutcomePoint], span: Window) -> str:
    """Invocations that ended SUCCESS, FAIL and DISCARD, per step."""
    unit = "minute" if span.step == MINUTE else "10 minutes"
    chart = _chart(pygal.StackedBar, f"Outcomes per {unit}, {span.title} (UTC)", _STYLE)
    # Counts are whole: label the axis in whole steps, about five of them.
    top = max([p.success + p.fail + p.discard for p in points] + [1])
    every = math.ceil(top / 5)
    chart.y_labels = list(range(0, top + every, every))
    chart.x_labels = _labels(points, span)
    chart.x_labels_major = [label for label in chart.x_labels if label]
    chart.add("SUCCESS", [p.success for p in points])
    chart.add("FAIL", [p.fail for p in points])
    chart.add("DISCARD", [p.discard for p in points])
    return str(chart.render(is_unicode=True))


def ages_svg(points: Sequence[AgePoint], span: Window) -> str:
    """How long events had waited when their attempts started: p50 and p95, in seconds."""
    chart = _chart(
        pygal.Line,
        f"Age of events at start (s), {span.title} (UTC)",
        _AGE_STYLE,
        allow_interruptions=True,
        include_x_axis=True,
        dots_size=2,
        fill=False,
    )
    chart.x_labels = _labels(points, span)
    chart.x_labels_major = [label for label in chart.x_labels if label]
    chart.add("p50", [p.p50 for p in points])
    chart.add("p95", [p.p95 for p in points])
    return str(chart.render(is_unicode=True))


class DrawnCharts:
    """Charts drawn lately, by function, chart and window; at most ``size`` of them."""

    def __init__(self, size: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._clock = clock
        self._kept: OrderedDict[tuple[str, str, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], span: Window, draw: Callable[[], str]) -> str:
        now = self._clock()
        with self._lock:
            found = self._kept.get(key)
            if found is not None and found[0] > now:
                self._kept.move_to_end(key)
                return found[1]
        drawn = draw()
        with self._lock:
            self._kept[key] = (now + span.keep, drawn)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return drawn
