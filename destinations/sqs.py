"""SQS destination: each event is one message on an SQS-compatible queue.

The queue is named by its ARN (``arn:aws:sqs:<region>:<account>:<name>``); its URL is asked of
the service once per process. The message carries the attributes ``event_id`` (the event's
identity, so a consumer can drop a repeated delivery) and ``traceparent`` when traced. A FIFO
queue (``.fifo``) gets the identity as its deduplication id, so the service drops a repeat
itself, and the function as the message group.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from destinations import _aws
from destinations.base import Delivery, DestinationRuntime
from executor.core.agency import SQSAccess
from executor.core.params import Param, SQSParam

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SQSDestination:
    """Sends the event as a message to an SQS-compatible queue."""

    kind: ClassVar[str] = "SQS"
    param_model: ClassVar[type[Param]] = SQSParam

    def __init__(self) -> None:
        self._urls: dict[tuple[SQSAccess, str], str] = {}
        self._lock = threading.Lock()

    def deliver(self, delivery: Delivery, runtime: DestinationRuntime) -> None:
        assert isinstance(delivery.param, SQSParam)
        arn = delivery.param.queue_arn
        _, access = runtime.agencies.access(delivery.agency, SQSAccess)
        client = _aws.sqs(access)
        attributes = {"event_id": delivery.identity}
        if delivery.traceparent:
            attributes["traceparent"] = delivery.traceparent
        message: dict[str, Any] = {
            "MessageBody": delivery.body().decode(),
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        }
        if arn.endswith(".fifo"):
            message["MessageGroupId"] = delivery.function_urn[-128:]
            message["MessageDeduplicationId"] = hashlib.sha256(
                delivery.identity.encode()
            ).hexdigest()[:128]
        try:
            client.send_message(QueueUrl=self._url(client, access, arn), **message)
        except (ClientError, BotoCoreError) as exc:
            raise _aws.delivery_error(exc, f"SQS queue {arn}") from exc

    def _url(self, client: SQSClient, access: SQSAccess, arn: str) -> str:
        with self._lock:
            found = self._urls.get((access, arn))
        if found is None:
            _, _, _, _, account, name = arn.split(":", 5)
            found = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            with self._lock:
                self._urls[(access, arn)] = found
        return found
