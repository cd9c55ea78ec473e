"""OBS: one JSON object per event in S3-compatible storage (moto over real HTTP)."""

from __future__ import annotations

import json

import pytest

from destinations.obs import RULE_PREFIX, ensure_expiry, object_key
from executor import ResultEvent
from executor.state.keys import DLQ
from tests.support.destination_services import recorded_event, wait_delivery

pytestmark = pytest.mark.integration


def obs(bucket: str, prefix: str, expires: int = 0) -> dict[str, object]:
    return {
        "destination": "OBS",
        "param": json.dumps({"bucket": bucket, "prefix": prefix, "expires": expires}),
    }


def test_success_and_failure_events_are_objects_at_their_keys(
    dest_client, dest_env, aws, start_worker
):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="results")
    dest_client.put_async_config(
        "report",
        {
            "max_async_retry_attempts": 0,
            "destination_config": {
                "on_success": obs("results", "/runs/ok", expires=5),
                "on_failure": obs("results", "runs/failed/"),
            },
        },
    )
    start_worker("tests.apps.destination_functions:app", env=dest_env)
    ok = dest_client.invoke_async("report", {"value": "ünï"})
    bad = dest_client.invoke_async("report", {"fail": "no luck"})

    for rid, outcome, prefix in ((ok, "success", "runs/ok"), (bad, "failure", "runs/failed")):
        record = wait_delivery(dest_client, rid, {"delivered", "dead-lettered"})
        assert [(d.outcome, d.state) for d in record.deliveries] == [(outcome, "delivered")]
        key = f"{prefix}/{rid}/{outcome}.json"
        assert object_key(f"/{prefix}/", rid, outcome) == key
        stored = s3.get_object(Bucket="results", Key=key)
        assert stored["ContentType"] == "application/json"
        assert stored["Metadata"] == {"event-id": f"{rid}:{outcome}"}
        body = stored["Body"].read()
        assert json.loads(body) == recorded_event(dest_client, rid)
        ResultEvent.model_validate_json(body)

    ok_event = json.loads(
        s3.get_object(Bucket="results", Key=f"runs/ok/{ok}/success.json")["Body"].read()
    )
    assert ok_event["request_context"]["condition"] == ""
    assert ok_event["response_payload"] == {"echo": {"value": "ünï"}, "attempt": 1}
    bad_key = f"runs/failed/{bad}/failure.json"
    bad_event = json.loads(s3.get_object(Bucket="results", Key=bad_key)["Body"].read())
    assert bad_event["request_context"]["condition"] == "RetriesExhausted"
    assert bad_event["response_context"]["function_error"] == "RuntimeError: no luck"
    assert len(s3.list_objects_v2(Bucket="results")["Contents"]) == 2

    [rule] = s3.get_bucket_lifecycle_configuration(Bucket="results")["Rules"]
    assert rule["ID"] == RULE_PREFIX + "runs/ok/"
    assert rule["Filter"]["Prefix"] == "runs/ok/"
    assert rule["Expiration"]["Days"] == 5
    assert rule["Status"] == "Enabled"


def test_expiry_rule_keeps_other_rules_and_is_set_once(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="kept")
    theirs = {
        "ID": "theirs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
    }
    s3.put_bucket_lifecycle_configuration(Bucket="kept", LifecycleConfiguration={"Rules": [theirs]})

    ensure_expiry(s3, "kept", "/events", 3)
    ensure_expiry(s3, "kept", "events/", 3)
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="kept")["Rules"]}
    assert set(rules) == {"theirs", RULE_PREFIX + "events/"}
    assert rules[RULE_PREFIX + "events/"]["Expiration"]["Days"] == 3

    ensure_expiry(s3, "kept", "events", 9)
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="kept")["Rules"]}
    assert rules[RULE_PREFIX + "events/"]["Expiration"]["Days"] == 9
    assert rules["theirs"]["Expiration"]["Days"] == 30


def test_missing_bucket_is_permanent_and_dead_lettered(dest_client, dest_env, start_worker):
    dest_client.put_async_config(
        "report", {"destination_config": {"on_success": obs("nowhere", "x")}}
    )
    start_worker("tests.apps.destination_functions:app", env=dest_env)
    rid = dest_client.invoke_async("report", {"value": 1})
    record = wait_delivery(dest_client, rid, {"dead-lettered"})
    [delivery] = record.deliveries
    assert delivery.attempts == 1
    assert "NoSuchBucket" in delivery.error
    entry = json.loads(dest_client.store.redis.hget(DLQ, f"{rid}:success"))
    assert entry["destination"]["destination"] == "OBS"
    assert entry["event"] == recorded_event(dest_client, rid)
