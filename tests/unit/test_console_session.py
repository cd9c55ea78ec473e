"""The console's gate, in-process on fakeredis: signing in, the session cookie, CSRF tokens and
the project every page and action is limited to."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from executor import Client
from executor.api.app import create_api
from executor.api.auth import Authenticator
from executor.api.console.session import COOKIE, Session, Sessions
from executor.core.catalogue import CatalogueEntry
from tests.support.console_pages import csrf_of, sign_in
from tests.support.names import PROJECT, REGION, urn
from tests.support.stubs import RecordingCelery

OTHER = "p2"
TOKEN, OTHER_TOKEN, BOTH = "tok-one", "tok-two", "tok-both"
AK, SK = "AKONE", "sk-one-secret"
SECRET = "console-test-secret"
FOREIGN = f"urn:fss:{REGION}:{OTHER}:function:default:ledger:latest"
HELLO = urn("hello")


def authenticator() -> Authenticator:
    return Authenticator(
        {
            TOKEN: frozenset({PROJECT}),
            OTHER_TOKEN: frozenset({OTHER}),
            BOTH: frozenset({PROJECT, OTHER}),
        },
        {AK: (SK, frozenset({PROJECT}))},
    )


@pytest.fixture
def console(fake_client: Client) -> Callable[..., TestClient]:
    """A browser on the API app: a function of another project is in the catalogue."""
    entry = CatalogueEntry(urn=FOREIGN, task="fn:default:ledger:latest", queue="q")
    fake_client.store.catalogue.publish({FOREIGN: entry.model_dump_json()})
    settings = fake_client.settings.model_copy(update={"console_secret": SecretStr(SECRET)})

    def browser(auth: Authenticator | None = None) -> TestClient:
        return TestClient(create_api(fake_client, settings, authenticator=auth or authenticator()))

    return browser


def test_pages_send_a_visitor_without_a_session_to_sign_in(
    console: Callable[..., TestClient],
) -> None:
    web = console()
    answer = web.get(f"/console/functions/{HELLO}/invocations?status=FAIL", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        "/console/signin?next=%2Fconsole%2Ffunctions%2F"
        + HELLO.replace(":", "%3A")
        + "%2Finvocations%3Fstatus%3DFAIL"
    )
    page = web.get(answer.headers["location"])
    assert page.status_code == 200
    assert 'name="token"' in page.text


def test_a_token_signs_in_to_its_project_with_an_httponly_samesite_cookie(
    console: Callable[..., TestClient],
) -> None:
    web = console()
    token = csrf_of(web.get("/console/signin").text)
    answer = web.post(
        "/console/signin",
        data={"csrf": token, "method": "token", "token": TOKEN, "next": "/console/dead-letters"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/console/dead-letters"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert TOKEN not in cookie
    page = web.get("/console/functions")
    assert f'<strong id="project">{PROJECT}</strong>' in page.text
    assert "Signed in to project p1." in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"method": "token", "token": "nope"}, 401, "FSS.0401 the X-Auth-Token is not valid"),
        (
            {"method": "access_key", "access_key": AK, "secret_key": "wrong"},
            401,
            "FSS.0401 the secret key does not match",
        ),
        (
            {"method": "access_key", "access_key": "AKNONE", "secret_key": SK},
            401,
            "FSS.0401 the access key &#39;AKNONE&#39; is not known",
        ),
        ({"method": "token", "token": BOTH}, 400, "FSS.0400 name the project to work in"),
        (
            {"method": "token", "token": TOKEN, "project": OTHER},
            403,
            "FSS.0403 the X-Auth-Token is not bound to project &#39;p2&#39;",
        ),
        ({"method": "anonymous"}, 400, "this server lets no one in without a credential"),
    ],
)
def test_a_credential_that_does_not_fit_is_refused_and_signs_nobody_in(
    console: Callable[..., TestClient], fields: dict[str, str], status: int, words: str
) -> None:
    web = console()
    token = csrf_of(web.get("/console/signin").text)
    answer = web.post("/console/signin", data={"csrf": token, **fields}, follow_redirects=False)
    assert answer.status_code == status
    assert words in answer.text
    assert web.get("/console/functions", follow_redirects=False).status_code == 303


def test_an_access_key_and_a_named_project_sign_in(console: Callable[..., TestClient]) -> None:
    web = console()
    sign_in(web, method="access_key", access_key=AK, secret_key=SK)
    assert "the access key &#39;AKONE&#39;" in web.get("/console/functions").text
    other = console()
    sign_in(other, method="token", token=BOTH, project=OTHER)
    assert f'<strong id="project">{OTHER}</strong>' in other.get("/console/functions").text


def test_next_never_leads_off_the_console(console: Callable[..., TestClient]) -> None:
    for target in ("https://evil.example/", "//evil.example/console/", "/v2/p1/fgs", "/console\\x"):
        web = console()
        token = csrf_of(web.get("/console/signin").text)
        answer = web.post(
            "/console/signin",
            data={"csrf": token, "token": TOKEN, "next": target},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/console/functions", target


def test_a_form_without_the_sessions_csrf_token_is_refused_and_does_nothing(
    console: Callable[..., TestClient], fake_client: Client
) -> None:
    web = console()
    token = sign_in(web, token=TOKEN)
    form = {"version": "latest", "max_async_retry_attempts": "0"}
    for sent in ({}, {"csrf": ""}, {"csrf": token[:-1] + ("A" if token[-1] != "A" else "B")}):
        answer = web.post(f"/console/functions/{HELLO}/config", data={**form, **sent})
        assert answer.status_code == 403
        assert "CSRF token is missing or wrong" in answer.text
    # A token from another visitor's session is not this session's either.
    stranger = console()
    other_token = sign_in(stranger, token=TOKEN)
    answer = web.post(f"/console/functions/{HELLO}/config", data={**form, "csrf": other_token})
    assert answer.status_code == 403
    assert fake_client.configs.all() == {}
    answer = web.post(f"/console/functions/{HELLO}/config", data={**form, "csrf": token})
    assert answer.status_code == 200
    assert fake_client.get_async_config(HELLO).max_async_retry_attempts == 0


def test_sign_in_itself_needs_the_token_of_its_page(console: Callable[..., TestClient]) -> None:
    web = console()
    answer = web.post("/console/signin", data={"token": TOKEN}, follow_redirects=False)
    assert answer.status_code == 403
    assert web.get("/console/functions", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(console: Callable[..., TestClient]) -> None:
    web = console()
    token = sign_in(web, token=TOKEN)
    answer = web.post("/console/signout", data={"csrf": token}, follow_redirects=False)
    assert answer.headers["location"] == "/console/signin"
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]
    assert web.get("/console/functions", follow_redirects=False).status_code == 303


def test_a_project_sees_only_its_own_functions_invocations_and_dead_letters(
    console: Callable[..., TestClient], fake_client: Client
) -> None:
    mine = fake_client.invoke_async(HELLO, {"n": 1})
    theirs = console()
    sign_in(theirs, token=OTHER_TOKEN)
    listing = theirs.get("/console/functions").text
    assert FOREIGN in listing
    assert HELLO not in listing and "hello" not in listing
    for path in (
        f"/console/functions/{HELLO}/config",
        f"/console/functions/{HELLO}/invocations",
        f"/console/functions/{HELLO}/charts",
        f"/console/functions/{HELLO}/charts/outcomes.svg",
        f"/console/invocations/{mine}",
        f"/console/invocations/{mine}/live",
        f"/console/invocations/{mine}?show=payload",
    ):
        answer = theirs.get(path)
        assert answer.status_code == 404, path
        assert '"n": 1' not in answer.text
    # Short names are expanded in the visitor's own project.
    assert theirs.get("/console/functions/hello/config").status_code == 404
    assert theirs.get("/console/functions/ledger/config").status_code == 200
    # Actions are refused the same way, and change nothing.
    token = csrf_of(listing)
    for path in (
        f"/console/invocations/{mine}/cancel",
        f"/console/invocations/{mine}/redrive",
        f"/console/functions/{HELLO}/config",
        f"/console/functions/{HELLO}/config/delete",
        f"/console/functions/{HELLO}/invoke",
    ):
        answer = theirs.post(path, data={"csrf": token, "confirmed": "yes", "version": "latest"})
        assert answer.status_code == 404, path
    assert fake_client.get_invocation(mine).status.value == "WAIT"
    assert fake_client.configs.all() == {}
    assert (
        len(
            fake_client.store.records.page(
                HELLO, status=None, since=None, until=None, limit=10
            ).invocations
        )
        == 1
    )


def test_a_forged_or_foreign_cookie_gets_nothing(
    console: Callable[..., TestClient], fake_client: Client
) -> None:
    web = console()
    sign_in(web, token=OTHER_TOKEN)
    cookie = web.cookies[COOKIE]
    # The same claims signed with another secret, and one byte changed in the signed value.
    elsewhere = Sessions(
        fake_client.settings.model_copy(update={"console_secret": SecretStr("another")}),
        authenticator(),
    )
    claims = Session(csrf="x", project=PROJECT, credential="0" * 64, who="me", since=time.time())
    for value in (
        cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"),
        elsewhere._serializer.dumps(claims.model_dump()),
    ):
        forged = console()
        forged.cookies.set(COOKIE, value, path="/console")
        assert forged.get("/console/functions", follow_redirects=False).status_code == 303


def test_a_session_ends_with_its_credential_and_its_lifetime(
    console: Callable[..., TestClient], fake_client: Client
) -> None:
    web = console()
    sign_in(web, token=TOKEN)
    cookie = web.cookies[COOKIE]
    # The server restarted without that token (same secret): the cookie lets no one in.
    without = console(Authenticator({OTHER_TOKEN: frozenset({OTHER})}, {}))
    without.cookies.set(COOKIE, cookie, path="/console")
    assert without.get("/console/functions", follow_redirects=False).status_code == 303
    # A session older than its lifetime is over, even when re-signed since.
    sessions = Sessions(
        fake_client.settings.model_copy(update={"console_secret": SecretStr(SECRET)}),
        authenticator(),
    )
    old = sessions.sign_in(authenticator().check_token(TOKEN), PROJECT).model_copy(
        update={"since": time.time() - sessions.ttl - 1}
    )
    stale = console()
    stale.cookies.set(COOKIE, sessions._serializer.dumps(old.model_dump()), path="/console")
    assert stale.get("/console/functions", follow_redirects=False).status_code == 303


def test_anonymous_servers_sign_in_to_any_project(console: Callable[..., TestClient]) -> None:
    web = console(Authenticator({}, {}, anonymous=True))
    sign_in(web, method="anonymous", project=OTHER)
    assert FOREIGN in web.get("/console/functions").text
    answer = console(Authenticator({}, {}, anonymous=True))
    token = csrf_of(answer.get("/console/signin").text)
    refused = answer.post("/console/signin", data={"csrf": token, "method": "anonymous"})
    assert refused.status_code == 400
    assert "name the project to work in" in refused.text


def _letter(rid: str, function: str, at: float) -> str:
    return json.dumps(
        {
            "request_id": rid,
            "outcome": "success",
            "destination": {"destination": "DIS", "param": '{"stream_name":"s"}'},
            "event": {"request_context": {"request_id": rid}, "request_payload": {"card": "4242"}},
            "function_urn": function,
            "reason": "refused",
            "attempts": 2,
            "at": at,
        }
    )


def test_dead_letters_of_the_project_are_resent_and_purged_after_a_confirmation(
    console: Callable[..., TestClient], fake_client: Client, celery: RecordingCelery
) -> None:
    letters = fake_client.store.dead_letters
    for rid, function in (("mine-1", HELLO), ("mine-2", HELLO), ("theirs", FOREIGN)):
        letters.add(f"{rid}:success", _letter(rid, function, 1000.0), 1000.0)
    web = console()
    token = sign_in(web, token=TOKEN)
    listing = web.get("/console/dead-letters").text
    assert "mine-1:success" in listing and "mine-2:success" in listing
    assert "theirs" not in listing
    shown = web.get("/console/dead-letters/mine-1:success").text
    assert "4242" not in shown and "&lt;masked&gt;" in shown
    assert "4242" in web.get("/console/dead-letters/mine-1:success?show=payload").text
    assert web.get("/console/dead-letters/theirs:success").status_code == 404

    named = {"csrf": token, "identity": ["mine-1:success", "theirs:success"]}
    asked = web.post("/console/dead-letters/resend", data=named)
    assert "Resend mine-1:success to its destination" in asked.text
    assert fake_client.dead_letters().count() == 3
    done = web.post("/console/dead-letters/resend", data={**named, "confirmed": "yes"})
    assert "Resent 1 event; 1 named were no longer there." in done.text
    assert [options["task_id"] for _, options in celery.sent] == ["mine-1:success"]
    assert fake_client.dead_letters().identities() == ["mine-2:success", "theirs:success"]

    purge = {"csrf": token, "identity": ["mine-2:success", "theirs:success"], "confirmed": "yes"}
    assert "Purged 1 event" in web.post("/console/dead-letters/purge", data=purge).text
    assert fake_client.dead_letters().identities() == ["theirs:success"]


def test_a_path_the_console_does_not_have_is_a_page_not_json(
    console: Callable[..., TestClient],
) -> None:
    web = console()
    assert web.get("/console/nowhere", follow_redirects=False).status_code == 303
    sign_in(web, token=TOKEN)
    answer = web.get("/console/nowhere/at/all")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "there is no console page at /console/nowhere/at/all" in answer.text
    assert web.get("/console/static/console.css").status_code == 200
    assert web.get("/console/").status_code == 200  # the functions, after a redirect
