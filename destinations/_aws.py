"""boto3 clients made from an agency's access, once per process, and what their errors mean."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)

from destinations.base import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from executor.core.agency import OBSAccess, ServiceAccess

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# Codes that mean "busy, try later" whatever HTTP status carries them.
_BUSY = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalError",
        "KMSThrottlingException",
    }
)
# What a call to a client raises when it fails.
FAILURES = (ClientError, BotoCoreError)
_CONFIG_ERRORS = (NoCredentialsError, PartialCredentialsError, NoRegionError, ParamValidationError)

# botocore's debug lines print signed request headers, the access key id among them; a worker
# run with --loglevel DEBUG keeps them out unless these loggers are configured on purpose.
for _name in ("boto3", "botocore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.INFO)

_lock = threading.Lock()
_clients: dict[tuple[int, str, ServiceAccess], Any] = {}


def _client(service: str, access: ServiceAccess) -> Any:
    # The pid is part of the key: a client made before a fork must not be shared by children.
    key = (os.getpid(), service, access)
    with _lock:
        found = _clients.get(key)
        if found is None:
            session = boto3.session.Session(
                aws_access_key_id=_reveal(access.access_key_id),
                aws_secret_access_key=_reveal(access.secret_access_key),
                aws_session_token=_reveal(access.session_token),
                region_name=access.region,
            )
            config = Config(
                connect_timeout=access.connect_timeout,
                read_timeout=access.read_timeout,
                # The delivery task retries with its own backoff and deadline.
                retries={"total_max_attempts": 1},
            )
            if isinstance(access, OBSAccess):
                config = config.merge(Config(s3={"addressing_style": access.addressing_style}))
            found = _clients[key] = session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=access.endpoint_url,
                config=config,
            )
    return found


def _reveal(secret: Any) -> str | None:
    return None if secret is None else str(secret.get_secret_value())


def s3(access: ServiceAccess) -> S3Client:
    client: S3Client = _client("s3", access)
    return client


def sns(access: ServiceAccess) -> SNSClient:
    client: SNSClient = _client("sns", access)
    return client


def sqs(access: ServiceAccess) -> SQSClient:
    client: SQSClient = _client("sqs", access)
    return client


def kinesis(access: ServiceAccess) -> KinesisClient:
    client: KinesisClient = _client("kinesis", access)
    return client


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def delivery_error(exc: Exception, what: str) -> DeliveryError:
    """A boto3 failure as a delivery error.

    Unreachable endpoints, 5xx, 429 and throttling pass (temporary); anything else the service
    answered (403, a missing bucket, stream or topic) and missing credentials are permanent.
    """
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        message = str(exc.response.get("Error", {}).get("Message", "")).strip()
        text = f"{what}: {code or status}" + (f" ({message})" if message else "")
        if status >= 500 or status == 429 or code in _BUSY:
            return TemporaryDeliveryError(text)
        if status == 403:
            text += "; check the agency's credentials and what they are allowed to do"
        return PermanentDeliveryError(text)
    if isinstance(exc, _CONFIG_ERRORS):
        return PermanentDeliveryError(f"{what}: {exc}; fix the agency's section in the file")
    if isinstance(exc, BotoCoreError):
        return TemporaryDeliveryError(f"{what}: {exc}")
    return TemporaryDeliveryError(f"{what}: {type(exc).__name__}: {exc}")
