"""What the ``executor`` commands print for a person: tables, coloured statuses, local times.

Colour and shortened columns are for terminals only: piped output keeps every id whole and
carries no escape codes, and ``--json`` prints the exact wire JSON instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from executor.core.config import DestinationRef, StoredAsyncConfig
from executor.core.invocation import Invocation, Status
from executor.core.messages import DeadLetter

STATUS_STYLES = {
    Status.WAIT: "blue",
    Status.RUNNING: "cyan",
    Status.SUCCESS: "green",
    Status.FAIL: "bold red",
    Status.DISCARD: "yellow",
}
# Wide enough that nothing is cut when the output goes to a file or another program.
_PIPE_WIDTH = 1000


def console(stderr: bool = False) -> Console:
    # emoji=False: rich would show the ":b:" of urn:fss:...:default:b:latest as an emoji.
    found = Console(stderr=stderr, highlight=False, emoji=False)
    if not found.is_terminal:
        found = Console(
            stderr=stderr, highlight=False, emoji=False, width=_PIPE_WIDTH, no_color=True
        )
    return found


def show(*renderables: RenderableType) -> None:
    out = console()
    for renderable in renderables:
        out.print(renderable)


def status(value: Status | str) -> Text:
    known = Status(value)
    return Text(known.value, style=STATUS_STYLES[known])


def relative(epoch: float, now: float | None = None) -> str:
    """``3m ago`` / ``in 2h``: the coarsest unit that is at least one."""
    delta = (now if now is not None else time.time()) - epoch
    ahead, seconds = delta < 0, abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            amount = f"{int(seconds // size)}{unit}"
            break
    else:
        amount = f"{int(seconds)}s"
    return f"in {amount}" if ahead else f"{amount} ago"


def when(epoch: float | None, now: float | None = None) -> str:
    """Local time and how long ago: ``09:12:03 (3m ago)`` today, with the date otherwise."""
    if not epoch:
        return "-"
    local = datetime.fromtimestamp(epoch)
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    shown = local.strftime("%H:%M:%S" if local.date() == today else "%Y-%m-%d %H:%M")
    return f"{shown} ({relative(epoch, now)})"


def took(start: float | None, end: float | None) -> str:
    if not start or not end:
        return "-"
    seconds = end - start
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


_IDS = frozenset({"REQUEST ID", "IDENTITY", "FUNCTION"})
_PROSE = frozenset({"ERROR", "REASON", "NOTE", "ON SUCCESS", "ON FAILURE"})


def _table(*columns: str) -> Table:
    """On a narrow terminal ids give way first (cut with an ellipsis) and prose wraps; the
    short columns (status, counts, times) are never broken."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        if column in _IDS:
            table.add_column(column, overflow="ellipsis", min_width=8, ratio=1)
        elif column in _PROSE:
            table.add_column(column, overflow="fold", min_width=10)
        else:
            table.add_column(column, no_wrap=True)
    return table


def invocations(records: Iterable[Invocation], next_marker: str | None = None) -> RenderableType:
    table = _table("REQUEST ID", "STATUS", "ATTEMPTS", "QUEUED", "TOOK", "ERROR")
    now = time.time()
    count = 0
    for record in records:
        count += 1
        error = f"{record.error_code}: {record.error_message}" if record.error_code else ""
        table.add_row(
            record.request_id,
            status(record.status),
            str(record.attempts),
            when(record.enqueued_at, now),
            took(record.started_at, record.ended_at),
            error,
        )
    footer = f"{count} invocation{'s' if count != 1 else ''}"
    if next_marker:
        footer += f"; more with --marker {next_marker}"
    return Group(table, Text(footer, style="dim"))


def invocation(record: Invocation) -> RenderableType:
    now = time.time()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    rows: list[tuple[str, Any]] = [
        ("request id", record.request_id),
        ("function", record.function_urn),
        ("status", status(record.status)),
        ("attempts", str(record.attempts)),
        ("queued", when(record.enqueued_at, now)),
        ("deadline", when(record.deadline, now)),
        ("started", when(record.started_at, now)),
        ("ended", when(record.ended_at, now)),
    ]
    if record.condition:
        rows.append(("condition", record.condition))
    if record.error_code or record.error_message:
        rows.append(("error", f"{record.error_code}: {record.error_message}"))
    if record.chain:
        rows.append(("chain", " -> ".join(record.chain)))
    if record.origin:
        rows.append(("origin", record.origin))
    if record.traceparent:
        rows.append(("trace", record.traceparent))
    for name, value in rows:
        facts.add_row(name, value)
    history = _table("AT", "STATUS", "ATTEMPT", "NOTE")
    for step in record.history:
        history.add_row(
            when(step.at, now),
            status(step.status) if step.status else Text("note", style="dim"),
            str(step.attempt),
            step.note,
        )
    parts: list[RenderableType] = [facts, Text(""), Text("history", style="bold"), history]
    if record.deliveries:
        deliveries = _table("OUTCOME", "DESTINATION", "STATE", "ATTEMPTS", "UPDATED", "ERROR")
        for delivery in record.deliveries:
            deliveries.add_row(
                delivery.outcome,
                delivery.destination,
                delivery.state.value,
                str(delivery.attempts),
                when(delivery.updated_at, now),
                delivery.error,
            )
        parts += [Text(""), Text("deliveries", style="bold"), deliveries]
    return Group(*parts)


def _destination(ref: DestinationRef | None) -> str:
    return f"{ref.destination} {ref.param}" if ref else "-"


def configs(found: Iterable[StoredAsyncConfig]) -> RenderableType:
    table = _table("FUNCTION", "RETRIES", "MAX AGE", "ON SUCCESS", "ON FAILURE", "MODIFIED")
    for config in found:
        table.add_row(
            config.func_urn,
            str(config.max_async_retry_attempts),
            f"{config.max_async_event_age_in_seconds} s",
            _destination(config.destination_config.on_success),
            _destination(config.destination_config.on_failure),
            config.last_modified,
        )
    return table


def config(found: StoredAsyncConfig) -> RenderableType:
    return configs([found])


def dead_letters(letters: Iterable[DeadLetter], total: int) -> RenderableType:
    table = _table("IDENTITY", "FUNCTION", "DESTINATION", "ATTEMPTS", "AT", "REASON")
    now = time.time()
    shown = 0
    for letter in letters:
        shown += 1
        table.add_row(
            letter.identity,
            letter.function_urn,
            letter.kind,
            str(letter.attempts),
            when(letter.at, now),
            letter.reason,
        )
    return Group(table, Text(f"{shown} shown of {total} dead-lettered", style="dim"))


def change(record: Invocation) -> RenderableType:
    """One line of ``invocations watch``: a status an invocation just reached."""
    line = Text.assemble(
        (datetime.now().strftime("%H:%M:%S"), "dim"),
        "  ",
        record.request_id,
        "  ",
        status(record.status),
        f"  attempt {record.attempts}",
    )
    if record.status.terminal and record.error_message:
        line.append(f"  {record.error_code}: {record.error_message}")
    return line
