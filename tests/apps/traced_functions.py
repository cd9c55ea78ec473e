"""The test functions on a worker traced with the OpenTelemetry SDK.

Spans go to the JSON-lines file named by ``TEST_SPANS_FILE``, written at the end of each span
by whichever process made it (pool children included), so the test can read them back.
``TEST_TRACED_APP`` names the module whose ``app`` is served (default ``tests.apps.functions``).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class FileExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a", encoding="utf-8") as handle:
            for span in spans:
                handle.write(json.dumps(as_dict(span)) + "\n")
        return SpanExportResult.SUCCESS


def as_dict(span: ReadableSpan) -> dict[str, object]:
    context = span.get_span_context()
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "links": [f"{link.context.span_id:016x}" for link in span.links],
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "pid": os.getpid(),
    }


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(FileExporter(os.environ["TEST_SPANS_FILE"])))
trace.set_tracer_provider(provider)

app = importlib.import_module(os.environ.get("TEST_TRACED_APP", "tests.apps.functions")).app
