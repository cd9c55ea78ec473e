"""Signing in to the console in-process, for the fast layer's console tests."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def sign_in(web: TestClient, **fields: str) -> str:
    """Sign in; the CSRF token of the session, which is not the sign-in form's."""
    token = csrf_of(web.get("/console/signin").text)
    answer = web.post("/console/signin", data={"csrf": token, **fields}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    signed = csrf_of(web.get("/console/functions").text)
    assert signed != token
    return signed
