"""Destinations that go down while invocations finish lose nothing and duplicate nothing.

The worker reaches object storage (moto) and the stream's Redis through TCP proxies; stopping
the proxies cuts both off (moto itself would lose its state on a restart).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import redis

from tests.support.destination_services import TcpProxy, agency_toml, recorded_event
from tests.support.services import RedisServer, wait_for

pytestmark = pytest.mark.integration

COUNT = 50


@pytest.fixture
def stream_redis():
    server = RedisServer().start()
    yield server
    server.close()


def test_outage_delays_deliveries_and_loses_or_duplicates_none(
    dest_client, dest_env, aws, webhook, stream_redis, start_worker, write_agencies
):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="outage")
    s3.put_bucket_versioning(Bucket="outage", VersioningConfiguration={"Status": "Enabled"})
    storage, streams = TcpProxy(aws.port).start(), TcpProxy(stream_redis.port).start()
    path = write_agencies(
        agency_toml(storage.url(), webhook.url, stream_redis=streams.url("redis") + "/0"),
        name="proxied.toml",
    )
    obs = {"destination": "OBS", "param": json.dumps({"bucket": "outage", "prefix": "run"})}
    dis = {"destination": "DIS", "param": json.dumps({"stream_name": "failures"})}
    dest_client.put_async_config(
        "report",
        {
            "max_async_retry_attempts": 0,
            "destination_config": {"on_success": obs, "on_failure": dis},
        },
    )
    start_worker(
        "tests.apps.destination_functions:app",
        pool="prefork",
        concurrency=4,
        env={**dest_env, "EXECUTOR_AGENCY_FILE": path, "EXECUTOR_DELIVERY_DEADLINE": "120"},
    )

    storage.stop()
    streams.stop()
    succeeded = [dest_client.invoke_async("report", {"n": n}) for n in range(COUNT)]
    failed = [dest_client.invoke_async("report", {"n": n, "fail": "down"}) for n in range(COUNT)]
    everything = succeeded + failed

    def all_waiting_on_the_outage() -> bool:
        records = dest_client.store.records.get_many(everything)
        return len(records) == 2 * COUNT and all(
            r.deliveries and r.deliveries[0].state == "pending" and r.deliveries[0].attempts >= 2
            for r in records
        )

    wait_for(all_waiting_on_the_outage, 60, "every delivery to fail at least twice", 0.1)
    storage.start()
    streams.start()

    def all_delivered() -> bool:
        records = dest_client.store.records.get_many(everything)
        return all(r.deliveries and r.deliveries[0].state == "delivered" for r in records)

    wait_for(all_delivered, 60, "every delivery after the outage", 0.1)

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="outage", Prefix="run/")["Contents"]]
    assert sorted(keys) == sorted(f"run/{rid}/success.json" for rid in succeeded)
    for rid in succeeded:
        body = s3.get_object(Bucket="outage", Key=f"run/{rid}/success.json")["Body"].read()
        assert json.loads(body) == recorded_event(dest_client, rid)
    writes = Counter(v["Key"] for v in s3.list_object_versions(Bucket="outage")["Versions"])

    entries = redis.Redis(port=stream_redis.port, decode_responses=True).xrange("failures")
    identities = Counter(fields["id"] for _, fields in entries)
    assert sorted(identities) == sorted(f"{rid}:failure" for rid in failed)
    duplicates = sum(n - 1 for n in identities.values())
    assert duplicates == 0
    for _, fields in entries:
        rid = fields["id"].removesuffix(":failure")
        assert json.loads(fields["event"]) == recorded_event(dest_client, rid)

    per_event = Counter(key.split("/")[1] for key in keys)
    duplicate_objects = sum(n - 1 for n in per_event.values())
    assert duplicate_objects == 0
    attempts = [r.deliveries[0].attempts for r in dest_client.store.records.get_many(everything)]
    print(
        f"\noutage: {len(keys)}/{COUNT} objects and {len(entries)}/{COUNT} stream entries "
        f"delivered after the outage; duplicate objects {duplicate_objects}, duplicate stream entries "
        f"{duplicates}; object writes per key max {max(writes.values())}; delivery attempts "
        f"min {min(attempts)} max {max(attempts)} total {sum(attempts)}"
    )
