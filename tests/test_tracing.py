"""OpenTelemetry: one trace from ``invoke_async`` through the worker to every destination."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from destinations.functiongraph import target_request_id
from executor.runtime import tracing
from executor.runtime.celery import spans as span_maker
from tests.support.destination_services import TOPIC_URN, topic_copied_to_a_queue, wait_delivery
from tests.support.invocations import route, wait_status
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

Spans = list[dict[str, Any]]


@pytest.fixture
def producer_spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Spans this process makes, with the SDK's in-memory exporter (no global provider set)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(span_maker, "_tracer", lambda: provider.get_tracer("executor"))
    return exporter


@pytest.fixture
def worker_spans(tmp_path: Path) -> tuple[dict[str, str], Callable[..., Spans]]:
    """Worker environment that traces to a file, and a reader that waits for spans in it."""
    path = tmp_path / "spans.jsonl"

    def read(where: Callable[[Spans], bool], what: str) -> Spans:
        def spans() -> Spans:
            text = path.read_text() if path.exists() else ""
            return [json.loads(line) for line in text.splitlines() if line]

        wait_for(lambda: where(spans()), 30, what, interval=0.2)
        return spans()

    return {"TEST_SPANS_FILE": str(path), "EXECUTOR_LOG_FORMAT": "json"}, read


def named(spans: Spans, name: str) -> Spans:
    return [s for s in spans if s["name"] == name]


def ids(traceparent: str) -> tuple[str, str]:
    """Trace and parent span id of a W3C ``traceparent`` (its flags vary by SDK version)."""
    version, trace_id, span_id, _flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id


def of(span: dict[str, Any]) -> tuple[str, str]:
    return span["trace_id"], span["span_id"]


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_one_trace_from_producer_through_retries_to_the_next_function(
    client, start_worker, producer_spans, worker_spans, pool
):
    env, read = worker_spans
    worker = start_worker("tests.apps.traced_functions:app", pool=pool, env=env)
    route(client, "flaky", success="sink", max_async_retry_attempts=2)
    rid = client.invoke_async("flaky", {"fail_times": 1})
    sink_rid = target_request_id(f"{rid}:success")
    wait_for(lambda: client.store.records.get(sink_rid) is not None, 30, "the sink's invocation")
    wait_status(client, sink_rid, "SUCCESS", timeout=30)

    [produced] = producer_spans.get_finished_spans()
    assert produced.name == "invoke flaky"
    assert produced.kind.name == "PRODUCER"
    assert produced.attributes[tracing.REQUEST_ID] == rid
    assert produced.attributes[tracing.FUNCTION_URN] == str(client.resolve("flaky"))
    trace_id = f"{produced.context.trace_id:032x}"
    producer_id = f"{produced.context.span_id:016x}"
    record = client.get_invocation(rid)
    assert ids(record.traceparent) == (trace_id, producer_id)

    spans = read(lambda s: bool(named(s, "run sink")), "the sink's attempt span")
    assert {s["trace_id"] for s in spans} == {trace_id}
    first, second = named(spans, "run flaky")
    assert [first["parent_id"], second["parent_id"]] == [producer_id, producer_id]
    assert first["kind"] == second["kind"] == "CONSUMER"
    assert [first["attributes"][tracing.ATTEMPT], second["attributes"][tracing.ATTEMPT]] == [1, 2]
    assert [first["attributes"][tracing.OUTCOME], second["attributes"][tracing.OUTCOME]] == [
        "RETRY",
        "SUCCESS",
    ]
    assert first["attributes"][tracing.REQUEST_ID] == rid

    [delivered] = named(spans, "deliver success to FunctionGraph")
    assert delivered["parent_id"] == producer_id
    assert delivered["links"] == [second["span_id"]]
    assert delivered["attributes"][tracing.DESTINATION] == "FunctionGraph"
    [next_invoke] = named(spans, "invoke sink")
    assert next_invoke["parent_id"] == delivered["span_id"]
    assert next_invoke["attributes"][tracing.REQUEST_ID] == sink_rid
    [sink_run] = named(spans, "run sink")
    assert sink_run["parent_id"] == next_invoke["span_id"]
    assert sink_run["attributes"][tracing.OUTCOME] == "SUCCESS"
    assert ids(client.get_invocation(sink_rid).traceparent) == of(next_invoke)

    lines = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    retried = [line for line in lines if "retry 1 of 2" in line["message"]]
    assert retried, worker.output()
    assert retried[0]["trace_id"] == trace_id
    assert retried[0]["span_id"] == first["span_id"]
    assert retried[0]["request_id"] == rid


def test_a_failure_is_an_error_span_and_its_event_carries_the_trace(
    dest_client, dest_env, aws, webhook, rdb, start_worker, producer_spans, worker_spans
):
    env, read = worker_spans
    sqs = aws.client("sqs")
    queue = topic_copied_to_a_queue(aws)
    smn = {"destination": "SMN", "param": json.dumps({"topic_urn": TOPIC_URN})}
    dis = {"destination": "DIS", "param": json.dumps({"stream_name": "traced"})}
    dest_client.put_async_config(
        "report", {"destination_config": {"on_success": dis, "on_failure": smn}}
    )
    dest_client.put_async_config("notify", {"destination_config": {"on_success": smn}})
    start_worker(
        "tests.apps.traced_functions:app",
        pool="prefork",
        env={**dest_env, **env, "TEST_TRACED_APP": "tests.apps.destination_functions"},
    )
    ok = dest_client.invoke_async("report", {"value": 1})
    bad = dest_client.invoke_async("report", {"fail": "nope"})
    hooked = dest_client.invoke_async("notify", {"value": 2})
    for rid in (ok, bad, hooked):
        [delivery] = wait_delivery(dest_client, rid, {"delivered", "dead-lettered"}).deliveries
        assert delivery.state == "delivered"

    traces = {
        s.attributes[tracing.REQUEST_ID]: f"{s.context.trace_id:032x}"
        for s in producer_spans.get_finished_spans()
    }
    assert len(set(traces.values())) == 3, "each invocation is a trace of its own"
    spans = read(
        lambda s: len([x for x in s if x["name"].startswith("deliver ")]) == 3, "three deliveries"
    )

    def delivery_of(rid: str) -> dict[str, Any]:
        [span] = [
            s
            for s in spans
            if s["name"].startswith("deliver ") and s["attributes"][tracing.REQUEST_ID] == rid
        ]
        assert span["trace_id"] == traces[rid]
        return span

    # One retry (the stored config's default), then the failure that ends it.
    retried, failed_run = sorted(
        (
            s
            for s in spans
            if s["name"] == "run report" and s["attributes"][tracing.REQUEST_ID] == bad
        ),
        key=lambda s: s["attributes"][tracing.ATTEMPT],
    )
    assert retried["attributes"][tracing.OUTCOME] == "RETRY"
    assert failed_run["status"] == "ERROR"
    assert failed_run["attributes"][tracing.OUTCOME] == "FAIL"
    assert delivery_of(bad)["links"] == [failed_run["span_id"]]

    [(_, entry)] = rdb.xrange("traced")
    assert entry["id"] == f"{ok}:success"
    assert ids(entry["traceparent"]) == of(delivery_of(ok))

    [message] = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=2
    )["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["event_id"] == f"{bad}:failure"
    assert ids(attributes["traceparent"]) == of(delivery_of(bad))

    posted = webhook.at("/first") + webhook.at("/second")
    assert len(posted) == 2
    assert {ids(r.headers["traceparent"]) for r in posted} == {of(delivery_of(hooked))}
