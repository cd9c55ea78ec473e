"""``make demo`` on a terminal: it prints the console's address and a token, the console shows
its three invocations, and Ctrl-C ends it cleanly."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.services import ROOT

pytestmark = pytest.mark.integration


def read_until(fd: int, pattern: str, timeout: float) -> str:
    """What the terminal showed, up to and including the first match of ``pattern``."""
    shown = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                shown += os.read(fd, 65536).decode(errors="replace")
            except OSError:  # the demo exited and closed the terminal
                break
            if re.search(pattern, shown):
                return shown
    raise AssertionError(f"the demo never printed {pattern!r}:\n{shown}")


def test_the_demo_leaves_its_invocations_in_the_console_until_ctrl_c() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}
    terminal, side = pty.openpty()
    demo = subprocess.Popen(
        [sys.executable, "-m", "executor.demo"],
        stdin=subprocess.DEVNULL,
        stdout=side,
        stderr=side,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    os.close(side)
    try:
        shown = read_until(terminal, r"sign in with the token \S+ \(project \S+\)", 120)
        url = re.search(r"console: (http://\S+/console)", shown)
        token = re.search(r"sign in with the token (\S+) \(project (\S+)\)", shown)
        assert url and token, shown
        ids = dict(re.findall(r"invoked (\w+): request id (\S+)", shown))
        assert set(ids) == {"greet", "charge", "report"}

        with httpx.Client(base_url=url.group(1), follow_redirects=True, timeout=10) as web:
            page = web.get("/signin").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None
            listing = web.post("/signin", data={"csrf": csrf.group(1), "token": token.group(1)})
            assert listing.url.path == "/console/functions"
            for name, rid in ids.items():
                function = f"urn:fss:local-1:{token.group(2)}:function:default:{name}:latest"
                assert f'data-urn="{function}"' in listing.text
                rows = web.get(f"/functions/{function}/invocations", params={"window": "all"})
                assert f'data-request-id="{rid}"' in rows.text, name
            statuses = {
                name: re.search(r'id="status">(\w+)<', web.get(f"/invocations/{rid}").text)
                for name, rid in ids.items()
            }
            assert {n: s.group(1) for n, s in statuses.items() if s} == {
                "greet": "SUCCESS",
                "charge": "FAIL",
                "report": "DISCARD",
            }

        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(60) == 0
        shown += read_until(terminal, r"stopped worker main", 10)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
        os.close(terminal)
