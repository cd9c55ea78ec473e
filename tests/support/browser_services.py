"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright, never a
downloaded browser; and the screenshots the README shows."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# With UPDATE_SCREENSHOTS=1 the pictures the README shows are written again from this run.
SCREENSHOTS = ROOT / "tests" / "fixtures" / "screenshots"


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser; the test is skipped, saying why, when none can be driven."""
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is missing: install the dev extra (make install)"
    )
    if not os.path.exists(CHROMIUM):
        pytest.skip("no chromium to drive: make browser puts Debian's chromium in /usr/bin")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def keep(picture: Path) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(picture, SCREENSHOTS / picture.name)
