"""The dead-letter store: what lands there, and list, show, redrive and purge."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from executor import FunctionApp
from executor.core.constants import DELIVERY_QUEUE
from executor.core.errors import DeadLetterNotFound
from tests.support.destination_services import agency_toml, recorded_event, wait_delivery
from tests.support.services import ROOT, free_port

pytestmark = pytest.mark.integration

OBS = {"destination": "OBS", "param": json.dumps({"bucket": "late", "prefix": "in"})}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "executor",
            "dlq",
            *args,
            "--app",
            "tests.apps.destination_functions:app",
        ],
        env={**env, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def letter(n: int, at: float) -> dict[str, Any]:
    rid = f"req-{n}"
    return {
        "identity": f"{rid}:success",
        "request_id": rid,
        "outcome": "success",
        "destination": {"destination": "DIS", "param": '{"stream_name":"s"}'},
        "event": {"request_context": {"request_id": rid}},
        "chain": [],
        "function_urn": "urn:fss:local-1:default:function:default:report:latest",
        "agency": "writer",
        "reason": "refused",
        "attempts": n,
        "at": at,
    }


@pytest.fixture
def app(settings, dest_env) -> FunctionApp:
    configured = settings.model_copy(update={"agency_file": dest_env["EXECUTOR_AGENCY_FILE"]})
    return FunctionApp(configured)


def test_store_lists_shows_resends_and_purges(app, rdb):
    dead_letters = app.client.dead_letters()
    store = app.engine.store
    for n in range(1, 6):
        store.dead_letters.add(f"req-{n}:success", json.dumps(letter(n, 1000.0 + n)), 1000.0 + n)

    assert dead_letters.count() == 5
    assert [d.attempts for d in dead_letters.page(limit=2, offset=1)] == [2, 3]
    assert dead_letters.get("req-4:success").agency == "writer"
    with pytest.raises(DeadLetterNotFound, match="executor dlq list"):
        dead_letters.get("req-9:success")

    assert dead_letters.resend(["req-1:success", "req-9:success", "req-1:success"]) == [
        "req-1:success"
    ]
    [message] = rdb.lrange(DELIVERY_QUEUE, 0, -1)
    headers = json.loads(message)["headers"]
    assert (headers["task"], headers["id"]) == ("executor.deliver", "req-1:success")
    assert store.deliveries.state("req-1", "success").state == "pending"

    assert dead_letters.purge(["req-2:success", "req-9:success"]) == 1
    assert dead_letters.identities() == ["req-3:success", "req-4:success", "req-5:success"]
    assert dead_letters.purge_all() == 3
    assert dead_letters.count() == 0


def test_refused_event_is_sent_again_and_delivered(dest_client, dest_env, aws, start_worker):
    dest_client.put_async_config("report", {"destination_config": {"on_success": OBS}})
    start_worker("tests.apps.destination_functions:app", env=dest_env)
    rid = dest_client.invoke_async("report", {"value": "again"})
    record = wait_delivery(dest_client, rid, {"dead-lettered"})
    assert dest_client.get_invocation(rid).deliveries == record.deliveries

    listed = cli(dest_env, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [summary] = json.loads(listed.stdout)["dead_letters"]
    assert summary["identity"] == f"{rid}:success"
    assert summary["destination"] == "OBS"
    assert summary["attempts"] == 1
    assert "NoSuchBucket" in summary["reason"]
    shown = json.loads(cli(dest_env, "show", f"{rid}:success").stdout)
    assert shown["event"] == recorded_event(dest_client, rid)
    assert shown["destination"] == OBS | {"param": '{"bucket":"late","prefix":"in","expires":0}'}

    s3 = aws.client("s3")
    s3.create_bucket(Bucket="late")
    resent = cli(dest_env, "resend", f"{rid}:success")
    assert json.loads(resent.stdout) == {"resent": [f"{rid}:success"], "not_found": []}
    record = wait_delivery(dest_client, rid, {"delivered"})
    assert record.deliveries[0].attempts == 2
    body = s3.get_object(Bucket="late", Key=f"in/{rid}/success.json")["Body"].read()
    assert json.loads(body) == recorded_event(dest_client, rid)

    missing = cli(dest_env, "resend", f"{rid}:success")
    assert missing.returncode == 1
    assert json.loads(missing.stdout) == {"resent": [], "not_found": [f"{rid}:success"]}
    # The command's former name still answers as it did.
    former = cli(dest_env, "redrive", f"{rid}:success")
    assert json.loads(former.stdout) == {"redriven": [], "not_found": [f"{rid}:success"]}


def test_deadline_passed_sends_the_event_to_the_store(
    dest_client, dest_env, aws, webhook, start_worker, write_agencies
):
    """A destination that stays down past the delivery deadline: dead-lettered, not lost."""
    unreachable = f"http://127.0.0.1:{free_port()}"
    path = write_agencies(agency_toml(unreachable, webhook.url), name="down.toml")
    dest_client.put_async_config("report", {"destination_config": {"on_success": OBS}})
    start_worker(
        "tests.apps.destination_functions:app",
        env={**dest_env, "EXECUTOR_AGENCY_FILE": path, "EXECUTOR_DELIVERY_DEADLINE": "1"},
    )
    rid = dest_client.invoke_async("report", {"value": 1})
    record = wait_delivery(dest_client, rid, {"dead-lettered"})
    [delivery] = record.deliveries
    assert delivery.attempts > 1
    assert delivery.error.startswith("delivery deadline passed; last error: OBS bucket late")
    assert "Could not connect" in delivery.error
    entry = dest_client.dead_letters().get(f"{rid}:success")
    assert entry.attempts == delivery.attempts
    assert entry.event == recorded_event(dest_client, rid)
