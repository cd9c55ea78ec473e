"""The APIG request signature Huawei Cloud's SDKs send (``SDK-HMAC-SHA256``)::

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from executor.core.errors import Unauthenticated

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


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
