"""Flow control's decisions on fakeredis: the config, the hold and take scripts, admission,
the worker-side gate and the dispatcher's reaping of slots."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from executor.core.flow import FlowConfig
from executor.core.invocation import Status
from executor.core.messages import InvocationMessage
from executor.core.policies import Call, ChainLimit
from executor.core.settings import Settings
from executor.core.urn import parse_urn
from executor.runtime.admission import Admission
from executor.runtime.dispatcher import Dispatcher
from executor.runtime.execution import Execution
from executor.runtime.lifecycle import Lifecycle
from executor.runtime.report import End
from executor.state.functions import Functions
from executor.state.keys import flow_keys
from executor.state.store import Store
from tests.support.names import PROJECT, REGION, urn
from tests.support.stubs import RecordingPublisher

HELLO = urn("hello")
HELLO_URN = parse_urn(HELLO, region=REGION, project=PROJECT)


def limit(store: Store, **changes: object) -> FlowConfig:
    return store.flows.put(HELLO_URN, changes, None).flow


# -- the config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"max_instances": -2},
        {"max_instances": True},
        {"max_instances": "3"},
        {"max_instances": 2.5},
        {"rate_per_second": 0},
        {"rate_per_second": 10_000.5},
        {"rate_per_second": float("nan")},
        {"recursive_loop": "Loop"},
        {"paused": True},
    ],
)
def test_a_bad_flow_config_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FlowConfig.model_validate(bad)


def test_pause_keeps_the_value_resume_gives_back() -> None:
    flow = FlowConfig(max_instances=4)
    paused = flow.pause()
    assert (paused.max_instances, paused.paused, paused.limited) == (0, True, True)
    assert paused.pause() == paused
    assert paused.resume() == flow
    assert FlowConfig().pause().resume() == FlowConfig()


def test_a_bad_put_changes_nothing(store: Store) -> None:
    limit(store, max_instances=3)
    with pytest.raises(Exception, match="flow config"):
        limit(store, rate_per_second=0)
    assert store.flows.get(HELLO_URN, None).flow == FlowConfig(max_instances=3)


def test_a_new_max_ends_a_pause(store: Store) -> None:
    store.flows.put(HELLO_URN, {"max_instances": 5}, None)
    store.flows.put(HELLO_URN, FlowConfig.pause, None)
    resumed = limit(store, max_instances=2)
    assert (resumed.max_instances, resumed.paused_from) == (2, None)


# -- hold and take ---------------------------------------------------------------------------


def test_take_lets_through_as_many_as_free_slots_oldest_first(store: Store) -> None:
    flows, flow = store.flows, FlowConfig(max_instances=3)
    now = time.time()
    for n in range(3):
        assert flows.hold(HELLO, f"r{n}", now - 10 + n, flow)
    assert flows.take(HELLO, flow, now, 30, 100) == ["r0", "r1", "r2"]
    for n in range(3, 5):
        assert flows.hold(HELLO, f"r{n}", now - 10 + n, flow)
    assert flows.take(HELLO, flow, now, 30, 100) == []
    flows.release(HELLO, "r1")
    assert flows.take(HELLO, flow, now, 30, 100) == ["r3"]
    assert flows.counts(HELLO) == (1, 3)
    assert flows.throttled(HELLO)["max_instances"] == 2  # r3 and r4 were held by the cap


def test_one_with_a_slot_is_not_held_again(store: Store) -> None:
    flows, flow = store.flows, FlowConfig(max_instances=1)
    flows.hold(HELLO, "r0", time.time(), flow)
    assert flows.take(HELLO, flow, time.time(), 30, 10) == ["r0"]
    assert not flows.hold(HELLO, "r0", time.time(), flow)
    assert flows.counts(HELLO) == (0, 1)


def test_a_paused_function_lets_nothing_through(store: Store) -> None:
    flows, flow = store.flows, FlowConfig(max_instances=0)
    flows.hold(HELLO, "r0", time.time(), flow)
    assert flows.take(HELLO, flow, time.time(), 30, 10) == []
    assert flows.throttled(HELLO)["paused"] == 1


def test_a_held_invocation_waits_for_its_start_time(store: Store) -> None:
    flows, flow = store.flows, FlowConfig(max_instances=5)
    now = time.time()
    flows.requeue(HELLO, "later", now + 2)
    assert flows.take(HELLO, flow, now, 30, 10) == []
    assert flows.take(HELLO, flow, now + 2, 30, 10) == ["later"]


def test_the_token_bucket_bounds_starts(store: Store) -> None:
    flows, flow = store.flows, FlowConfig(rate_per_second=4)
    now = time.time()
    for n in range(20):
        flows.hold(HELLO, f"r{n}", now - 1, flow)
    assert len(flows.take(HELLO, flow, now, 30, 100)) == 4  # one second's burst
    assert flows.take(HELLO, flow, now + 0.1, 30, 100) == []
    assert len(flows.take(HELLO, flow, now + 1.1, 30, 100)) == 4
    assert len(flows.take(HELLO, flow, now + 3.6, 30, 100)) == 4  # the burst caps what saved up


# -- admission and the worker's gate ---------------------------------------------------------


def test_a_limited_invocation_is_accepted_held_and_not_queued(
    admission: Admission, store: Store, publisher: RecordingPublisher
) -> None:
    limit(store, max_instances=1)
    rid = admission.invoke("hello", {"n": 1})
    assert store.records.status(rid) is Status.WAIT
    assert store.flows.is_held(HELLO, rid)
    assert publisher.invocations == []


def test_the_dispatcher_queues_what_it_takes(
    settings: Settings,
    admission: Admission,
    functions: Functions,
    store: Store,
    publisher: RecordingPublisher,
) -> None:
    limit(store, max_instances=2)
    rids = [admission.invoke("hello", {"n": n}) for n in range(3)]
    dispatcher = Dispatcher(settings, store, functions, admission)
    assert dispatcher.run_once() == 2
    assert [p.request_id for p in publisher.invocations] == rids[:2]
    assert [p.retries for p in publisher.invocations] == [0, 0]  # the first message of each
    assert dispatcher.run_once() == 0


def test_a_message_without_a_slot_is_held_and_does_not_run(
    lifecycle: Lifecycle, admission: Admission, store: Store, registry
) -> None:
    rid = admission.invoke("hello", {"n": 1})  # queued before the limit was set
    limit(store, max_instances=1)
    record = store.records.record(rid)
    assert record is not None
    spec = registry.get(HELLO_URN)
    report = Execution(lifecycle, spec, InvocationMessage.of(record), rid, 0).run()
    assert report.end is End.SKIP
    assert store.records.status(rid) is Status.WAIT
    assert store.flows.is_held(HELLO, rid)


@pytest.fixture
def in_slot(
    settings: Settings,
    admission: Admission,
    functions: Functions,
    store: Store,
    publisher: RecordingPublisher,
) -> tuple[str, Any]:
    """An invocation of a function capped at 1 that the dispatcher let through: its id and the
    message it queued."""
    limit(store, max_instances=1)
    rid = admission.invoke("hello", {"n": 1})
    Dispatcher(settings, store, functions, admission).run_once()
    [sent] = publisher.invocations
    return rid, sent


def test_a_run_with_a_slot_releases_it_when_it_ends(
    lifecycle: Lifecycle, store: Store, registry, in_slot: tuple[str, Any]
) -> None:
    rid, sent = in_slot
    spec = registry.get(HELLO_URN)
    report = Execution(lifecycle, spec, sent.message, rid, sent.retries).run()
    assert report.end is End.SUCCESS
    assert store.records.status(rid) is Status.SUCCESS
    assert store.flows.counts(HELLO) == (0, 0)


def test_a_copy_held_while_it_ran_goes_with_its_slot(
    lifecycle: Lifecycle, store: Store, registry, in_slot: tuple[str, Any]
) -> None:
    rid, sent = in_slot
    assert not store.flows.hold(HELLO, rid, time.time(), limit(store, max_instances=1))
    store.redis.zadd(flow_keys(HELLO)[0], {rid: time.time()})  # a copy held beside the slot
    spec = registry.get(HELLO_URN)
    assert Execution(lifecycle, spec, sent.message, rid, sent.retries).run().end is End.SUCCESS
    assert store.flows.counts(HELLO) == (0, 0)


def test_a_copy_of_an_ended_invocation_is_not_held(
    lifecycle: Lifecycle, admission: Admission, store: Store, registry
) -> None:
    rid = admission.invoke("hello", {"n": 1})
    record = store.records.record(rid)
    assert record is not None
    spec = registry.get(HELLO_URN)
    assert Execution(lifecycle, spec, InvocationMessage.of(record), rid, 0).run().end is End.SUCCESS
    limit(store, max_instances=1)
    copy = Execution(lifecycle, spec, InvocationMessage.of(record), rid, 0).run()
    assert copy.end is End.SKIP
    assert store.flows.counts(HELLO) == (0, 0)
    assert store.records.status(rid) is Status.SUCCESS


def test_an_expired_held_invocation_leaves_the_held_set(
    lifecycle: Lifecycle, admission: Admission, store: Store
) -> None:
    limit(store, max_instances=0)
    rid = admission.invoke("hello", {"n": 1})
    assert lifecycle.expire(rid, note="aged out")
    assert store.records.status(rid) is Status.DISCARD
    assert store.flows.counts(HELLO) == (0, 0)


# -- reaping ---------------------------------------------------------------------------------


def test_reaping_frees_ended_queues_lost_again_and_extends_live_slots(
    settings: Settings,
    lifecycle: Lifecycle,
    admission: Admission,
    functions: Functions,
    store: Store,
    publisher: RecordingPublisher,
) -> None:
    flow = limit(store, max_instances=3)
    ended, lost, live = (admission.invoke("hello", {"n": n}) for n in range(3))
    now = time.time()
    store.flows.take(HELLO, flow, now, -1, 10)  # leases that ended a second ago
    store.transitions.cancel(ended, HELLO, force=False, retention=60)
    lifecycle.claim(lost, HELLO, 1)
    store.redis.hset(next(iter(store.redis.keys(f"*inv:{lost}"))), "lease", repr(now - 1))
    lifecycle.claim(live, HELLO, 1)
    Dispatcher(settings, store, functions, admission).reap(HELLO, time.time())
    assert not store.flows.holds_slot(HELLO, ended)
    # The lost run keeps its slot and is queued again with its retry index, as a lost run.
    assert store.flows.holds_slot(HELLO, lost) and not store.flows.is_held(HELLO, lost)
    assert [(p.request_id, p.retries) for p in publisher.invocations] == [(lost, 1)]
    assert store.flows.holds_slot(HELLO, live)
    scores = dict(store.redis.zrange(flow_keys(HELLO)[1], 0, -1, withscores=True))
    assert min(scores.values()) > time.time()  # both leases moved past now


# -- recursion -------------------------------------------------------------------------------


def test_allow_lets_a_chain_reenter_its_function() -> None:
    guard = ChainLimit(max_depth=2)
    with pytest.raises(Exception, match="re-enters"):
        guard.admit(Call(target="f", chain=("f",)))
    guard.admit(Call(target="f", chain=("f", "g", "f"), recursion=True))


def test_a_stored_pause_wins_over_a_stale_copy_of_the_config(store: Store) -> None:
    stale = limit(store, rate_per_second=5)
    store.flows.put(HELLO_URN, FlowConfig.pause, None)
    store.flows.hold(HELLO, "r0", time.time(), stale)
    assert store.flows.take(HELLO, stale, time.time(), 30, 10) == []
    assert store.flows.throttled(HELLO)["paused"] == 1
