"""API authentication without a server: signed requests, dates, bodies, tokens, settings."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from executor.api.auth import Authenticator, parse_access_keys, parse_tokens
from executor.api.signing import HttpRequest, canonical_query, canonical_uri
from executor.core.errors import InvalidParameter, ProjectDenied, Unauthenticated
from executor.core.settings import Settings

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
AK, SK = "AKUNIT", "sk-unit"


def authenticator(now: datetime = NOW, **kwargs: bool) -> Authenticator:
    return Authenticator(
        parse_tokens("tok-a:p1,tok-a:p2,tok-b:p3"),
        parse_access_keys(f"{AK}:{SK}:p1"),
        clock=now.timestamp,
        **kwargs,
    )


def signed(
    body: bytes = b'{"a":1}',
    *,
    at: datetime = NOW,
    ak: str = AK,
    path: str = "/v2/p1/fgs/functions/x/invocations-async",
) -> HttpRequest:
    request = SdkRequest(
        method="POST",
        schema="http",
        host="api.local:8000",
        resource_path=path,
        query_params=[("b", "2"), ("a", "1")],
        header_params={
            "Content-Type": "application/json",
            "X-Sdk-Date": at.strftime("%Y%m%dT%H%M%SZ"),
        },
        body=body,
    )
    Signer(BasicCredentials(ak, SK)).sign(request)
    sent = urlsplit(request.url)
    headers = {k.lower(): v for k, v in request.header_params.items()}
    return HttpRequest("POST", sent.path, sent.query, headers, request.body or b"")


def with_headers(request: HttpRequest, **changes: str) -> HttpRequest:
    headers = dict(request.headers) | {k.replace("_", "-"): v for k, v in changes.items()}
    return HttpRequest(request.method, request.raw_path, request.query, headers, request.body)


@pytest.mark.parametrize("body", [b"", b"{}", b'{"a":1}', "ünï".encode()])
def test_a_signed_request_names_the_access_key_and_its_projects(body: bytes) -> None:
    principal = authenticator().authenticate(signed(body))
    assert principal.projects == frozenset({"p1"})
    assert AK in principal.name
    principal.require("p1")
    with pytest.raises(ProjectDenied, match="not bound to project 'p2'"):
        principal.require("p2")


@pytest.mark.parametrize(
    ("minutes", "ok"), [(0, True), (-14, True), (14, True), (16, False), (-16, False)]
)
def test_the_signing_date_must_be_within_fifteen_minutes(minutes: int, ok: bool) -> None:
    request = signed(at=NOW + timedelta(minutes=minutes))
    if ok:
        assert authenticator().authenticate(request).projects == frozenset({"p1"})
    else:
        with pytest.raises(Unauthenticated, match="check the client's clock"):
            authenticator().authenticate(request)


@pytest.mark.parametrize(
    ("date", "words"),
    [("", "needs an X-Sdk-Date"), ("2026-03-04T05:06:07Z", "not in the form YYYYMMDDTHHMMSSZ")],
)
def test_a_missing_or_malformed_date_is_refused(date: str, words: str) -> None:
    request = with_headers(signed(), x_sdk_date=date)
    with pytest.raises(Unauthenticated, match=words):
        authenticator().authenticate(request)


def test_an_unknown_access_key_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="access key 'AKOTHER' is not known"):
        authenticator().authenticate(signed(ak="AKOTHER"))


def test_a_changed_body_or_query_is_refused() -> None:
    request = signed()
    for changed in (
        HttpRequest("POST", request.raw_path, request.query, request.headers, b'{"a":2}'),
        HttpRequest("POST", request.raw_path, "a=1&b=3", request.headers, request.body),
        HttpRequest("PUT", request.raw_path, request.query, request.headers, request.body),
    ):
        with pytest.raises(Unauthenticated, match="does not match"):
            authenticator().authenticate(changed)


def test_a_declared_body_hash_must_match_the_body() -> None:
    request = with_headers(signed(), x_sdk_content_sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(Unauthenticated, match="X-Sdk-Content-Sha256 does not match"):
        authenticator().authenticate(request)


def test_the_signature_must_cover_host_and_date() -> None:
    request = signed()
    authorization = request.headers["authorization"].replace(
        "SignedHeaders=", "SignedHeaders=x-extra;"
    )
    with pytest.raises(Unauthenticated):
        authenticator().authenticate(with_headers(request, authorization=authorization))
    only_type = f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type, Signature=00"
    with pytest.raises(Unauthenticated, match="must cover the headers host, x-sdk-date"):
        authenticator().authenticate(with_headers(request, authorization=only_type))


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/v2/p1/x", "/v2/p1/x/"),
        ("/v2/p1/x/", "/v2/p1/x/"),
        ("/v2/a%20b/c~d", "/v2/a%20b/c~d/"),
        ("/v2/urn%3Afss%3Ar", "/v2/urn%3Afss%3Ar/"),
        ("/v2/%C3%BC", "/v2/%C3%BC/"),
    ],
)
def test_canonical_uris_re_encode_each_segment(raw: str, canonical: str) -> None:
    assert canonical_uri(raw) == canonical


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1", "a=1&a=2"),
        ("k=a b&e=", "e=&k=a%20b"),
        ("x=%2F", "x=%2F"),
    ],
)
def test_canonical_queries_are_sorted_and_encoded(query: str, canonical: str) -> None:
    assert canonical_query(query) == canonical


@pytest.mark.parametrize(
    ("token", "projects"),
    [("tok-a", {"p1", "p2"}), ("tok-b", {"p3"})],
)
def test_a_token_binds_every_project_listed_for_it(token: str, projects: set[str]) -> None:
    request = HttpRequest("GET", "/", "", {"x-auth-token": token}, b"")
    assert authenticator().authenticate(request).projects == frozenset(projects)


def test_an_unknown_token_is_refused_even_when_anonymous_is_on() -> None:
    request = HttpRequest("GET", "/", "", {"x-auth-token": "tok-c"}, b"")
    with pytest.raises(Unauthenticated, match="X-Auth-Token is not valid"):
        authenticator(anonymous=True).authenticate(request)


def test_credentials_are_read_from_settings_and_files(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# operators\nfile-token:p9\n")
    keys = tmp_path / "keys"
    keys.write_text("AKFILE:SKFILE:p8\n")
    settings = Settings(
        broker_url="redis://x",
        api_tokens="env-token:p7",
        api_tokens_file=str(tokens),
        api_access_keys_file=str(keys),
    )
    auth = Authenticator.from_settings(settings)
    assert auth.configured
    for token, project in (("env-token", "p7"), ("file-token", "p9")):
        request = HttpRequest("GET", "/", "", {"x-auth-token": token}, b"")
        assert auth.authenticate(request).projects == frozenset({project})


def test_an_unreadable_credentials_file_is_named() -> None:
    settings = Settings(broker_url="redis://x", api_tokens_file="/nonexistent/tokens")
    with pytest.raises(
        InvalidParameter, match="EXECUTOR_API_TOKENS_FILE names '/nonexistent/tokens'"
    ):
        Authenticator.from_settings(settings)
