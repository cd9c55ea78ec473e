"""OBS destination: one JSON object per event in S3-compatible object storage.

The key is ``<prefix>/<request_id>/<outcome>.json``, so a repeated delivery of the same event
overwrites its object instead of adding one. Lambda's record (a config set through the Lambda
API) goes where Lambda writes it, ``aws/lambda/async/<function>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-
<uuid>``, the time the invocation's and the uuid derived from the event's identity, so a repeated
delivery overwrites there too. ``expires`` (days) becomes a lifecycle rule on
the bucket for the prefix, which the storage service applies by itself (S3, OBS, MinIO and Ceph
sweep expired objects about once a day). The rule is merged into the bucket's other rules
before the first object of a bucket and prefix is written, once per process.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from destinations import _aws
from destinations.base import Delivery, DestinationRuntime
from executor.core.agency import OBSAccess
from executor.core.params import OBSParam, Param

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import LifecycleRuleOutputTypeDef, LifecycleRuleTypeDef

RULE_PREFIX = "async-executor-expiry:"


def folder(prefix: str) -> str:
    """The key prefix every object of ``prefix`` starts with: ``""`` or ``"a/b/"``."""
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""


def object_key(prefix: str, request_id: str, outcome: str) -> str:
    return f"{folder(prefix)}{request_id}/{outcome}.json"


def lambda_key(event: dict[str, Any], identity: str) -> str | None:
    """Where Lambda writes its record; None for FunctionGraph's event."""
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return None
    function = str(context["functionArn"]).split(":")[6]
    moment = datetime.strptime(str(event["timestamp"]), "%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"aws/lambda/async/{function}/{moment:%Y/%m/%d}/{moment:%Y-%m-%dT%H.%M.%S}-"
        f"{uuid.uuid5(uuid.NAMESPACE_URL, identity)}"
    )


def rule_id(prefix: str) -> str:
    """The lifecycle rule of a prefix, named so it is found again (IDs hold 255 characters)."""
    name = RULE_PREFIX + (folder(prefix) or "*")
    if len(name) > 255:
        name = RULE_PREFIX + hashlib.sha256(folder(prefix).encode()).hexdigest()
    return name


class OBSDestination:
    """Writes the event as an object to S3-compatible object storage."""

    kind: ClassVar[str] = "OBS"
    param_model: ClassVar[type[Param]] = OBSParam

    def __init__(self) -> None:
        self._expiring: set[tuple[OBSAccess, str, str, int]] = set()
        self._lock = threading.Lock()

    def deliver(self, delivery: Delivery, runtime: DestinationRuntime) -> None:
        assert isinstance(delivery.param, OBSParam)
        param = delivery.param
        _, access = runtime.agencies.access(delivery.agency, OBSAccess)
        client = _aws.s3(access)
        key = lambda_key(delivery.event, delivery.identity) or object_key(
            param.prefix, delivery.request_id, delivery.outcome
        )
        try:
            if param.expires:
                self._expire(client, access, param)
            client.put_object(
                Bucket=param.bucket,
                Key=key,
                Body=delivery.body(),
                ContentType="application/json",
                Metadata={"event-id": delivery.identity},
            )
        except (ClientError, BotoCoreError) as exc:
            raise _aws.delivery_error(exc, f"OBS bucket {param.bucket}, key {key}") from exc

    def _expire(self, client: S3Client, access: OBSAccess, param: OBSParam) -> None:
        done = (access, param.bucket, folder(param.prefix), param.expires)
        with self._lock:
            if done in self._expiring:
                return
        ensure_expiry(client, param.bucket, param.prefix, param.expires)
        with self._lock:
            self._expiring.add(done)


def ensure_expiry(client: S3Client, bucket: str, prefix: str, days: int) -> None:
    """Make objects under ``prefix`` expire after ``days``, keeping the bucket's other rules."""
    name = rule_id(prefix)
    wanted: LifecycleRuleTypeDef = {
        "ID": name,
        "Filter": {"Prefix": folder(prefix)},
        "Status": "Enabled",
        "Expiration": {"Days": days},
    }
    rules = _rules(client, bucket)
    current = next((r for r in rules if r.get("ID") == name), None)
    if current is not None and _same(current, wanted):
        return
    others: list[Any] = [r for r in rules if r.get("ID") != name]
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [*others, wanted]}
    )


def _rules(client: S3Client, bucket: str) -> list[LifecycleRuleOutputTypeDef]:
    try:
        return list(client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
    except ClientError as exc:
        if _aws.error_code(exc) == "NoSuchLifecycleConfiguration":
            return []
        raise


def _same(rule: LifecycleRuleOutputTypeDef, wanted: LifecycleRuleTypeDef) -> bool:
    return (
        rule.get("Status") == "Enabled"
        and rule.get("Filter", {}).get("Prefix", rule.get("Prefix")) == wanted["Filter"]["Prefix"]
        and rule.get("Expiration", {}).get("Days") == wanted["Expiration"]["Days"]
    )
