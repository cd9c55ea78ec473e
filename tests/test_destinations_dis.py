"""DIS: Redis Streams by default, Kinesis (moto over real HTTP) as the second backend."""

from __future__ import annotations

import base64
import json

import pytest

import destinations
from destinations import Delivery, PermanentDeliveryError
from destinations.dis import DISParam
from executor import Client, ResultEvent
from executor.runtime.hops import EngineRuntime
from executor.state.keys import marker_key
from tests.support.destination_services import recorded_event, wait_delivery

pytestmark = pytest.mark.integration


def dis(stream: str) -> dict[str, object]:
    return {"destination": "DIS", "param": json.dumps({"stream_name": stream})}


@pytest.fixture
def in_process(dest_client: Client) -> EngineRuntime:
    """What destinations called in this process are given: the test's Redis and agencies."""
    engine = dest_client.engine
    return EngineRuntime(
        engine.settings, engine.agencies, engine.store.markers, engine.admission.invoke
    )


def delivery(rid: str, agency: str, stream: str = "events", outcome: str = "success") -> Delivery:
    return Delivery(
        identity=f"{rid}:{outcome}",
        request_id=rid,
        outcome=outcome,
        function_urn="urn:fss:local-1:default:function:default:report:latest",
        event={"request_context": {"request_id": rid}, "n": rid},
        param=DISParam(stream_name=stream),
        agency=agency,
    )


def test_events_are_stream_entries_with_their_identity(dest_client, dest_env, rdb, start_worker):
    dest_client.put_async_config(
        "report", {"destination_config": {"on_success": dis("done"), "on_failure": dis("failed")}}
    )
    start_worker("tests.apps.destination_functions:app", env=dest_env)
    ok = dest_client.invoke_async("report", {"value": 7})
    bad = dest_client.invoke_async("report", {"fail": "boom"})
    for rid, outcome, stream in ((ok, "success", "done"), (bad, "failure", "failed")):
        record = wait_delivery(dest_client, rid, {"delivered", "dead-lettered"})
        assert [d.state for d in record.deliveries] == ["delivered"]
        [(_, fields)] = rdb.xrange(stream)
        assert fields["id"] == f"{rid}:{outcome}"
        assert json.loads(fields["event"]) == recorded_event(dest_client, rid)
        ResultEvent.model_validate_json(fields["event"])
    [(_, failed)] = rdb.xrange("failed")
    assert json.loads(failed["event"])["request_context"]["condition"] == "RetriesExhausted"


def test_a_repeated_delivery_adds_no_second_entry(in_process, rdb):
    target = destinations.get("DIS")
    for _ in range(3):
        target.deliver(delivery("r-1", "writer"), in_process)
    target.deliver(delivery("r-1", "writer", outcome="failure"), in_process)
    assert [f["id"] for _, f in rdb.xrange("events")] == ["r-1:success", "r-1:failure"]


def test_stream_is_trimmed_near_its_maxlen(in_process, rdb):
    target = destinations.get("DIS")
    for n in range(1500):
        target.deliver(delivery(f"r-{n}", "writer", stream="capped"), in_process)
    # The agency caps at 1000 with approximate trimming (whole stream nodes of 100 entries).
    assert 1000 <= rdb.xlen("capped") < 1100


def test_kinesis_backend_puts_one_record_per_event(in_process, aws):
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="events", ShardCount=1)
    target = destinations.get("DIS")
    for _ in range(2):
        target.deliver(delivery("k-1", "kinesis"), in_process)
    target.deliver(delivery("k-2", "kinesis"), in_process)

    shard = kinesis.describe_stream(StreamName="events")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName="events", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [r["PartitionKey"] for r in records] == ["k-1", "k-2"]
    data = records[0]["Data"]
    event = json.loads(data if isinstance(data, bytes) else base64.b64decode(data))
    assert event == delivery("k-1", "kinesis").event


def test_kinesis_missing_stream_is_permanent(in_process, aws):
    with pytest.raises(PermanentDeliveryError, match="ResourceNotFoundException"):
        destinations.get("DIS").deliver(delivery("k-9", "kinesis", stream="absent"), in_process)
    assert in_process.read_marker("dis:absent:k-9:success") is None


def test_kinesis_stream_through_a_worker(dest_client, dest_env, aws, start_worker):
    aws.client("kinesis").create_stream(StreamName="runs", ShardCount=1)
    dest_client.put_async_config("stream", {"destination_config": {"on_success": dis("runs")}})
    start_worker("tests.apps.destination_functions:app", env=dest_env)
    rid = dest_client.invoke_async("stream", {"value": 3})
    record = wait_delivery(dest_client, rid, {"delivered", "dead-lettered"})
    assert [d.state for d in record.deliveries] == ["delivered"]
    marker = dest_client.store.redis.get(marker_key(f"dis:runs:{rid}:success"))
    assert marker is not None
    assert marker.startswith("done:")
