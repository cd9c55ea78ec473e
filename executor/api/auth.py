"""Who calls the HTTP API: ``X-Auth-Token`` tokens and AK/SK request signatures.

Signed requests follow the APIG scheme that Huawei Cloud's SDKs use (``SDK-HMAC-SHA256``)::

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n
                       SignedHeaders \\n hex(sha256(body))
    StringToSign     = "SDK-HMAC-SHA256" \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(SK, StringToSign))

The canonical URI is the decoded path re-encoded segment by segment (only ``~`` and unreserved
characters left bare) with a trailing ``/``; the canonical query is every ``key=value`` pair,
encoded the same way and sorted; the canonical headers are ``name:value`` for each signed header,
lower-cased and trimmed, each followed by a newline.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote

from executor.core.errors import InvalidParameter, ProjectDenied, Unauthenticated
from executor.core.settings import Settings

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = 15 * 60
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
REQUIRED_SIGNED_HEADERS = ("host", "x-sdk-date")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and the projects it may act on (``None``: any project)."""

    name: str
    projects: frozenset[str] | None

    def require(self, project_id: str) -> None:
        if self.projects is not None and project_id not in self.projects:
            raise ProjectDenied(
                f"{self.name} is not bound to project {project_id!r}; call the API under a "
                "project the credential owns, or bind the credential to this project"
            )


ANONYMOUS = Principal("anonymous caller", None)


@dataclass(frozen=True)
class HttpRequest:
    """The parts of one HTTP request that authentication reads, as they came on the wire."""

    method: str
    raw_path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Authenticator:
    """Checks credentials against the tokens and access keys of the settings."""

    def __init__(
        self,
        tokens: Mapping[str, frozenset[str]],
        access_keys: Mapping[str, tuple[str, frozenset[str]]],
        *,
        anonymous: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Tokens are kept by digest so that finding one takes no time that depends on a secret.
        self._tokens = {_digest(token): projects for token, projects in tokens.items()}
        self._access_keys = dict(access_keys)
        self._anonymous = anonymous
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        token_lines = [settings.api_tokens, _read(settings.api_tokens_file, "API_TOKENS_FILE")]
        key_lines = [
            settings.api_access_keys,
            _read(settings.api_access_keys_file, "API_ACCESS_KEYS_FILE"),
        ]
        return cls(
            parse_tokens("\n".join(token_lines)),
            parse_access_keys("\n".join(key_lines)),
            anonymous=settings.api_anonymous,
        )

    @property
    def configured(self) -> bool:
        """Whether any caller at all can be let in."""
        return bool(self._tokens or self._access_keys or self._anonymous)

    def authenticate(self, request: HttpRequest) -> Principal:
        authorization = request.header("authorization")
        token = request.header("x-auth-token")
        if authorization:
            return self._verify_signature(request, authorization)
        if token:
            projects = self._tokens.get(_digest(token))
            if projects is None:
                raise Unauthenticated("the X-Auth-Token is not valid; check the token and retry")
            return Principal("the X-Auth-Token", projects)
        if self._anonymous:
            return ANONYMOUS
        raise Unauthenticated(
            "credentials are required: send an X-Auth-Token header, or sign the request with "
            f"an access key ({ALGORITHM})"
        )

    def _verify_signature(self, request: HttpRequest, authorization: str) -> Principal:
        access_key, signed_headers, signature = parse_authorization(authorization)
        found = self._access_keys.get(access_key)
        if found is None:
            raise Unauthenticated(f"the access key {access_key!r} is not known")
        secret, projects = found
        date = self._check_date(request.header("x-sdk-date"))
        missing = [h for h in REQUIRED_SIGNED_HEADERS if h not in signed_headers]
        if missing:
            raise Unauthenticated(f"the signature must cover the headers {', '.join(missing)}")
        expected = sign(secret, string_to_sign(canonical_request(request, signed_headers), date))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Unauthenticated(
                "the request signature does not match; check the secret key, and that the "
                "request was not changed after it was signed"
            )
        return Principal(f"the access key {access_key!r}", projects)

    def _check_date(self, value: str | None) -> str:
        if not value:
            raise Unauthenticated("a signed request needs an X-Sdk-Date header (YYYYMMDDTHHMMSSZ)")
        try:
            signed_at = datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise Unauthenticated(
                f"X-Sdk-Date {value!r} is not in the form YYYYMMDDTHHMMSSZ (UTC)"
            ) from None
        skew = abs(self._clock() - signed_at.timestamp())
        if skew > MAX_CLOCK_SKEW:
            raise Unauthenticated(
                f"X-Sdk-Date is {skew:.0f} s away from the server's clock; requests are accepted "
                f"within {MAX_CLOCK_SKEW // 60} minutes of being signed: check the client's clock"
            )
        return signed_at.strftime(DATE_FORMAT)


def parse_authorization(value: str) -> tuple[str, tuple[str, ...], str]:
    """``(access key, signed header names, signature)`` from an ``Authorization`` header."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        raise Unauthenticated(
            f"the Authorization scheme {scheme!r} is not supported; sign with {ALGORITHM}"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, content = part.strip().partition("=")
        if sep:
            fields[name] = content.strip()
    access, headers, signature = (
        fields.get("Access"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    )
    if not access or not headers or not signature:
        raise Unauthenticated(
            f"the Authorization header must be '{ALGORITHM} Access=<AK>, "
            "SignedHeaders=<h1;h2>, Signature=<hex>'"
        )
    return access, tuple(headers.split(";")), signature


def canonical_request(request: HttpRequest, signed_headers: Iterable[str]) -> str:
    names = list(signed_headers)
    headers = []
    for name in names:
        value = request.header(name)
        if value is None:
            raise Unauthenticated(f"the signed header {name!r} is missing from the request")
        headers.append(f"{name}:{value.strip()}\n")
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.raw_path),
            canonical_query(request.query),
            "".join(headers),
            ";".join(names),
            _body_hash(request),
        ]
    )


def canonical_uri(raw_path: str) -> str:
    path = "/".join(_encode(segment) for segment in unquote(raw_path).split("/"))
    return path if path.endswith("/") else path + "/"


def canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in pairs)


def string_to_sign(canonical: str, date: str) -> str:
    return f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def parse_tokens(text: str) -> dict[str, frozenset[str]]:
    """``token:project_id`` entries, separated by commas or new lines."""
    tokens: dict[str, frozenset[str]] = {}
    for number, entry in _entries(text):
        token, _, project = entry.rpartition(":")
        if not token or not project:
            raise InvalidParameter(f"API token entry {number} is not 'token:project_id'")
        tokens[token] = tokens.get(token, frozenset()) | {project}
    return tokens


def parse_access_keys(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """``AK:SK:project_id`` entries, separated by commas or new lines."""
    keys: dict[str, tuple[str, frozenset[str]]] = {}
    for number, entry in _entries(text):
        access, _, rest = entry.partition(":")
        secret, _, project = rest.rpartition(":")
        if not access or not secret or not project:
            raise InvalidParameter(f"API access key entry {number} is not 'AK:SK:project_id'")
        if access in keys and keys[access][0] != secret:
            raise InvalidParameter(f"API access key {access!r} is listed with two secret keys")
        keys[access] = (secret, keys.get(access, ("", frozenset()))[1] | {project})
    return keys


def _entries(text: str) -> Iterable[tuple[int, str]]:
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    entries = (e.strip() for line in lines for e in line.split(","))
    return enumerate((e for e in entries if e), start=1)


def _read(path: str, setting: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameter(
            f"EXECUTOR_{setting} names {path!r}, which cannot be read: {exc.strerror}"
        ) from None


def _body_hash(request: HttpRequest) -> str:
    if not request.body:
        return EMPTY_BODY_SHA256
    actual = hashlib.sha256(request.body).hexdigest()
    declared = request.header("x-sdk-content-sha256")
    if declared is not None and declared != actual:
        raise Unauthenticated(
            "X-Sdk-Content-Sha256 does not match the body; unsigned payloads are not accepted"
        )
    return actual


def _encode(text: str) -> str:
    return quote(text, safe="~")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
