"""Text that is not Unicode, JSON that is not UTF-8 and names that are not quite names are
refused where they come in (the payload check, the API, the CLI, the console's form), in
words, and nothing is recorded."""

from __future__ import annotations

import codecs
import importlib
import json
import re
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from executor import Client
from executor.api.app import create_api
from executor.api.auth import Authenticator
from executor.api.console import config_form
from executor.core.config import AsyncConfig
from executor.core.errors import InvalidURN
from executor.core.params import param_model
from executor.core.payload import PayloadRefused, check_payload, read_json
from executor.core.urn import parse_urn
from executor.state.keys import shard_of
from tests.support.cli import invoke
from tests.support.console_pages import sign_in
from tests.support.names import urn

HELLO = urn("hello")
TOKEN = "tok-text"
PREFIX = f"/v2/{HELLO.split(':')[3]}/fgs/functions"
LONE = "\ud800"


def recorded(fake_redis: fakeredis.FakeRedis) -> list[Any]:
    return list(fake_redis.scan_iter("ae:*:inv:*"))


# -- the payload check and the reading of JSON ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"x": LONE}, "the text at x"),
        ({"a": [1, {"b": "ok" + LONE}]}, "the text at a[1].b"),
        ({"a": {"k" + LONE: 1}}, "the key 'k\\ud800' (at a)"),
        ("\udcff", "the text at the top level"),
    ],
)
def test_a_lone_surrogate_in_a_payload_is_refused_naming_where(value: Any, where: str) -> None:
    with pytest.raises(PayloadRefused) as refused:
        check_payload(value, max_depth=64, limit=1000)
    assert where in refused.value.message and "lone surrogate" in refused.value.message
    refused.value.message.encode()  # the refusal itself can be sent and printed


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (b'{"x": "\\ud800"}', "the text at x"),
        (b'{"x": ["\\uDC00z"]}', "the text at x[0]"),
        (b'{"\\udfff": 1}', "the key '\\udfff'"),
        ('{"x": "\udcff"}', "the text at x"),  # as argv decodes bytes that are not UTF-8
    ],
)
def test_read_json_refuses_a_lone_surrogate_naming_where(text: str | bytes, where: str) -> None:
    with pytest.raises(PayloadRefused) as refused:
        read_json(text, "the body")
    assert where in refused.value.message and "not valid Unicode" in refused.value.message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b'{"e": "\\ud83d\\ude00"}', {"e": "\U0001f600"}),  # a pair is one character
        (b'{"e": "\\\\ud800"}', {"e": "\\ud800"}),  # an escaped backslash, then text
        ('{"e": "\u00e9"}'.encode(), {"e": "\u00e9"}),
    ],
)
def test_read_json_takes_text_that_is_unicode(text: bytes, value: Any) -> None:
    assert read_json(text, "the body") == value


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"a": 1}'.encode("utf-16"), "UTF-16 byte-order mark"),
        ('{"a": 1}'.encode("utf-16-be"), "NUL bytes"),
        ('{"a": 1}'.encode("utf-32"), "UTF-32 byte-order mark"),
        ('{"a": 1}'.encode("utf-32-le"), "NUL bytes"),
        (codecs.BOM_UTF8 + b'{"a": 1}', "UTF-8 byte-order mark"),
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate encoded as if it were text
        (b'{"a": "\xe9"}', "not UTF-8"),
    ],
)
def test_json_bytes_must_be_utf_8_without_a_mark(raw: bytes, words: str) -> None:
    with pytest.raises(PayloadRefused, match=words):
        read_json(raw, "the body")


# -- names and keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "echo\n",
        "echo\r",
        "echo\t",
        "ec\x00ho",
        "hello:latest\n",
        "default:hello:latest\n",
        "urn:fss:local-1:p1:function:default:hello:latest\n",
    ],
)
def test_a_function_name_with_a_control_character_is_refused(name: str) -> None:
    with pytest.raises(InvalidURN):
        parse_urn(name, region="local-1", project="p1")


def test_patterns_match_whole_values() -> None:
    with pytest.raises(ValueError, match="bucket"):
        param_model("OBS").model_validate({"bucket": "events\n"})
    assert config_form._number("12\n") == "12\n" and config_form._number("12") == 12
    assert shard_of("abc.r1\n") != shard_of("abc")  # only a whole suffix is a redrive's
    # pydantic's patterns (Rust's engine) anchor "$" at the very end: checked, not assumed.
    with pytest.raises(ValueError, match="stream_name"):
        param_model("DIS").model_validate({"stream_name": "events\n"})


@pytest.mark.parametrize("side", ["on_success", "on_failure"])
def test_an_unknown_key_beside_destination_and_param_is_refused(side: str) -> None:
    ref = {"destination": "OBS", "param": {"bucket": "events"}, "bucket_typo": "x"}
    with pytest.raises(ValueError, match="bucket_typo"):
        AsyncConfig.model_validate({"destination_config": {side: ref}})


# -- the API, the CLI and the console -------------------------------------------------------------


@pytest.fixture
def http(fake_client: Client) -> TestClient:
    project = HELLO.split(":")[3]
    auth = Authenticator({TOKEN: frozenset({project})}, {})
    return TestClient(create_api(fake_client, fake_client.settings, authenticator=auth))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"x": "\\ud800"}', "the text at x"),
        (b'{"a": {"\\udbff": 1}}', "the key '\\udbff' (at a)"),
        ('{"a": 1}'.encode("utf-16"), "UTF-16 byte-order mark"),
        ('{"a": 1}'.encode("utf-16-le"), "NUL bytes"),
    ],
)
def test_the_api_refuses_a_body_that_is_not_unicode_and_records_nothing(
    http: TestClient, fake_redis: fakeredis.FakeRedis, body: bytes, words: str
) -> None:
    answer = http.post(
        f"{PREFIX}/hello/invocations-async", content=body, headers={"X-Auth-Token": TOKEN}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "FSS.0400" and words in answer.json()["error_msg"]
    assert recorded(fake_redis) == []


@pytest.mark.parametrize(
    "name", ["echo%0A", "hello%0A", "hello%0D", "hello%09", "hello%00", "hello:latest%0A"]
)
def test_the_api_refuses_a_function_name_with_a_control_character(
    http: TestClient, fake_redis: fakeredis.FakeRedis, name: str
) -> None:
    answer = http.post(
        f"{PREFIX}/{name}/invocations-async", json={"a": 1}, headers={"X-Auth-Token": TOKEN}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "FSS.1309"
    assert recorded(fake_redis) == []


def test_the_api_refuses_an_unknown_key_in_a_destination(
    http: TestClient, fake_redis: fakeredis.FakeRedis
) -> None:
    ref = {"destination": "OBS", "param": json.dumps({"bucket": "events"}), "extra": 1}
    answer = http.put(
        f"{PREFIX}/hello/async-invoke-config",
        json={"destination_config": {"on_failure": ref}},
        headers={"X-Auth-Token": TOKEN},
    )
    assert answer.status_code == 400, answer.text
    assert "destination_config.on_failure.extra" in answer.json()["error_msg"]
    assert list(fake_redis.scan_iter("ae:{g}:cfg*")) == []


def test_invoke_async_refuses_a_lone_surrogate_in_its_own_words(
    fake_client: Client, fake_redis: fakeredis.FakeRedis
) -> None:
    with pytest.raises(PayloadRefused, match=r"the text at x\.y"):
        fake_client.invoke_async(HELLO, {"x": {"y": LONE}})
    assert recorded(fake_redis) == []


@pytest.mark.parametrize("payload", ['{"x": "\\ud800"}', '{"x": "\udcff"}'])
def test_the_cli_refuses_a_lone_surrogate_in_one_line(
    fake_client: Client,
    fake_redis: fakeredis.FakeRedis,
    monkeypatch: pytest.MonkeyPatch,
    payload: str,
) -> None:
    main = importlib.import_module("executor.cli.main")
    monkeypatch.setattr(main, "client_for", lambda app: fake_client)
    result = invoke(["invoke", "hello", "--payload", payload])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error FSS.0400: --payload"), result.stderr
    assert "lone surrogate" in lines[0]
    assert recorded(fake_redis) == []


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ("[" * 1_000 + "]" * 1_000, "nested too deeply"),
        ("[" * 100 + "]" * 100, "nests deeper than"),
        ('{"x": "\\ud800"}', "lone surrogate"),
        ('{"x": ', "not valid JSON"),
    ],
)
def test_the_console_invoke_form_shows_the_refusal_beside_the_payload(
    http: TestClient, fake_redis: fakeredis.FakeRedis, payload: str, words: str
) -> None:
    token = sign_in(http, token=TOKEN)
    answer = http.post(
        f"/console/functions/{HELLO}/invoke",
        data={"csrf": token, "payload": payload, "delay": "0"},
        follow_redirects=False,
    )
    assert answer.status_code == 400, answer.text[:500]
    shown = re.search(r'<span class="field-error" id="error-payload">([^<]*)</span>', answer.text)
    assert shown is not None, answer.text
    assert shown.group(1).startswith("FSS.0400") and words in shown.group(1)
    assert '<details class="invoke" open>' in answer.text
    assert recorded(fake_redis) == []


def test_the_console_invoke_form_shows_a_bad_delay_beside_the_delay(
    http: TestClient, fake_redis: fakeredis.FakeRedis
) -> None:
    token = sign_in(http, token=TOKEN)
    for delay in ("soon", "nan", "7200"):
        answer = http.post(
            f"/console/functions/{HELLO}/invoke",
            data={"csrf": token, "payload": "{}", "delay": delay},
            follow_redirects=False,
        )
        assert answer.status_code == 400, answer.text[:500]
        assert 'id="error-delay"' in answer.text and 'id="error-payload"' not in answer.text
    assert recorded(fake_redis) == []
