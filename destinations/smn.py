"""SMN destination: publish each event to a notification topic.

Two backends, chosen by the agency's ``smn`` section:

- ``sns``: ``Publish`` to the SNS-compatible topic ``arn:aws:sns:<region>:<account_id>:<topic>``
  (the topic is the last part of ``topic_urn``), with the message attributes ``function_urn``,
  ``condition`` (``Success`` for a success: SNS refuses empty values), ``event_id`` and, when
  the delivery is traced, ``traceparent``.
- ``webhook``: a ``POST`` of the event JSON to every subscription of the topic, with the headers
  ``X-Signature`` (hex HMAC-SHA256 of the body, keyed with the subscription's secret),
  ``X-Event-Id``, ``X-Topic-Urn`` and, when the delivery is traced, the W3C ``traceparent``.
  A 2xx answer is a delivery; 408, 429, 5xx and network
  errors are tried again, other answers are refused for good. A subscription that took the event
  is remembered, so a retry posts only to those that did not.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
from typing import ClassVar
from urllib.parse import urlsplit

from destinations.base import (
    Delivery,
    DeliveryError,
    DestinationRuntime,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    redis_errors,
)
from destinations.cloud import needs_extra
from executor.core.agency import SMNAccess, Subscription
from executor.core.params import Param, SMNParam

log = logging.getLogger("executor.destinations.smn")

_PASSING = frozenset({408, 425, 429})


def signature(secret: bytes, body: bytes) -> str:
    """What a receiver recomputes to trust a webhook: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def topic_arn(access: SMNAccess, topic_urn: str) -> str:
    return f"arn:aws:sns:{access.region}:{access.account_id}:{topic_urn.rsplit(':', 1)[1]}"


class SMNDestination:
    """Publishes the event on a notification topic: SNS-compatible, or signed webhooks."""

    kind: ClassVar[str] = "SMN"
    param_model: ClassVar[type[Param]] = SMNParam

    def deliver(self, delivery: Delivery, runtime: DestinationRuntime) -> None:
        assert isinstance(delivery.param, SMNParam)
        name, access = runtime.agencies.access(delivery.agency, SMNAccess)
        if access.backend == "sns":
            self._publish(delivery, access, delivery.param.topic_urn)
        else:
            self._post_all(delivery, runtime, access, name, delivery.param.topic_urn)

    def _publish(self, delivery: Delivery, access: SMNAccess, topic_urn: str) -> None:
        context = delivery.event.get("request_context") or delivery.event.get("requestContext")
        condition = str((context or {}).get("condition", ""))
        attributes = {
            "function_urn": delivery.function_urn,
            "condition": condition or "Success",
            "event_id": delivery.identity,
        }
        if delivery.traceparent:
            attributes["traceparent"] = delivery.traceparent
        with needs_extra(f"SMN topic {topic_urn} (its agency's backend is sns)"):
            from destinations import _aws
        try:
            _aws.sns(access).publish(
                TopicArn=topic_arn(access, topic_urn),
                Message=delivery.body().decode(),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in attributes.items()
                },
            )
        except _aws.FAILURES as exc:
            raise _aws.delivery_error(exc, f"SMN topic {topic_urn}") from exc

    def _post_all(
        self,
        delivery: Delivery,
        runtime: DestinationRuntime,
        access: SMNAccess,
        agency: str,
        topic_urn: str,
    ) -> None:
        subscriptions = [s for s in access.subscriptions if s.topic_urn == topic_urn]
        if not subscriptions:
            raise PermanentDeliveryError(
                f"SMN topic {topic_urn} has no subscription in agency {agency!r}: add one "
                f"under [[agencies.{agency}.smn.subscriptions]]"
            )
        retention = runtime.settings.status_retention
        body = delivery.body()
        failures: list[DeliveryError] = []
        for subscription in subscriptions:
            sent = f"smn:{delivery.identity}:{_fingerprint(subscription)}"
            with redis_errors("SMN (the state store)"):
                if runtime.read_marker(sent) is not None:
                    continue
            try:
                post(subscription, body, delivery.identity, delivery.traceparent)
            except DeliveryError as exc:
                failures.append(exc)
                continue
            with redis_errors("SMN (the state store)"):
                runtime.write_marker(sent, "1", retention)
        if failures:
            message = "; ".join(f.message for f in failures)
            if all(f.permanent for f in failures):
                raise PermanentDeliveryError(message)
            raise TemporaryDeliveryError(message)


def _fingerprint(subscription: Subscription) -> str:
    return hashlib.sha256(subscription.url.encode()).hexdigest()[:16]


def post(subscription: Subscription, body: bytes, identity: str, traceparent: str = "") -> None:
    """POST one event to one subscription; a ``DeliveryError`` unless it answers 2xx."""
    url = urlsplit(subscription.url)
    # Only the host is named in errors: a URL may carry a token.
    where = f"webhook {url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    connection_type = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(url.hostname or "", url.port, timeout=subscription.timeout)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "async-executor",
        "X-Signature": signature(subscription.secret.get_secret_value().encode(), body),
        "X-Event-Id": identity,
        "X-Topic-Urn": subscription.topic_urn,
    }
    if traceparent:
        headers["traceparent"] = traceparent
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise TemporaryDeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    status = response.status
    if 200 <= status < 300:
        return
    text = f"{where} answered {status} {response.reason}"
    if status >= 500 or status in _PASSING:
        raise TemporaryDeliveryError(text)
    raise PermanentDeliveryError(text)
