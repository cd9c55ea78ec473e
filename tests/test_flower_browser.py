"""Flower as an operator sees it: headless Chromium on ``executor flower``'s tasks page."""

from __future__ import annotations

import json
import os

import pytest
from rich.console import Console
from rich.text import Text

from tests.support.browser_services import keep
from tests.support.fleet_services import Flower, http_get, run_executor
from tests.support.invocations import wait_status
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

USER, PASSWORD = "ops", "browser-pw-5521"
SECRET = "card-4111-1111"
# Retries half a second away keep Celery's reports in order (see test_flower).
SPACED_RETRIES = {"EXECUTOR_RETRY_BACKOFF_BASE": "1", "EXECUTOR_RETRY_BACKOFF_MAX": "2"}


def test_an_operator_sees_functions_masked_payloads_and_failures(
    env, client, start_worker, browser, tmp_path
):
    start_worker(pool="prefork", concurrency=2, env=SPACED_RETRIES)
    flower = Flower({**env, "EXECUTOR_FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"})
    try:
        flower.wait_ready()
        flower.wait_receiving((USER, PASSWORD))
        client.put_async_config("boom", {"max_async_retry_attempts": 2})
        ok = client.invoke_async("hello", {"name": SECRET})
        bad = client.invoke_async("boom", {"card": SECRET})

        def state(task_id: str) -> str:
            status, body = http_get(f"{flower.url}/api/task/info/{task_id}", (USER, PASSWORD))
            return str(json.loads(body).get("state")) if status == 200 else ""

        wait_for(
            lambda: state(ok) == "SUCCESS" and state(bad) == "FAILURE",
            40,
            "flower to see both invocations end",
            interval=0.3,
        )

        anonymous = browser.new_context()
        assert anonymous.request.get(f"{flower.url}/tasks").status == 401
        anonymous.close()

        context = browser.new_context(
            http_credentials={"username": USER, "password": PASSWORD},
            viewport={"width": 1760, "height": 520},
        )
        page = context.new_page()
        assert page.goto(f"{flower.url}/tasks").status == 200
        table = page.locator("#tasks-table tbody")
        table.get_by_text("fn:default:boom:latest").wait_for(timeout=20_000)
        shown = table.inner_text()
        assert "fn:default:hello:latest" in shown
        assert shown.count("<masked>") >= 2
        assert SECRET not in page.content()

        page.locator("button.task-state-filter[data-task-state='FAILURE']").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('#tasks-table tbody tr')]"
            ".every(row => row.innerText.includes('FAILURE'))",
            timeout=20_000,
        )
        [row] = table.locator("tr").all()
        cells = dict(
            zip(
                [
                    h.get_attribute("data-column")
                    for h in page.locator("#tasks-table thead th").all()
                ],
                [c.inner_text().strip() for c in row.locator("td").all()],
                strict=True,
            )
        )
        assert cells["name"] == "fn:default:boom:latest"
        assert cells["uuid"] == bad
        assert cells["retries"] == "2"
        assert cells["exception"] == "ValueError('always fails')"
        assert "<masked>" in cells["kwargs"]
        page.locator("button.task-state-filter[data-task-state='']").click()
        table.get_by_text("fn:default:hello:latest").wait_for(timeout=20_000)
        picture = tmp_path / "flower-tasks.png"
        page.screenshot(path=str(picture))
        assert picture.stat().st_size > 10_000
        keep(picture)

        # The same invocations as the CLI shows them on a colour terminal.
        terminal = run_executor(
            "invocations", "show", bad, env={**env, "FORCE_COLOR": "1", "COLUMNS": "110"}
        ).stdout
        assert "\x1b[" in terminal
        recorder = Console(record=True, width=110, force_terminal=True, file=open(os.devnull, "w"))  # noqa: SIM115
        recorder.print(Text.from_ansi(terminal))
        html = tmp_path / "cli.html"
        html.write_text(recorder.export_html(inline_styles=True))
        cli_page = context.new_page()
        cli_page.set_viewport_size({"width": 900, "height": 420})
        cli_page.goto(html.as_uri())
        picture = tmp_path / "cli-show.png"
        cli_page.screenshot(path=str(picture), full_page=True)
        assert picture.stat().st_size > 5_000
        keep(picture)
        wait_status(client, bad, "FAIL")
        context.close()
    finally:
        flower.stop()
