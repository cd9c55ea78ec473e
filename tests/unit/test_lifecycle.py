"""The lifecycle's decisions, over the real store on fakeredis and a recording publisher."""

from __future__ import annotations

import json

import pytest

from executor.core.errors import RequestIdConflict, Unavailable
from executor.core.invocation import ClaimState, Status
from executor.runtime.cancellation import Cancellations
from executor.runtime.lifecycle import Lifecycle
from executor.state import keys
from executor.state.configs import Configs
from executor.state.functions import Functions
from executor.state.store import Store
from tests.support.lifecycle_steps import HELLO, accept, event, route, settle
from tests.support.names import fg
from tests.support.stubs import RecordingCelery, RecordingPublisher, StubRuntime

DIS = {"destination": "DIS", "param": {"stream_name": "s"}}


def cancellations(lifecycle: Lifecycle) -> Cancellations:
    return Cancellations(
        lifecycle.settings, lifecycle.store, lifecycle.admission.gate, RecordingCelery()
    )


# -- accept --------------------------------------------------------------------------------------


def test_accept_writes_wait_then_publishes_one_message(
    lifecycle: Lifecycle, store: Store, publisher: RecordingPublisher
) -> None:
    assert accept(lifecycle, origin="parent") == "r1"
    record = store.records.get("r1")
    assert record is not None and record.status is Status.WAIT
    [sent] = publisher.invocations
    assert (sent.request_id, sent.entry.queue, sent.retries) == ("r1", "q-hello", 0)
    message = sent.message
    assert (message.urn, message.payload, message.chain, message.origin) == (
        HELLO,
        {"n": 1},
        ("up",),
        "parent",
    )
    assert message.enqueued_at == record.enqueued_at
    assert message.deadline == pytest.approx(record.enqueued_at + 90)
    assert record.deadline == message.deadline


@pytest.mark.parametrize("failure", [ConnectionError("refused"), OSError("reset"), KeyError("x")])
def test_a_publish_failure_leaves_nothing_written(
    lifecycle: Lifecycle,
    store: Store,
    publisher: RecordingPublisher,
    fake_redis,
    failure: Exception,
) -> None:
    publisher.fail = failure
    with pytest.raises(Unavailable, match="nothing was queued") as refused:
        accept(lifecycle)
    assert refused.value.__cause__ is failure
    assert store.records.get("r1") is None
    assert fake_redis.keys("*") == [keys.LAYOUT_KEY]  # the store's layout mark, nothing more


def test_a_duplicate_that_already_ran_is_not_published_again(
    lifecycle: Lifecycle, store: Store, publisher: RecordingPublisher
) -> None:
    accept(lifecycle)
    lifecycle.claim("r1", HELLO, 0)
    assert accept(lifecycle) == "r1"
    with pytest.raises(RequestIdConflict, match="'r1' is taken"):
        accept(lifecycle, payload={"n": 2})
    assert len(publisher.invocations) == 1
    record = store.records.get("r1")
    assert record is not None and record.payload == {"n": 1}


def test_a_duplicate_never_claimed_is_not_published_again_and_counted_once(
    lifecycle: Lifecycle, store: Store, publisher: RecordingPublisher
) -> None:
    # A first publish lost with its producer is the orphan pass's to redo, not a repeat's.
    accept(lifecycle)
    accept(lifecycle)
    assert [p.request_id for p in publisher.invocations] == ["r1"]
    assert store.scans.stats()[f"fn|{HELLO}|accepted"] == 1


def test_a_duplicate_does_not_touch_the_broker(
    lifecycle: Lifecycle, store: Store, publisher: RecordingPublisher
) -> None:
    accept(lifecycle)
    publisher.fail = ConnectionError("down")
    assert accept(lifecycle) == "r1"
    record = store.records.get("r1")
    assert record is not None and record.status is Status.WAIT


@pytest.mark.parametrize(("claims", "expected"), [(0, 0), (1, 1), (3, 3)])
def test_republish_publishes_the_next_retry_index_which_then_runs(
    lifecycle: Lifecycle, store: Store, publisher: RecordingPublisher, claims: int, expected: int
) -> None:
    accept(lifecycle)
    for retry in range(claims):
        assert lifecycle.claim("r1", HELLO, retry).state is ClaimState.RUN
        assert lifecycle.retry("r1", HELLO, "boom", f"retry {retry}")
    record = store.records.record("r1")
    assert record is not None
    lifecycle.admission.republish(record)
    sent = publisher.invocations[-1]
    assert sent.retries == expected
    # The payload is in the record; a message carries it only to be shown (not here).
    first = publisher.invocations[0].message.model_copy(update={"payload": None})
    assert sent.message == first
    assert lifecycle.claim("r1", HELLO, sent.retries).state is ClaimState.RUN


# -- settle --------------------------------------------------------------------------------------


def test_settle_queues_a_functiongraph_event_it_cannot_fuse_like_any_other(
    lifecycle: Lifecycle,
    store: Store,
    configs: Configs,
    functions: Functions,
    runtime: StubRuntime,
    publisher: RecordingPublisher,
) -> None:
    route(configs, functions, on_success=fg("next"))
    accept(lifecycle)
    lifecycle.claim("r1", HELLO, 0)
    assert settle(lifecycle)
    assert not settle(lifecycle, status=Status.FAIL)
    [job] = publisher.deliveries
    assert (job.identity, job.kind, job.chain) == ("r1:success", "FunctionGraph", ("up",))
    assert job.event == json.loads(event().model_dump_json())
    assert runtime.calls == []
    state = store.deliveries.state("r1", "success")
    assert state is not None and (state.state, state.attempts) == ("pending", 0)


def test_settle_queues_other_kinds_with_the_agency_of_the_function(
    lifecycle: Lifecycle,
    store: Store,
    configs: Configs,
    functions: Functions,
    publisher: RecordingPublisher,
) -> None:
    route(configs, functions, on_failure=DIS)
    accept(lifecycle)
    lifecycle.claim("r1", HELLO, 0)
    assert settle(lifecycle, status=Status.FAIL)
    assert not settle(lifecycle, status=Status.FAIL)
    [job] = publisher.deliveries
    assert (job.identity, job.kind, job.agency, job.function_urn) == (
        "r1:failure",
        "DIS",
        "writer",
        HELLO,
    )
    assert job.first_at > 0
    state = store.deliveries.state("r1", "failure")
    assert state is not None and state.state == "pending"


def test_settle_without_a_destination_for_the_outcome_hands_over_nothing(
    lifecycle: Lifecycle,
    configs: Configs,
    functions: Functions,
    runtime: StubRuntime,
    publisher: RecordingPublisher,
    store: Store,
) -> None:
    route(configs, functions, on_failure=DIS)
    accept(lifecycle)
    assert settle(lifecycle, status=Status.SUCCESS)
    assert (runtime.calls, publisher.deliveries) == ([], [])
    record = store.records.get("r1")
    assert record is not None and record.deliveries == ()


# -- other ends ----------------------------------------------------------------------------------


def test_expire_discards_a_waiting_invocation_with_an_age_event(
    lifecycle: Lifecycle, store: Store, configs: Configs, functions: Functions, publisher
) -> None:
    route(configs, functions, on_failure=DIS)
    accept(lifecycle, max_age=45)
    assert lifecycle.expire("r1", "aged out")
    record = store.records.get("r1")
    assert record is not None
    assert (record.status, record.condition, record.error_code) == (
        Status.DISCARD,
        "EventAgeExceeded",
        "EventAgeExceeded",
    )
    assert record.error_message == "the message aged out: not run within 45 s of being queued"
    [job] = publisher.deliveries
    assert job.event["request_context"]["condition"] == "EventAgeExceeded"
    assert job.event["request_context"]["approximate_invoke_count"] == 0


def test_fail_platform_ends_a_running_invocation_with_a_500_event(
    lifecycle: Lifecycle, store: Store, configs: Configs, functions: Functions, publisher
) -> None:
    route(configs, functions, on_failure=DIS)
    accept(lifecycle)
    lifecycle.claim("r1", HELLO, 0)
    assert lifecycle.fail_platform("r1", "worker lost", "lost")
    record = store.records.get("r1")
    assert record is not None
    assert (record.status, record.error_code, record.error_message) == (
        Status.FAIL,
        "FSS.0500",
        "worker lost",
    )
    [job] = publisher.deliveries
    assert job.event["response_context"] == {"status_code": 500, "function_error": "worker lost"}
    assert job.event["request_context"]["approximate_invoke_count"] == 1


@pytest.mark.parametrize("end", ["expire", "fail_platform", "cancel"])
@pytest.mark.parametrize("ended", [Status.SUCCESS, Status.FAIL, Status.DISCARD])
def test_ends_of_an_ended_invocation_do_nothing(
    lifecycle: Lifecycle,
    store: Store,
    configs: Configs,
    functions: Functions,
    publisher: RecordingPublisher,
    runtime: StubRuntime,
    fake_redis,
    end: str,
    ended: Status,
) -> None:
    route(configs, functions, on_success=fg("next"), on_failure=DIS)
    accept(lifecycle)
    lifecycle.claim("r1", HELLO, 0)
    assert settle(lifecycle, status=ended)
    before = store.records.get("r1")
    assert before is not None
    handed = (len(publisher.deliveries), len(runtime.calls))
    if end == "cancel":
        assert not cancellations(lifecycle).walk(before, force=True, recursive=False)
    elif end == "expire":
        assert not lifecycle.expire("r1", "late")
    else:
        assert not lifecycle.fail_platform("r1", "lost", "late")
    assert store.records.get("r1") == before
    assert (len(publisher.deliveries), len(runtime.calls)) == handed


@pytest.mark.parametrize("end", ["expire", "fail_platform"])
def test_ends_of_a_missing_record_do_nothing(lifecycle: Lifecycle, fake_redis, end: str) -> None:
    if end == "expire":
        assert not lifecycle.expire("gone", "late")
    else:
        assert not lifecycle.fail_platform("gone", "lost", "late")
    assert fake_redis.keys("*") == []


@pytest.mark.parametrize("force", [False, True])
def test_cancel_discards_with_no_event(
    lifecycle: Lifecycle,
    store: Store,
    configs: Configs,
    functions: Functions,
    publisher: RecordingPublisher,
    fake_redis,
    force: bool,
) -> None:
    route(configs, functions, on_failure=DIS)
    accept(lifecycle)
    record = store.records.get("r1")
    assert record is not None
    assert cancellations(lifecycle).walk(record, force, recursive=False)
    ended = store.records.get("r1")
    assert ended is not None
    assert (ended.status, ended.error_code) == (Status.DISCARD, "Cancelled")
    assert ended.error_message == "cancelled by request" + (" (forced)" if force else "")
    assert publisher.deliveries == []
    assert fake_redis.zcard(keys.sharded_for(keys.OUTBOX, "r1")) == 0


def test_resend_event_queues_the_recorded_event_again(
    lifecycle: Lifecycle,
    configs: Configs,
    functions: Functions,
    publisher: RecordingPublisher,
    store: Store,
) -> None:
    route(configs, functions, on_failure=DIS)
    accept(lifecycle)
    assert settle(lifecycle, status=Status.FAIL)
    [first] = publisher.deliveries
    assert not lifecycle.resend_event("r1")  # its delivery chain is alive: nothing more is sent
    assert len(publisher.deliveries) == 1
    store.redis.hset(keys.chain_key("r1:failure"), "until", 0)  # its next attempt is overdue
    assert lifecycle.resend_event("r1")
    [_, again] = publisher.deliveries
    assert again.model_dump(exclude={"token"}) == first.model_dump(exclude={"token"})
    assert again.token != first.token


def test_resend_event_of_a_record_without_a_destination_sends_nothing(
    lifecycle: Lifecycle, publisher: RecordingPublisher
) -> None:
    accept(lifecycle)
    settle(lifecycle)
    lifecycle.resend_event("r1")
    lifecycle.resend_event("gone")
    assert publisher.deliveries == []


def test_a_record_missing_is_looked_for_again_on_new_connections(
    lifecycle: Lifecycle, fake_redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection kept open to a master that a Sentinel failover demoted answers reads from
    its stale data: a claim that finds no record asks again on new connections before its
    message is dropped."""
    accept(lifecycle, "r1")
    record = fake_redis.hgetall(keys.record_key("r1"))
    fake_redis.delete(keys.record_key("r1"))  # the stale server's view: no such record
    reconnects: list[bool] = []

    def reconnect() -> None:  # the promoted master, which holds the record
        reconnects.append(True)
        fake_redis.hset(keys.record_key("r1"), mapping=record)

    monkeypatch.setattr(lifecycle.store, "reconnect", reconnect)
    assert lifecycle.claim("r1", HELLO, 0).state is ClaimState.RUN
    assert reconnects == [True]
    # One truly gone stays missing, after one more look.
    reconnects.clear()
    assert lifecycle.claim("gone", HELLO, 0).state is ClaimState.MISSING
    assert len(reconnects) == 1
