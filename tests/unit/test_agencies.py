"""Agencies: the file, its grants and refusals, and secrets kept out of every representation."""

from __future__ import annotations

import json

import pytest

from executor import AccessDenied
from executor.core.agency import DENIED, Agencies, DISAccess, OBSAccess, SMNAccess, load_agencies
from executor.core.errors import AgencyFileInvalid
from tests.support.destination_services import (
    ACCESS_KEY,
    HOOK_SECRET,
    SECRET_ENV,
    SECRET_KEY,
    SECRETS,
    TOPIC_URN,
)

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
