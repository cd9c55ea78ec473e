"""Credential parsing, and signature checks against requests signed by the official SDK."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.api.auth import Authenticator, parse_access_keys, parse_tokens
from executor.api.signing import HttpRequest
from executor.core.errors import InvalidParameter, ProjectDenied, Unauthenticated

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
AK, SK, PROJECT = "AKEXAMPLE", "secret/with+odd=chars", "p1"


def authenticator(**kwargs: bool) -> Authenticator:
    return Authenticator(
        parse_tokens(f"tok:{PROJECT}"),
        parse_access_keys(f"{AK}:{SK}:{PROJECT}"),
        clock=NOW.timestamp,
        **kwargs,
    )


def sdk_signed(
    method: str, path: str, query: list[tuple[str, str]], body: bytes, sk: str = SK
) -> HttpRequest:
    """What the server receives from a request that the SDK's signer signed."""
    request = SdkRequest(
        method=method,
        schema="http",
        host="127.0.0.1:8000",
        resource_path=path,
        query_params=query,
        header_params={
            "Content-Type": "application/json",
            "X-Sdk-Date": NOW.strftime("%Y%m%dT%H%M%SZ"),
        },
        body=body,
    )
    Signer(BasicCredentials(AK, sk)).sign(request)
    sent = urlsplit(request.url)
    return HttpRequest(
        method=method,
        raw_path=sent.path,
        query=sent.query,
        headers={k.lower(): v for k, v in request.header_params.items()},
        body=request.body or b"",
    )


def test_tokens_and_keys_parse_from_commas_lines_and_comments() -> None:
    tokens = parse_tokens("a:p1, b:p2\n# comment\n\na:p3")
    assert tokens == {"a": frozenset({"p1", "p3"}), "b": frozenset({"p2"})}
    keys = parse_access_keys("K1:S1:p1,K1:S1:p2\nK2:S:2:p3")
    assert keys == {"K1": ("S1", frozenset({"p1", "p2"})), "K2": ("S:2", frozenset({"p3"}))}


@pytest.mark.parametrize(
    ("parse", "text", "words"),
    [
        (parse_tokens, "tok-without-project", "token:project_id"),
        (parse_tokens, ":p1", "token:project_id"),
        (parse_access_keys, "AK:p1", "AK:SK:project_id"),
        (parse_access_keys, "AK:S1:p1,AK:S2:p2", "two secret keys"),
    ],
)
def test_malformed_credential_settings_are_refused_without_echoing_secrets(
    parse: object, text: str, words: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse(text)  # type: ignore[operator]
    assert words in refused.value.message
    assert "S1" not in refused.value.message


def test_anonymous_is_off_unless_enabled() -> None:
    bare = HttpRequest("GET", "/v2/p1/x", "", {}, b"")
    with pytest.raises(Unauthenticated):
        authenticator().authenticate(bare)
    assert authenticator(anonymous=True).authenticate(bare).projects is None
    assert not Authenticator({}, {}).configured


def test_token_binds_its_projects() -> None:
    principal = authenticator().authenticate(
        HttpRequest("GET", "/", "", {"x-auth-token": "tok"}, b"")
    )
    principal.require(PROJECT)
    with pytest.raises(ProjectDenied):
        principal.require("p2")


segments = st.text(min_size=1, max_size=12).filter(lambda s: s not in {".", ".."})
pairs = st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=8)), max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE"]),
    parts=st.lists(segments, min_size=1, max_size=4),
    query=pairs,
    body=st.binary(max_size=64),
)
def test_every_sdk_signature_verifies_and_any_change_is_refused(
    method: str, parts: list[str], query: list[tuple[str, str]], body: bytes
) -> None:
    # The SDK percent-encodes every path parameter it substitutes, as here.
    path = "/v2/" + "/".join(quote(part, safe="") for part in parts)
    request = sdk_signed(method, path, query, body)
    assert authenticator().authenticate(request).projects == frozenset({PROJECT})
    with pytest.raises(Unauthenticated, match="does not match"):
        authenticator().authenticate(sdk_signed(method, path, query, body, sk="other"))
    changed = HttpRequest(
        method, request.raw_path + "x", request.query, request.headers, request.body
    )
    with pytest.raises(Unauthenticated, match="does not match"):
        authenticator().authenticate(changed)


@pytest.mark.parametrize(
    "authorization",
    [
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature=é",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date;x-missing, Signature=00",
        "SDK-HMAC-SHA256",
        "Bearer abc",
    ],
    ids=["non-ascii-signature", "no-signature", "signed-header-absent", "bare-scheme", "bearer"],
)
def test_malformed_authorization_is_unauthenticated(authorization: str) -> None:
    headers = {
        "authorization": authorization,
        "host": "h",
        "x-sdk-date": NOW.strftime("%Y%m%dT%H%M%SZ"),
    }
    with pytest.raises(Unauthenticated):
        authenticator().authenticate(HttpRequest("GET", "/v2/p1/x", "", headers, b""))
