"""Tracing without an SDK is a no-op that still passes on a trace it was given."""

from __future__ import annotations

from opentelemetry import context
from pydantic import SecretStr

from destinations.smn import post
from executor.core.agency import Subscription
from executor.runtime import tracing
from tests.support.destination_services import WebhookServer

URN = "urn:fss:local-1:default:function:default:hello:latest"
UPSTREAM = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_without_an_sdk_nothing_is_traced():
    with tracing.producing(URN) as traceparent:
        assert traceparent == ""
        assert tracing.ids() is None


def test_without_an_sdk_an_upstream_trace_passes_through():
    token = context.attach(tracing.context_of(UPSTREAM))  # type: ignore[arg-type]
    try:
        with tracing.producing(URN) as traceparent:
            assert traceparent.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
            assert tracing.ids() == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    finally:
        context.detach(token)
    assert tracing.context_of("") is None


def test_webhooks_carry_the_traceparent_only_when_traced():
    server = WebhookServer().start()
    try:
        subscription = Subscription(
            topic_urn="urn:smn:local-1:default:t", url=f"{server.url}/hook", secret=SecretStr("k")
        )
        post(subscription, b"{}", "r:success", UPSTREAM)
        post(subscription, b"{}", "r:failure")
        traced, untraced = server.at("/hook")
        assert traced.headers["traceparent"] == UPSTREAM
        assert "traceparent" not in untraced.headers
    finally:
        server.close()
