"""Requests signed with botocore's own SigV4 signer, as boto3's ``lambda`` client signs them."""

from __future__ import annotations

from datetime import datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.names import REGION

AK, SK = "AKIDLAMBDAUNIT", "lambda-unit-secret"
HOST = "testserver"


def signed(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    query: str = "",
    key: tuple[str, str] = (AK, SK),
    region: str = REGION,
    service: str = "lambda",
    headers: dict[str, str] | None = None,
    at: datetime | None = None,
) -> tuple[str, dict[str, str]]:
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    auth = SigV4Auth(Credentials(*key), service, region)
    if at is None:
        auth.add_auth(request)
    else:
        request.context["timestamp"] = at.strftime("%Y%m%dT%H%M%SZ")
        request.headers["X-Amz-Date"] = request.context["timestamp"]
        canonical = auth.canonical_request(request)
        signature = auth.signature(auth.string_to_sign(request, canonical), request)
        auth._inject_signature_to_request(request, signature)
    return url, dict(request.headers.items())
