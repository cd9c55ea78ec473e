"""The flow gate's decisions on fakeredis with the real scripts: a freed slot is taken in the
same step, the time-ordered index holds only what needs a clock, one pass holds the lease,
and a slot whose message was never claimed is queued again."""

from __future__ import annotations

import time
from typing import Any

from executor.core.flow import FlowConfig
from executor.core.invocation import Status
from executor.core.settings import Settings
from executor.core.urn import parse_urn
from executor.runtime.admission import Admission
from executor.runtime.dispatcher import Dispatcher
from executor.runtime.execution import Execution
from executor.runtime.lifecycle import Lifecycle
from executor.runtime.report import End
from executor.state.functions import Functions
from executor.state.keys import FLOW_PASS, FLOW_WAKE, flow_keys
from executor.state.store import Store
from tests.support.names import PROJECT, REGION, urn
from tests.support.stubs import RecordingPublisher

HELLO = urn("hello")
HELLO_URN = parse_urn(HELLO, region=REGION, project=PROJECT)


def limit(store: Store, **changes: object) -> FlowConfig:
    return store.flows.put(HELLO_URN, changes, None).flow


def wake_of(store: Store, name: str = HELLO) -> float | None:
    return store.redis.zscore(FLOW_WAKE, name)


def dispatcher(settings: Settings, store: Store, functions: Functions, admission: Admission) -> Any:
    return Dispatcher(settings, store, functions, admission)


def test_a_run_that_ends_lets_the_next_held_one_through_at_once(
    settings: Settings,
    lifecycle: Lifecycle,
    admission: Admission,
    functions: Functions,
    store: Store,
    publisher: RecordingPublisher,
    registry: Any,
) -> None:
    limit(store, max_instances=1)
    first, second = (admission.invoke("hello", {"n": n}) for n in range(2))
    assert dispatcher(settings, store, functions, admission).run_once() == 1
    [sent] = publisher.invocations
    assert sent.request_id == first
    spec = registry.get(HELLO_URN)
    assert Execution(lifecycle, spec, sent.message, first, sent.retries).run().end is End.SUCCESS
    # No pass ran: the end of the first took the slot for the second and queued it.
    assert [p.request_id for p in publisher.invocations] == [first, second]
    assert store.flows.holds_slot(HELLO, second)
    assert store.flows.counts(HELLO) == (0, 1)


def test_a_cancel_lets_the_next_held_one_through(
    settings: Settings,
    lifecycle: Lifecycle,
    admission: Admission,
    functions: Functions,
    store: Store,
    publisher: RecordingPublisher,
) -> None:
    limit(store, max_instances=1)
    first, second = (admission.invoke("hello", {"n": n}) for n in range(2))
    dispatcher(settings, store, functions, admission).run_once()
    invocation = lifecycle.store.records.record(first)
    assert invocation is not None
    store.transitions.cancel(first, HELLO, force=True, retention=60)
    admission.gate.ended(HELLO, first)
    assert [p.request_id for p in publisher.invocations] == [first, second]


def test_a_retry_gives_its_slot_to_the_next_and_waits_held(
    admission: Admission, store: Store, publisher: RecordingPublisher
) -> None:
    flow = limit(store, max_instances=1)
    store.flows.hold(HELLO, "r0", time.time() - 1, flow)
    store.flows.hold(HELLO, "r1", time.time() - 1, flow)
    assert store.flows.take(HELLO, flow, time.time(), 30, 1) == ["r0"]
    ids, wake = store.flows.take_next(
        HELLO, flow, time.time(), 30, 10, free="r0", hold_at=time.time() + 5
    )
    assert ids == ["r1"]
    assert store.flows.holds_slot(HELLO, "r1") and store.flows.is_held(HELLO, "r0")
    assert wake is not None and wake > time.time()  # the first slot's lease end


def test_an_idle_function_leaves_the_index_and_costs_no_pass(
    settings: Settings,
    admission: Admission,
    functions: Functions,
    store: Store,
    lifecycle: Lifecycle,
    publisher: RecordingPublisher,
    registry: Any,
) -> None:
    limit(store, max_instances=2)
    rid = admission.invoke("hello", {"n": 1})
    assert wake_of(store) is not None  # held: the pass must look at it
    flow_pass = dispatcher(settings, store, functions, admission)
    assert flow_pass.run_once() == 1
    [sent] = publisher.invocations
    spec = registry.get(HELLO_URN)
    Execution(lifecycle, spec, sent.message, rid, sent.retries).run()
    flow_pass.run_once()
    assert store.flows.counts(HELLO) == (0, 0)
    assert wake_of(store) is None  # nothing held and no slot: nothing to look at


def test_a_pass_that_read_before_a_hold_does_not_drop_its_wake(store: Store) -> None:
    flow = limit(store, max_instances=2)
    [(name, seen)] = store.flows.due("me", 5, time.time() + 1, 10) or []
    store.flows.hold(HELLO, "r0", time.time(), flow)  # held after the pass read the index
    store.flows.rewake(name, seen, None)  # the pass found nothing when it looked
    assert wake_of(store) is not None


def test_only_one_pass_holds_the_lease(
    settings: Settings, admission: Admission, functions: Functions, store: Store
) -> None:
    limit(store, max_instances=1)
    admission.invoke("hello", {"n": 1})
    one = dispatcher(settings, store, functions, admission)
    other = dispatcher(settings, store, functions, admission)
    assert one.run_once() == 1 and one.holding
    assert other.run_once() == 0 and not other.holding
    store.redis.delete(FLOW_PASS)  # the holder died and its lease ran out
    other.run_once()
    assert other.holding


def test_a_rate_limited_function_wakes_at_its_next_token(
    settings: Settings, admission: Admission, functions: Functions, store: Store
) -> None:
    limit(store, rate_per_second=2)
    for n in range(5):
        admission.invoke("hello", {"n": n})
    now = time.time()
    flow_pass = dispatcher(settings, store, functions, admission)
    assert flow_pass.run_once(now) == 2  # one second's burst
    assert flow_pass.run_once(now) == 0
    wake = wake_of(store)
    assert wake is not None and now < wake <= now + 0.5 + 0.01


def test_a_slot_never_claimed_within_its_lease_is_queued_again_in_place(
    settings: Settings,
    admission: Admission,
    functions: Functions,
    store: Store,
    publisher: RecordingPublisher,
) -> None:
    flow = limit(store, max_instances=1)
    rid = admission.invoke("hello", {"n": 1})
    store.flows.take(HELLO, flow, time.time(), -1, 10)  # queued a lease ago, never claimed
    admission.gate.reap(HELLO, time.time())
    # Its message may sit in a dead worker's prefetch buffer: a new copy goes, in its slot.
    assert [(p.request_id, p.retries) for p in publisher.invocations] == [(rid, 0)]
    assert store.records.status(rid) is Status.WAIT
    assert store.flows.counts(HELLO) == (0, 1)
    assert min(s for _, s in store.redis.zrange(flow_keys(HELLO)[1], 0, -1, withscores=True)) > (
        time.time()
    )
