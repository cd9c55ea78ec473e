"""Agencies at work: the CLI's refusal, the grant checked again at delivery, and credentials
kept out of everything a user can read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from executor.core.agency import DENIED
from tests.support.destination_services import SECRETS, TOPIC_URN, wait_delivery
from tests.support.services import ROOT

pytestmark = pytest.mark.integration


OBS = {"destination": "OBS", "param": {"bucket": "results", "prefix": "ok"}}
DIS = {"destination": "DIS", "param": {"stream_name": "events"}}
SMN = {"destination": "SMN", "param": {"topic_urn": TOPIC_URN}}


def config(
    on_success: dict[str, object] | None = None, on_failure: dict[str, object] | None = None
):
    sides = {"on_success": on_success, "on_failure": on_failure}
    return {"destination_config": {k: v for k, v in sides.items() if v}}


def test_cli_refusal_prints_the_code_and_what_to_fix(dest_env):
    body = json.dumps(config(on_success=OBS))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "executor",
            "config",
            "put",
            "anonymous",
            "--body",
            body,
            "--app",
            "tests.apps.destination_functions:app",
        ],
        env={**dest_env, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error FSS.1121: {DENIED}")
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)


def test_delivery_checks_the_grant_again(dest_client, dest_env, start_worker, write_agencies):
    """A grant taken away after the config was set stops the delivery: dead-lettered, 1121."""
    dest_client.put_async_config("report", config(on_success=OBS))
    narrower = write_agencies("[agencies.writer.dis]\n", name="narrower.toml")
    start_worker(
        "tests.apps.destination_functions:app", env={**dest_env, "EXECUTOR_AGENCY_FILE": narrower}
    )
    rid = dest_client.invoke_async("report", {"value": 1})
    record = wait_delivery(dest_client, rid, {"dead-lettered"})
    [delivery] = record.deliveries
    assert delivery.error.startswith(DENIED)
    assert "Agency 'writer' does not grant OBS" in delivery.error
    assert delivery.attempts == 1


def every_value(rdb) -> list[str]:
    """Everything the state store holds, keys and values, as text."""
    found = []
    for key in rdb.scan_iter():
        kind = rdb.type(key)
        found.append(key)
        if kind == "string":
            found.append(rdb.get(key))
        elif kind == "hash":
            found.extend(f"{k}={v}" for k, v in rdb.hgetall(key).items())
        elif kind == "list":
            found.extend(rdb.lrange(key, 0, -1))
        elif kind == "zset":
            found.extend(rdb.zrange(key, 0, -1))
        elif kind == "set":
            found.extend(rdb.smembers(key))
        elif kind == "stream":
            found.extend(json.dumps(fields) for _, fields in rdb.xrange(key))
    return found


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "executor", *args, "--app", "tests.apps.destination_functions:app"],
        env={**env, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    return done.stdout + done.stderr


def test_credentials_appear_nowhere_a_user_looks(
    dest_client, dest_env, aws, webhook, rdb, start_worker
):
    aws.client("s3").create_bucket(Bucket="seen")
    aws.client("sns").create_topic(Name="orders")
    seen = {"destination": "OBS", "param": {"bucket": "seen", "prefix": "p"}}
    dest_client.put_async_config(
        "report",
        {
            "max_async_retry_attempts": 0,
            "destination_config": {"on_success": seen, "on_failure": OBS},
        },
    )
    dest_client.put_async_config("notify", config(on_success=SMN))
    dest_client.put_async_config("limited", config(on_success=DIS))
    worker = start_worker(
        "tests.apps.destination_functions:app", env=dest_env, extra=("--loglevel", "DEBUG")
    )
    ok = dest_client.invoke_async("report", {"value": 1})
    bad = dest_client.invoke_async("report", {"fail": "x"})
    hooked = dest_client.invoke_async("notify", {"value": 2})
    streamed = dest_client.invoke_async("limited", {"value": 3})
    for rid, state in (
        (ok, "delivered"),
        (bad, "dead-lettered"),
        (hooked, "delivered"),
        (streamed, "delivered"),
    ):
        assert wait_delivery(dest_client, rid, {state}).deliveries[0].state == state

    outputs = [worker.output(), *every_value(rdb)]
    for rid in (ok, bad, hooked):
        outputs.append(run_cli(dest_env, "invocations", "show", rid))
        outputs.append(run_cli(dest_env, "invocations", "show", rid, "--json"))
    outputs.append(run_cli(dest_env, "dlq", "show", f"{bad}:success"))
    for listing in (("dlq", "list"), ("config", "get", "report")):
        outputs.append(run_cli(dest_env, *listing))
        outputs.append(run_cli(dest_env, *listing, "--json"))
    stored = aws.client("s3").get_object(Bucket="seen", Key=f"p/{ok}/success.json")
    outputs += [stored["Body"].read().decode(), json.dumps(stored["Metadata"])]
    outputs += [json.dumps(r.headers) + r.body.decode() for r in webhook.received]

    assert "DEBUG" in outputs[0]
    assert any(ok in text for text in outputs[1:])
    for text in outputs:
        for secret in SECRETS:
            assert secret not in text
