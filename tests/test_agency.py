"""Agencies: the file, the grants, the refusals, and secrets kept out of sight."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from destination_services import (
    ACCESS_KEY,
    HOOK_SECRET,
    SECRET_ENV,
    SECRET_KEY,
    SECRETS,
    TOPIC_URN,
    wait_delivery,
)
from services import ROOT

from executor import AccessDenied
from executor.core.agency import DENIED, Agencies, DISAccess, OBSAccess, SMNAccess, load_agencies
from executor.core.errors import AgencyFileInvalid

OBS = {"destination": "OBS", "param": {"bucket": "results", "prefix": "ok"}}
DIS = {"destination": "DIS", "param": {"stream_name": "events"}}
SMN = {"destination": "SMN", "param": {"topic_urn": TOPIC_URN}}


def config(
    on_success: dict[str, object] | None = None, on_failure: dict[str, object] | None = None
):
    sides = {"on_success": on_success, "on_failure": on_failure}
    return {"destination_config": {k: v for k, v in sides.items() if v}}


@pytest.fixture
def secrets_in_env(monkeypatch):
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)


def test_toml_file_grants_kinds_and_reads_secrets_from_env(write_agencies, secrets_in_env):
    path = write_agencies(
        """
        [agencies.writer.obs]
        endpoint_url = "http://127.0.0.1:9000"
        access_key_id_env = "TEST_AK"
        secret_access_key_env = "TEST_SK"

        [agencies.writer.dis]

        [agencies.reader.smn]
        backend = "webhook"
        [[agencies.reader.smn.subscriptions]]
        topic_urn = "urn:smn:local-1:default:orders"
        url = "http://127.0.0.1:9/hook"
        secret_env = "TEST_HOOK_SECRET"
        """
    )
    agencies = Agencies.read(path)
    writer = agencies.get("writer")
    assert writer is not None
    assert writer.grants == {"OBS", "DIS"}
    assert writer.obs is not None
    assert writer.obs.secret_access_key is not None
    assert writer.obs.secret_access_key.get_secret_value() == SECRET_KEY
    assert writer.dis == DISAccess()
    reader = agencies.get("reader")
    assert reader is not None
    assert reader.grants == {"SMN"}
    [subscription] = reader.smn.subscriptions  # type: ignore[union-attr]
    assert subscription.secret.get_secret_value() == HOOK_SECRET
    for shown in (
        repr(agencies),
        repr(writer),
        str(writer),
        writer.model_dump_json(),
        repr(reader),
    ):
        assert not any(secret in shown for secret in SECRETS)


def test_json_file_is_read_too(write_agencies):
    path = write_agencies(
        json.dumps({"agencies": {"writer": {"dis": {"backend": "redis", "maxlen": 10}}}}),
        name="agencies.json",
    )
    agency = Agencies.read(path).get("writer")
    assert agency is not None
    assert agency.dis is not None
    assert agency.dis.maxlen == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[agencies.w.obs]\nregion = 1", "agencies.w.obs.region: Input should be a valid string"),
        ("[agencies.w.obz]", "agencies.w.obz: Extra inputs are not permitted"),
        ("[agencies.w.dis]\nbackend = 'kafka'", "agencies.w.dis.backend: Input should be"),
        (
            "[agencies.w.obs]\nsecret_access_key_env = 'NOT_SET_ANYWHERE'",
            "secret_access_key_env names NOT_SET_ANYWHERE, which is not set in the environment",
        ),
        (
            "[agencies.w.obs]\naccess_key_id = 'a'",
            "give both access_key_id and secret_access_key, or neither",
        ),
        ("[agencies.w.smn]\nbackend = 'sns'", "backend 'sns' needs account_id"),
        ("[agencies.w.smn]\nbackend = 'webhook'", "needs at least one [[...smn.subscriptions]]"),
        ("[agencies.'bad name'.dis]", "agencies.bad name: String should match pattern"),
        ("[agencies.w.obs", "is not valid TOML"),
    ],
)
def test_invalid_file_says_what_to_fix(write_agencies, text, expected):
    path = write_agencies(text)
    with pytest.raises(AgencyFileInvalid) as caught:
        Agencies.read(path)
    assert expected in caught.value.message
    assert path in caught.value.message


def test_invalid_file_never_echoes_a_secret(write_agencies, secrets_in_env):
    for body in (
        f"secret_access_key = ['{SECRET_KEY}']\naccess_key_id = 'a'",
        f"secret_access_key = '{SECRET_KEY}'\nregion = 7",
        f"secret_access_key = '{SECRET_KEY}'",
    ):
        with pytest.raises(AgencyFileInvalid) as caught:
            Agencies.read(write_agencies(f"[agencies.w.obs]\n{body}"))
        assert "agencies.w.obs" in caught.value.message
        assert SECRET_KEY not in caught.value.message
        assert SECRET_KEY not in str(caught.value)


def test_missing_file_is_refused_at_start(settings):
    from executor import Client

    with pytest.raises(AgencyFileInvalid, match=r"cannot read the agency file /nonexistent\.toml"):
        Client(settings.model_copy(update={"agency_file": "/nonexistent.toml"}))


def test_functiongraph_needs_no_grant_the_others_do():
    agencies = Agencies()
    assert agencies.authorize(None, "FunctionGraph") is None
    for kind in ("OBS", "DIS", "SMN"):
        with pytest.raises(AccessDenied) as caught:
            agencies.authorize(None, kind)
        assert caught.value.code == "FSS.1121"
        assert caught.value.http_status == 403
        assert caught.value.message.startswith(DENIED)
        assert 'agency="<name>"' in caught.value.message


def test_access_gives_the_section_of_a_granted_kind(write_agencies):
    agencies = Agencies.read(write_agencies("[agencies.w.obs]\nregion = 'eu-west-1'"))
    name, access = agencies.access("w", OBSAccess)
    assert (name, access.region) == ("w", "eu-west-1")
    with pytest.raises(AccessDenied, match="Agency 'w' does not grant SMN"):
        agencies.access("w", SMNAccess)


def test_put_config_is_refused_unless_the_agency_grants_the_kind(dest_client):
    refusals = [
        ("anonymous", config(on_success=OBS), "The function names no agency"),
        (
            "limited",
            config(on_success=DIS, on_failure=SMN),
            "Agency 'streams-only' does not grant SMN",
        ),
    ]
    for function, body, reason in refusals:
        with pytest.raises(AccessDenied) as caught:
            dest_client.put_async_config(function, body)
        assert caught.value.code == "FSS.1121"
        assert caught.value.message.startswith(DENIED)
        assert reason in caught.value.message
        assert dest_client.store.get_config(str(dest_client.resolve(function))) is None

    assert dest_client.put_async_config("limited", config(on_success=DIS)).func_urn
    assert dest_client.put_async_config("report", config(OBS, SMN)).func_urn
    fg = {"destination": "FunctionGraph", "param": {"func_urn": str(dest_client.resolve("report"))}}
    assert dest_client.put_async_config("anonymous", config(on_success=fg)).func_urn


def test_undefined_agency_is_refused(settings, write_agencies):
    from destination_functions import app

    from executor import Client

    path = write_agencies("[agencies.other.obs]\n")
    client = Client(settings.model_copy(update={"agency_file": path}), registry=app.registry)
    with pytest.raises(
        AccessDenied, match=f"Agency 'writer' is not defined in the agency file {path}"
    ):
        client.put_async_config("report", config(on_success=OBS))


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
            "destination_functions:app",
        ],
        env={**dest_env, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error FSS.1121: {DENIED}")
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)


@pytest.mark.integration
def test_delivery_checks_the_grant_again(dest_client, dest_env, start_worker, write_agencies):
    """A grant taken away after the config was set stops the delivery: dead-lettered, 1121."""
    dest_client.put_async_config("report", config(on_success=OBS))
    narrower = write_agencies("[agencies.writer.dis]\n", name="narrower.toml")
    start_worker("destination_functions:app", env={**dest_env, "EXECUTOR_AGENCY_FILE": narrower})
    rid = dest_client.invoke_async("report", {"value": 1})
    record = wait_delivery(dest_client, rid, {"dead-lettered"})
    [delivery] = record.deliveries
    assert delivery.error.startswith(DENIED)
    assert "Agency 'writer' does not grant OBS" in delivery.error
    assert delivery.attempts == 1


def test_load_agencies_reads_a_file_once(write_agencies):
    path = write_agencies("[agencies.w.dis]\n")
    assert load_agencies(path) is load_agencies(path)
    assert load_agencies("").get("w") is None


def test_access_key_alone_is_kept_secret_too(write_agencies, secrets_in_env):
    path = write_agencies(
        "[agencies.w.obs]\naccess_key_id_env = 'TEST_AK'\nsecret_access_key_env = 'TEST_SK'"
    )
    agency = Agencies.read(path).get("w")
    assert agency is not None
    assert ACCESS_KEY not in repr(agency) + agency.model_dump_json()


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
        [sys.executable, "-m", "executor", *args, "--app", "destination_functions:app"],
        env={**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    return done.stdout + done.stderr


@pytest.mark.integration
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
    worker = start_worker("destination_functions:app", env=dest_env, extra=("--loglevel", "DEBUG"))
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
    outputs.append(run_cli(dest_env, "dlq", "show", f"{bad}:success"))
    outputs.append(run_cli(dest_env, "dlq", "list"))
    outputs.append(run_cli(dest_env, "config", "get", "report"))
    stored = aws.client("s3").get_object(Bucket="seen", Key=f"p/{ok}/success.json")
    outputs += [stored["Body"].read().decode(), json.dumps(stored["Metadata"])]
    outputs += [json.dumps(r.headers) + r.body.decode() for r in webhook.received]

    assert "DEBUG" in outputs[0]
    assert any(ok in text for text in outputs[1:])
    for text in outputs:
        for secret in SECRETS:
            assert secret not in text
