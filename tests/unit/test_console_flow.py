"""The console's "Flow control" tab, in-process on fakeredis: what it shows, a save, a refused
value beside its field with nothing stored, pause and resume."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from executor import Client
from executor.api.app import create_api
from executor.api.auth import Authenticator
from executor.state.keys import FLOWS
from tests.support.names import PROJECT, urn

TOKEN = "tok-flow-tab"
HELLO = urn("hello")
TAB = f"/console/functions/{HELLO}/flow"


@pytest.fixture
def web(fake_client: Client) -> tuple[TestClient, str]:
    """A browser signed in to the project; the session's CSRF token."""
    settings = fake_client.settings.model_copy(update={"console_secret": SecretStr("s")})
    auth = Authenticator({TOKEN: frozenset({PROJECT})}, {})
    browser = TestClient(create_api(fake_client, settings, authenticator=auth))
    token = _csrf(browser.get("/console/signin").text)
    signed = browser.post(
        "/console/signin",
        data={"csrf": token, "method": "token", "token": TOKEN},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    return browser, _csrf(browser.get("/console/functions").text)


def _csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_the_tab_shows_the_flow_config_and_what_is_held(web, fake_client: Client) -> None:
    browser, _ = web
    fake_client.put_flow_config(HELLO, max_instances=2, rate_per_second=7.5)
    fake_client.invoke_async(HELLO, {"n": 1})
    page = browser.get(TAB)
    assert page.status_code == 200, page.text
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.text)).split())
    assert "At most 2 running at once" in text and "at most 7.5 starts a second" in text
    assert "held back 1" in text
    assert 'id="tab-flow"' in page.text and 'value="2"' in page.text


def test_a_save_stores_the_form(web, fake_client: Client) -> None:
    browser, csrf = web
    form = {"csrf": csrf, "max_instances": "4", "rate_per_second": "", "recursive_loop": "Allow"}
    answer = browser.post(TAB, data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    flow = fake_client.get_flow_config(HELLO).flow
    assert (flow.max_instances, flow.rate_per_second, flow.recursive_loop) == (4, None, "Allow")
    assert "Saved the flow config" in browser.get(TAB).text


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("max_instances", "-2", "greater than or equal to -1"),
        ("max_instances", "three", "is not a whole number"),
        ("rate_per_second", "0", "greater than or equal to 0.1"),
        ("rate_per_second", "20000", "less than or equal to 10000"),
    ],
)
def test_a_refused_value_lands_beside_its_field_and_nothing_is_stored(
    web, fake_client: Client, field: str, value: str, words: str
) -> None:
    browser, csrf = web
    fake_client.put_flow_config(HELLO, max_instances=3)
    before = fake_client.store.redis.hget(FLOWS, HELLO)
    form = {
        "csrf": csrf,
        "max_instances": "3",
        "rate_per_second": "",
        "recursive_loop": "Terminate",
    }
    answer = browser.post(TAB, data={**form, field: value})
    assert answer.status_code == 400
    text = html.unescape(answer.text)
    assert "FSS.0400" in text and words in text and "Nothing was stored." in text
    assert f'id="error-{field}"' in text
    assert fake_client.store.redis.hget(FLOWS, HELLO) == before


def test_pause_then_resume_gives_back_the_cap(web, fake_client: Client) -> None:
    browser, csrf = web
    fake_client.put_flow_config(HELLO, max_instances=5)
    assert (
        browser.post(f"{TAB}/pause", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    )
    assert fake_client.get_flow_config(HELLO).flow.max_instances == 0
    assert "Paused" in browser.get(TAB).text
    assert (
        browser.post(f"{TAB}/resume", data={"csrf": csrf}, follow_redirects=False).status_code
        == 303
    )
    assert fake_client.get_flow_config(HELLO).flow.max_instances == 5


def test_an_action_without_the_session_token_changes_nothing(web, fake_client: Client) -> None:
    browser, _ = web
    answer = browser.post(f"{TAB}/pause", data={"csrf": "forged"}, follow_redirects=False)
    assert answer.status_code in (400, 403)
    assert fake_client.get_flow_config(HELLO).flow.max_instances == -1
