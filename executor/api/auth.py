"""Who calls the HTTP API: ``X-Auth-Token`` tokens and AK/SK request signatures (the APIG
scheme of ``signing``), and the projects each credential owns.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from executor.api.signing import (
    ALGORITHM,
    DATE_FORMAT,
    HttpRequest,
    canonical_request,
    parse_authorization,
    sign,
    string_to_sign,
)
from executor.core.errors import InvalidParameter, ProjectDenied, Unauthenticated
from executor.core.settings import Settings

MAX_CLOCK_SKEW = 15 * 60
REQUIRED_SIGNED_HEADERS = ("host", "x-sdk-date")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and the projects it may act on (``None``: any project).

    ``identity`` names the credential without revealing it (a digest of a token, an access key
    with a digest of its secret), so a console session can be checked against the credentials
    the server knows now.
    """

    name: str
    projects: frozenset[str] | None
    identity: str = ""

    def require(self, project_id: str) -> None:
        if self.projects is not None and project_id not in self.projects:
            raise ProjectDenied(
                f"{self.name} is not bound to project {project_id!r}; call the API under a "
                "project the credential owns, or bind the credential to this project"
            )


ANONYMOUS = Principal("anonymous caller", None, "anonymous")


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
            return self.check_token(token)
        if self._anonymous:
            return ANONYMOUS
        raise Unauthenticated(
            "credentials are required: send an X-Auth-Token header, or sign the request with "
            f"an access key ({ALGORITHM})"
        )

    def check_token(self, token: str) -> Principal:
        """The caller a token stands for, or ``Unauthenticated``."""
        digest = _digest(token)
        projects = self._tokens.get(digest)
        if projects is None:
            raise Unauthenticated("the X-Auth-Token is not valid; check the token and retry")
        return self._token_principal(digest, projects)

    def check_access_key(self, access_key: str, secret_key: str) -> Principal:
        """The caller an access key and its secret key stand for, or ``Unauthenticated``."""
        found = self._access_keys.get(access_key)
        if found is None:
            raise Unauthenticated(f"the access key {access_key!r} is not known")
        secret, projects = found
        if not hmac.compare_digest(_digest(secret), _digest(secret_key)):
            raise Unauthenticated("the secret key does not match the access key; check both")
        return self._key_principal(access_key, secret, projects)

    def access_key(self, access_key: str) -> tuple[str, frozenset[str]] | None:
        """The secret key of an access key and the projects it is bound to; None if unknown."""
        return self._access_keys.get(access_key)

    def principals(self) -> list[Principal]:
        """Every caller the settings let in, by credential."""
        found = [self._token_principal(d, p) for d, p in self._tokens.items()]
        found += [self._key_principal(ak, sk, p) for ak, (sk, p) in self._access_keys.items()]
        return [*found, ANONYMOUS] if self._anonymous else found

    @staticmethod
    def _token_principal(digest: bytes, projects: frozenset[str]) -> Principal:
        return Principal("the X-Auth-Token", projects, f"token:{digest.hex()}")

    @staticmethod
    def _key_principal(access_key: str, secret: str, projects: frozenset[str]) -> Principal:
        identity = f"ak:{access_key}:{_digest(secret).hex()}"
        return Principal(f"the access key {access_key!r}", projects, identity)

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
        return self._key_principal(access_key, secret, projects)

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


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
