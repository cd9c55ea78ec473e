"""AWS Signature Version 4, verified on the server with botocore's own signer.

The request is rebuilt from what came on the wire (method, raw path, raw query, the headers the
signature names, the body), and ``botocore.auth.SigV4Auth`` computes the canonical request, the
string to sign and the signature with the secret of the access key; the signatures are compared
in constant time. Refused: an ``X-Amz-Date`` more than 5 minutes from the server's clock, a
credential scope whose date, region or service differ, ``SignedHeaders`` without ``host`` and
``x-amz-date``, and an ``X-Amz-Content-SHA256`` that is not the body's hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from executor.api.lambda_errors import LambdaError
from executor.api.signing import HttpRequest

ALGORITHM = "AWS4-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = 5 * 60
REQUIRED = ("host", "x-amz-date")
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)

KeyLookup = Callable[[str], "tuple[str, frozenset[str]] | None"]


@dataclass(frozen=True)
class Signer:
    """Who signed a request: the access key and the projects it is bound to."""

    access_key: str
    projects: frozenset[str]


def _signature_error(message: str) -> LambdaError:
    return LambdaError("InvalidSignatureException", 403, message)


class SigV4Verifier:
    """Checks the SigV4 signature of a request against the access keys of the settings."""

    def __init__(
        self, keys: KeyLookup, region: str, service: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = keys
        self.region = region
        self.service = service
        self._clock = clock

    def verify(self, request: HttpRequest) -> Signer:
        authorization = request.header("authorization")
        if not authorization:
            raise LambdaError(
                "MissingAuthenticationTokenException",
                403,
                f"Missing Authentication Token: sign the request with {ALGORITHM} (an AWS SDK "
                "or the AWS CLI does) with an access key of EXECUTOR_API_ACCESS_KEYS",
            )
        match = _AUTHORIZATION.match(authorization.strip())
        if match is None:
            raise _signature_error(
                f"the Authorization header is not '{ALGORITHM} Credential=<key>/<date>/<region>/"
                f"{self.service}/aws4_request, SignedHeaders=<h1;h2>, Signature=<64 hex>'"
            )
        access_key, _, scope = match["credential"].partition("/")
        found = self._keys(access_key)
        if found is None:
            raise LambdaError(
                "UnrecognizedClientException",
                403,
                "The security token included in the request is invalid: the access key "
                f"{access_key[:64]!r} is not known",
            )
        secret, projects = found
        signed = match["headers"].split(";")
        timestamp = self._check_date(request.header("x-amz-date"))
        self._check_scope(scope, timestamp)
        missing = [name for name in REQUIRED if name not in signed]
        if missing:
            raise _signature_error(f"the signature must cover the headers {', '.join(missing)}")
        self._check_body(request)
        expected = self._signature(request, signed, timestamp, access_key, secret)
        if not hmac.compare_digest(expected.encode(), match["signature"].encode()):
            raise _signature_error(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method."
            )
        return Signer(access_key, projects)

    def _check_date(self, value: str | None) -> str:
        if not value:
            raise _signature_error("a signed request needs an X-Amz-Date header")
        try:
            signed_at = datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise _signature_error(f"X-Amz-Date {value[:40]!r} is not YYYYMMDDTHHMMSSZ") from None
        skew = abs(self._clock() - signed_at.timestamp())
        if skew > MAX_SKEW:
            raise _signature_error(
                f"Signature expired: X-Amz-Date is {skew:.0f} s from the server's time; a "
                f"request is accepted within {MAX_SKEW // 60} minutes of being signed"
            )
        return value

    def _check_scope(self, scope: str, timestamp: str) -> None:
        parts = scope.split("/")
        if len(parts) != 4 or parts[3] != "aws4_request":
            raise _signature_error(
                "the credential scope is not <date>/<region>/<service>/aws4_request"
            )
        date, region, service, _ = parts
        if date != timestamp[:8]:
            raise _signature_error(f"the credential scope's date {date!r} is not X-Amz-Date's")
        if region != self.region:
            raise _signature_error(
                f"the credential scope names the region {region!r}; sign for {self.region!r}"
            )
        if service != self.service:
            raise _signature_error(
                f"the credential scope names the service {service!r}; sign for {self.service!r}"
            )

    @staticmethod
    def _check_body(request: HttpRequest) -> None:
        declared = request.header("x-amz-content-sha256")
        if declared is not None and not hmac.compare_digest(
            declared.encode(), hashlib.sha256(request.body).hexdigest().encode()
        ):
            raise _signature_error("X-Amz-Content-SHA256 is not the hash of the body")

    def _signature(
        self, request: HttpRequest, signed: list[str], timestamp: str, key: str, secret: str
    ) -> str:
        headers = {}
        for name in signed:
            value = request.header(name)
            if value is None:
                raise _signature_error(f"the signed header {name!r} is not in the request")
            headers[name] = value
        query = f"?{request.query}" if request.query else ""
        url = f"http://{headers['host']}{request.raw_path}{query}"
        rebuilt = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
        rebuilt.context["timestamp"] = timestamp
        auth = SigV4Auth(Credentials(key, secret), self.service, self.region)
        canonical = auth.canonical_request(rebuilt)
        return str(auth.signature(auth.string_to_sign(rebuilt, canonical), rebuilt))
