"""The console as an operator uses it: headless Chromium on ``executor api``'s /console, over a
real redis-server, a real worker and an S3-compatible server for the OBS destination."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis

from executor import Client, Settings
from executor.core.errors import ConfigNotFound
from tests.apps.console_functions import LEDGER
from tests.support.api_server import (
    CREDENTIALS,
    OTHER_PROJECT,
    OTHER_TOKEN,
    PROJECT,
    TOKEN,
    ApiServer,
)
from tests.support.browser_services import chromium, keep
from tests.support.destination_services import SECRET_ENV, MotoServer, agency_toml, wait_delivery
from tests.support.invocations import FAST, wait_status
from tests.support.services import RedisServer, Worker, wait_for

pytestmark = pytest.mark.integration

REPORT = f"urn:fss:local-1:{PROJECT}:function:default:report:latest"
NOTIFY = f"urn:fss:local-1:{PROJECT}:function:default:notify:latest"
SECRET = "card-4111-1111"


@dataclass
class Stack:
    api: ApiServer
    client: Client
    moto: MotoServer
    browser: Any

    def url(self, path: str) -> str:
        return f"{self.api.url}/console{path}"

    def function(self, urn: str, tab: str = "config") -> str:
        return self.url(f"/functions/{quote(urn, safe=':')}/{tab}")


@pytest.fixture(scope="module")
def stack(
    redis_server: RedisServer, moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One API, one worker and one browser for the whole file; each test uses its own
    functions or invocations, so none depends on another's leftovers."""
    redis.Redis.from_url(redis_server.url).flushall()
    moto.reset()
    agencies = tmp_path_factory.mktemp("console") / "agencies.toml"
    agencies.write_text(agency_toml(moto.url))
    env = {
        "EXECUTOR_BROKER_URL": redis_server.url,
        **FAST,
        **CREDENTIALS,
        **SECRET_ENV,
        "EXECUTOR_AGENCY_FILE": str(agencies),
    }
    worker = Worker("tests.apps.console_functions:app", env, pool="prefork", concurrency=2).start()
    api = ApiServer(env, app="tests.apps.console_functions:app").start()
    settings = Settings(broker_url=redis_server.url, project_id=PROJECT, agency_file=str(agencies))
    try:
        with pytest.MonkeyPatch.context() as patch, chromium() as browser:
            for name, value in SECRET_ENV.items():
                patch.setenv(name, value)
            yield Stack(api, Client(settings), moto, browser)
    finally:
        api.stop()
        worker.kill()


def signed_in(stack: Stack, token: str = TOKEN, **options: Any) -> Any:
    """A browser page signed in through the sign-in form."""
    context = stack.browser.new_context(viewport={"width": 1280, "height": 800}, **options)
    page = context.new_page()
    page.goto(stack.url("/functions"))
    assert page.url.startswith(stack.url("/signin"))
    page.fill("#token", token)
    page.click("#signin")
    page.wait_for_url(stack.url("/functions"))
    return page


def shot(page: Any, tmp_path: Path, name: str) -> None:
    picture = tmp_path / name
    page.screenshot(path=str(picture), full_page=True)
    assert picture.stat().st_size > 10_000
    keep(picture)


def test_configure_obs_through_the_form_then_invoke_and_watch_it_succeed(
    stack: Stack, tmp_path: Path
) -> None:
    s3 = stack.moto.client("s3")
    s3.create_bucket(Bucket="results")
    page = signed_in(stack)
    rows = page.locator("#functions tbody tr")
    assert sorted(r.get_attribute("data-urn") for r in rows.all()) == [NOTIFY, REPORT]
    assert "ledger" not in page.content()
    assert "retries 1 · age 3600 s · success → nowhere" in rows.first.inner_text()

    page.click("a[href$='report:latest/config']")
    page.select_option("#success_kind", "OBS")
    assert page.locator("[data-kind='OBS']").first.is_visible()
    assert not page.locator("#success_func_urn").is_visible()
    page.fill("#success_bucket", "results")
    page.fill("#success_prefix", "/ok")
    page.fill("#max_async_retry_attempts", "7")
    page.fill("#max_async_event_age_in_seconds", "600")
    page.click("#save")
    beside = page.locator("#error-max_async_retry_attempts")
    assert beside.inner_text() == "FSS.0400 · Input should be less than or equal to 3"
    assert (
        page.locator("#refusal")
        .inner_text()
        .startswith(
            "FSS.0400 invalid async config: max_async_retry_attempts: Input should be less than "
            "or equal to 3"
        )
    )
    # What was typed is still there to fix, and nothing was stored.
    assert page.input_value("#success_bucket") == "results"
    with pytest.raises(ConfigNotFound):
        stack.client.get_async_config(REPORT)
    shot(page, tmp_path, "console-config-error.png")

    page.fill("#max_async_retry_attempts", "0")
    page.click("#save")
    assert page.locator(".notice.ok").inner_text() == (
        "Saved the async configuration of default:report:latest."
    )
    stored = stack.client.get_async_config(REPORT)
    assert stored.max_async_retry_attempts == 0
    assert stored.max_async_event_age_in_seconds == 600
    assert json.loads(stored.destination_config.on_success.param) == {  # type: ignore[union-attr]
        "bucket": "results",
        "prefix": "/ok",
        "expires": 0,
    }
    assert "success → OBS results/ok" in page.locator("#effective").inner_text()

    page.click("#tab-invocations")
    page.click(".invoke summary")
    page.fill("#payload", json.dumps({"card": SECRET}))
    page.click("#invoke")
    page.wait_for_url("**/console/invocations/*")
    rid = page.locator("#request-id").inner_text()
    # The page refreshes itself until the invocation ends.
    page.locator("#status", has_text="SUCCESS").wait_for(timeout=20_000)
    page.locator("#deliveries", has_text="delivered").wait_for(timeout=20_000)
    assert s3.get_object(Bucket="results", Key=f"ok/{rid}/success.json")
    assert SECRET not in page.content()
    assert page.locator("#payload").inner_text() == "<masked>"
    assert '"request_payload": "<masked>"' in page.locator("#event").inner_text()
    page.click("#show-payload")
    assert SECRET in page.locator("#payload").inner_text()
    assert json.loads(page.locator("#event").inner_text())["request_payload"] == {"card": SECRET}

    page.goto(stack.url("/functions"))
    row = page.locator(f"tr[data-urn='{REPORT}']")
    assert "success → OBS results/ok" in row.inner_text()
    assert row.locator("td.status-success").inner_text() == "1"
    shot(page, tmp_path, "console-functions.png")

    page.goto(stack.function(REPORT, "charts"))
    for chart in ("#chart-outcomes", "#chart-ages"):
        page.wait_for_function(
            f"() => document.querySelector('{chart}').naturalWidth > 0", timeout=10_000
        )
    svg = page.request.get(stack.function(REPORT, "charts/outcomes.svg?window=day"))
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "SUCCESS" in svg.text()

    page.click("#tab-flow")
    page.fill("#max_instances", "-5")
    page.click("#flow-save")
    assert page.locator("#error-max_instances").inner_text() == (
        "FSS.0400 · Input should be greater than or equal to -1"
    )
    assert stack.client.get_flow_config(REPORT).flow.max_instances == -1
    page.fill("#max_instances", "2")
    page.click("#flow-save")
    assert "At most 2 running at once" in page.locator("#flow-now").inner_text()
    page.click("#pause")
    assert page.locator("#flow-now").inner_text().startswith("Paused")
    assert stack.client.get_flow_config(REPORT).flow.max_instances == 0
    page.click("#resume")
    assert stack.client.get_flow_config(REPORT).flow.max_instances == 2
    page.context.close()


def test_each_refusal_shows_the_apis_words_beside_its_field(stack: Stack) -> None:
    page = signed_in(stack)
    stack.client.put_async_config(
        NOTIFY,
        {
            "destination_config": {
                "on_success": {"destination": "FunctionGraph", "param": {"func_urn": REPORT}}
            }
        },
    )
    page.goto(stack.function(NOTIFY))
    before = stack.client.get_async_config(NOTIFY)
    # notify names no agency: SMN needs one.
    page.select_option("#failure_kind", "SMN")
    page.fill("#failure_topic_urn", "urn:smn:local-1:p:orders")
    page.click("#save")
    assert (
        page.locator("#error-failure_kind")
        .inner_text()
        .startswith(
            "FSS.1121 · Access denied. Check whether the corresponding agency has been configured. "
            "The function names no agency"
        )
    )
    # An alias cannot carry a config.
    page.select_option("#failure_kind", "")
    page.fill("#version", "!prod")
    page.click("#save")
    assert (
        page.locator("#error-version")
        .inner_text()
        .startswith(f"FSS.1014 · {NOTIFY.rsplit(':', 1)[0]}:!prod names the alias '!prod'")
    )
    assert stack.client.get_async_config(NOTIFY) == before
    # report -> notify closes the cycle notify -> report -> notify.
    report_before = _config_or_none(stack.client, REPORT)
    page.goto(stack.function(REPORT))
    page.select_option("#failure_kind", "FunctionGraph")
    page.fill("#failure_func_urn", NOTIFY)
    page.click("#save")
    cycle = (
        f"{REPORT.rsplit(':', 1)[0]} -> {NOTIFY.rsplit(':', 1)[0]} -> {REPORT.rsplit(':', 1)[0]}"
    )
    assert page.locator("#error-failure_func_urn").inner_text() == (
        f"FSS.0400 · this FunctionGraph destination closes a cycle: {cycle}; an asynchronous "
        "call would loop forever. Point the destination elsewhere or remove the destination "
        "that leads back."
    )
    assert _config_or_none(stack.client, REPORT) == report_before
    page.context.close()


def test_a_failed_ones_timeline_then_a_redrive_from_its_page(stack: Stack, tmp_path: Path) -> None:
    stack.client.put_async_config(NOTIFY, {"max_async_retry_attempts": 2})
    rid = stack.client.invoke_async(NOTIFY, {"fail": "gateway refused"})
    wait_status(stack.client, rid, "FAIL")
    page = signed_in(stack)
    page.goto(stack.function(NOTIFY, "invocations") + "?status=FAIL")
    listed = page.locator("#invocations tbody tr")
    assert [r.get_attribute("data-request-id") for r in listed.all()] == [rid]
    page.click(f"a[href$='/invocations/{rid}']")
    steps = page.locator("#timeline li").all_inner_texts()
    assert page.locator("#timeline li strong").all_inner_texts() == [
        "accepted",
        "attempt 1",
        "retry scheduled",
        "attempt 2",
        "retry scheduled",
        "attempt 3",
        "ended FAIL",
    ], steps
    assert all("RuntimeError: gateway refused" in steps[i] for i in (2, 4, 6)), steps
    assert page.locator("#attempts").inner_text() == "3"
    assert page.locator("#condition").inner_text() == "RetriesExhausted"
    shot(page, tmp_path, "console-timeline.png")

    page.click("#redrive")
    assert "Redrive" in page.locator("#question").inner_text()
    page.click("#confirm")
    page.wait_for_url(f"**/console/invocations/{rid}.r1")
    assert page.locator(".notice.ok").inner_text() == f"Redriven as {rid}.r1."
    assert rid in page.locator("#redrive-of").inner_text()
    wait_status(stack.client, f"{rid}.r1", "FAIL")
    # The open list refreshes itself: a new invocation shows up without a reload.
    page.goto(stack.function(NOTIFY, "invocations"))
    assert page.locator(f"tr[data-request-id='{rid}.r1']").is_visible()
    later = stack.client.invoke_async(NOTIFY, {})
    page.locator(f"tr[data-request-id='{later}']").wait_for(timeout=10_000)
    page.context.close()


def test_cancel_a_delayed_one(stack: Stack) -> None:
    page = signed_in(stack)
    page.goto(stack.function(REPORT, "invocations"))
    page.click(".invoke summary")
    page.fill("#delay", "600")
    page.click("#invoke")
    page.wait_for_url("**/console/invocations/*")
    rid = page.locator("#request-id").inner_text()
    assert page.locator("#status").inner_text() == "WAIT"
    page.check("#force")
    page.click("#cancel")
    assert "force" in page.locator("#question").inner_text()
    page.click("#confirm")
    assert page.locator(".notice.ok").inner_text() == f"Cancelled {rid}."
    assert page.locator("#status").inner_text() == "DISCARD"
    assert stack.client.get_invocation(rid).status.value == "DISCARD"
    page.context.close()


def test_purge_a_dead_letter(stack: Stack) -> None:
    stack.client.put_async_config(
        REPORT,
        {
            "destination_config": {
                "on_success": {"destination": "OBS", "param": {"bucket": "nowhere"}}
            }
        },
    )
    rid = stack.client.invoke_async(REPORT, {"card": SECRET})
    wait_delivery(stack.client, rid, {"dead-lettered"})
    page = signed_in(stack)
    page.click("text=Dead letters")
    row = page.locator(f"tr[data-identity='{rid}:success']")
    assert "NoSuchBucket" in row.inner_text()
    row.locator("a").click()
    assert SECRET not in page.content()
    assert page.locator("#reason").inner_text().startswith("OBS bucket nowhere")
    page.click("#purge")
    assert "deleted for good" in page.locator("#question").inner_text()
    page.click("#confirm")
    assert page.locator(".notice.ok").inner_text() == "Purged 1 event."
    assert page.locator("#no-dead-letters").is_visible()
    assert f"{rid}:success" not in stack.client.dead_letters().identities()
    page.context.close()


def test_one_project_cannot_reach_anothers_functions(stack: Stack) -> None:
    mine = stack.client.invoke_async(NOTIFY, {"card": SECRET})
    theirs = signed_in(stack, OTHER_TOKEN)
    assert OTHER_PROJECT in LEDGER
    assert [r.get_attribute("data-urn") for r in theirs.locator("#functions tbody tr").all()] == [
        LEDGER
    ]
    for path in (
        stack.function(NOTIFY),
        stack.function(NOTIFY, "invocations"),
        stack.url(f"/invocations/{mine}?show=payload"),
    ):
        answer = theirs.goto(path)
        assert answer.status == 404, path
        assert SECRET not in theirs.content()
        assert f"project {OTHER_PROJECT} has no" in theirs.locator("#failure").inner_text()
    # The other project's session cookie, carried into a fresh browser, gets nothing either.
    [cookie] = theirs.context.cookies()
    fresh = stack.browser.new_context()
    fresh.add_cookies([cookie])
    answer = fresh.request.get(stack.url(f"/invocations/{mine}"))
    assert answer.status == 404
    assert SECRET not in answer.text()
    fresh.close()
    theirs.context.close()


def test_a_form_post_without_the_csrf_token_is_refused(stack: Stack) -> None:
    page = signed_in(stack)
    before = _config_or_none(stack.client, REPORT)
    answer = page.request.post(
        stack.function(REPORT),
        form={"version": "latest", "max_async_retry_attempts": "3"},
    )
    assert answer.status == 403
    assert "CSRF token is missing or wrong" in answer.text()
    rid = stack.client.invoke_async(REPORT, {}, delay=600)
    answer = page.request.post(
        stack.url(f"/invocations/{rid}/cancel"), form={"confirmed": "yes", "force": "on"}
    )
    assert answer.status == 403
    assert _config_or_none(stack.client, REPORT) == before
    assert stack.client.get_invocation(rid).status.value == "WAIT"
    stack.client.cancel(rid)
    page.context.close()


def _config_or_none(client: Client, urn: str) -> Any:
    try:
        return client.get_async_config(urn)
    except ConfigNotFound:
        return None


def test_the_console_loads_nothing_from_elsewhere(stack: Stack) -> None:
    page = signed_in(stack)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    for path in ("/functions", "/dead-letters"):
        page.goto(stack.url(path))
    page.goto(stack.function(REPORT, "charts"))
    page.goto(stack.function(REPORT, "invocations"))
    wait_for(lambda: len(asked) > 6, 10, "the pages to load")
    assert asked and all(url.startswith(stack.api.url) for url in asked), asked
    page.context.close()
