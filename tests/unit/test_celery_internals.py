"""The places the engine reaches into Celery and kombu where they give no public hook: each test
fails when the installed Celery or kombu changes what the engine relies on."""

from __future__ import annotations

import inspect
import logging

import pytest
from celery.exceptions import WorkerShutdown
from celery.platforms import EX_FAILURE
from celery.worker import state
from celery.worker import worker as celery_worker
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.transport import redis as kombu_redis

from executor.runtime.celery import internals
from executor.runtime.celery.intake import Consumer


def test_a_requested_stop_is_what_the_worker_loop_shuts_down_on() -> None:
    before = state.should_stop
    try:
        internals.request_stop(EX_FAILURE)
        with pytest.raises(WorkerShutdown) as stopped:
            state.maybe_shutdown()
        assert stopped.value.args == (EX_FAILURE,)
    finally:
        state.should_stop = before


def test_a_worker_is_busy_while_it_holds_or_runs_a_request() -> None:
    assert not internals.worker_busy()

    class Request:  # what Celery keeps there: held by weak reference
        pass

    request = Request()
    for held in (state.active_requests, state.reserved_requests):
        held.add(request)
        try:
            assert internals.worker_busy()
        finally:
            held.discard(request)
    assert not internals.worker_busy()


def test_celery_still_logs_an_unrecoverable_error_below_its_logger() -> None:
    assert celery_worker.logger.name.startswith(internals.CELERY_LOGGER + ".")
    assert isinstance(celery_worker.logger, logging.Logger)
    source = inspect.getsource(celery_worker.WorkController.start)
    assert f"logger.critical('{internals.UNRECOVERABLE}" in source


def test_kombu_redis_still_keeps_unacknowledged_messages_under_unacked_key() -> None:
    assert isinstance(kombu_redis.Channel.unacked_key, str)
    assert "self.unacked_key" in inspect.getsource(kombu_redis.QoS.append)

    class Client:
        def hlen(self, key: str) -> int:
            return 3 if key == "the-unacked-hash" else 0

    class Channel:
        unacked_key = "the-unacked-hash"
        client = Client()

    assert internals.unacknowledged(Channel()) == 3


@pytest.mark.parametrize(
    "hook", ["on_unknown_task", "on_decode_error", "on_connection_error_after_connected"]
)
def test_the_consumer_overrides_methods_celery_still_has(hook: str) -> None:
    theirs = getattr(CeleryConsumer, hook)
    ours = getattr(Consumer, hook)
    assert ours is not theirs
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)
