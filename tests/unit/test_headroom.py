"""Backpressure before Redis is full: new invocations are refused past a share of maxmemory,
leaving nothing behind, while the work already accepted keeps going."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from destinations.functiongraph import target_request_id
from executor import Client
from executor.core.errors import Unavailable
from executor.core.invocation import Status
from executor.core.policies import ChainLimit
from executor.runtime.admission import Admission
from executor.runtime.lifecycle import Lifecycle
from executor.state import keys
from executor.state.headroom import Headroom
from executor.state.held import HeldScripts
from executor.state.writes import Queued
from tests.support.lifecycle_steps import accept, end, route, settle
from tests.support.names import fg, urn
from tests.support.stubs import RecordingPublisher, StubRuntime

MIB = 2**20


class Memory:
    """A client whose ``INFO memory`` reports what the test sets, and counts its readings."""

    def __init__(self, used: int = 0, limit: int = 100 * MIB) -> None:
        self.used, self.limit, self.reads = used, limit, 0
        self.refusal: Exception | None = None
        self.nodes: dict[str, dict[str, int]] | None = None

    def info(self, section: str) -> dict[str, Any]:
        assert section == "memory"
        self.reads += 1
        if self.refusal is not None:
            raise self.refusal
        if self.nodes is not None:
            return self.nodes
        return {"used_memory": self.used, "maxmemory": self.limit}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headroom(memory: Memory, clock: Clock | None = None, fraction: float = 0.9) -> Headroom:
    return Headroom(memory, fraction, clock=clock or Clock())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("used", "limit", "admitted"),
    [
        (0, 0, True),  # no maxmemory: no check
        (10**12, 0, True),
        (89 * MIB, 100 * MIB, True),
        (90 * MIB, 100 * MIB, False),
        (120 * MIB, 100 * MIB, False),
    ],
)
def test_a_new_invocation_is_refused_past_the_share_of_maxmemory(used, limit, admitted):
    check = headroom(Memory(used, limit))
    if admitted:
        check.admit()
        return
    with pytest.raises(Unavailable) as refused:
        check.admit()
    assert f"{used / limit:.0%} of its maxmemory of 100.0 MiB" in refused.value.message
    assert "below 90%" in refused.value.message
    assert refused.value.http_status == 503


def test_memory_is_read_once_a_second_while_far_below_and_at_every_check_near_it():
    memory, clock = Memory(10 * MIB), Clock()
    check = headroom(memory, clock)
    for _ in range(50):
        check.admit()
    assert memory.reads == 1
    clock.now += 1.0
    check.admit()
    assert memory.reads == 2
    memory.used = 81 * MIB  # within 10% of maxmemory below the threshold
    clock.now += 1.0
    for _ in range(5):
        check.admit()
    assert memory.reads == 7
    memory.used = 95 * MIB
    with pytest.raises(Unavailable):
        check.admit()
    memory.used = 50 * MIB  # freed: the next check sees it at once
    check.admit()
    assert memory.reads == 9


def test_a_cluster_is_as_full_as_its_fullest_node():
    memory = Memory()
    memory.nodes = {
        "n1:7000": {"used_memory": 10 * MIB, "maxmemory": 100 * MIB},
        "n2:7001": {"used_memory": 46 * MIB, "maxmemory": 50 * MIB},
        "n3:7002": {"used_memory": 70 * MIB, "maxmemory": 0},
    }
    with pytest.raises(Unavailable, match=r"92% of its maxmemory of 50\.0 MiB"):
        headroom(memory).admit()


def test_a_store_that_refuses_info_is_not_checked_and_says_so_once(caplog):
    memory = Memory()
    memory.refusal = redis.exceptions.NoPermissionError(
        "this user has no permissions to run 'info'"
    )
    check = headroom(memory)
    for _ in range(3):
        check.admit()
    assert memory.reads == 1
    assert [r.getMessage() for r in caplog.records].count(
        "the state store refuses INFO (this user has no permissions to run 'info'): new "
        "invocations are accepted without a memory check; allow INFO to the store's user to "
        "have one"
    ) == 1


def test_a_store_that_is_down_is_unavailable():
    memory = Memory()
    memory.refusal = redis.ConnectionError("Connection refused")
    with pytest.raises(Unavailable, match="cannot be reached"):
        headroom(memory).admit()


@pytest.fixture
def full(fake_client: Client) -> Memory:
    """The client's state store past the threshold."""
    memory = Memory(95 * MIB)
    fake_client.store.headroom = headroom(memory)
    return memory


@pytest.mark.parametrize(
    "call",
    [
        {},
        {"request_id": "chosen"},
        {"delay": 30},
    ],
    ids=["new", "idempotency-key", "delayed"],
)
def test_every_way_in_is_refused_and_leaves_nothing(fake_client, full, fake_redis, call):
    before = set(fake_redis.keys("*"))
    with pytest.raises(Unavailable, match="nearly full"):
        fake_client.invoke_async("hello", {"n": 1}, **call)
    assert set(fake_redis.keys("*")) == before
    assert fake_client.celery.sent == []  # type: ignore[attr-defined]
    full.used = 10 * MIB
    assert fake_client.invoke_async("hello", {"n": 1}, **call)


def test_a_chained_call_and_a_redrive_are_refused_too(fake_client, fake_redis):
    original = fake_client.invoke_async("hello", {"n": 1}, request_id="job")
    end(fake_client, original, Status.FAIL)
    memory = Memory(95 * MIB)
    fake_client.store.headroom = headroom(memory)
    before = set(fake_redis.keys("*"))
    with pytest.raises(Unavailable):
        fake_client.redrive(original)
    with pytest.raises(Unavailable):
        fake_client.invoke_async("next", {}, chain=("a",), origin=original)
    assert set(fake_redis.keys("*")) == before


class FusingPublisher(RecordingPublisher):
    """A publisher whose broker is the state store: a FunctionGraph hop may be fused."""

    def fused(self, entry: Any, request_id: str, message: Any) -> Queued:  # type: ignore[override]
        return Queued(entry.queue, json.dumps({"id": request_id}), "", "")


@pytest.mark.parametrize("room", [True, False])
def test_a_functiongraph_hop_past_the_threshold_goes_the_usual_way(
    settings, store, functions, configs, deliveries, runtime: StubRuntime, fake_redis, room
):
    publisher = FusingPublisher()
    policies = [ChainLimit(settings.max_chain_depth)]
    admission = Admission(settings, store, functions, publisher, policies)  # type: ignore[arg-type]
    deliveries.publisher = publisher
    lifecycle = Lifecycle(settings, store, functions, admission, deliveries)
    route(configs, functions, on_success=fg("next"))
    accept(lifecycle)
    lifecycle.claim("r1", urn("hello"), 0)
    store.headroom = headroom(Memory(10 * MIB if room else 95 * MIB))
    assert settle(lifecycle)
    fused = fake_redis.exists(keys.record_key(target_request_id("r1:success")))
    if room:
        # The source's end and the target's record were one script; nothing else was asked.
        assert fused and publisher.deliveries == []
    else:
        # The delivery task invokes the target, and retries while the call is refused.
        assert not fused and [job.kind for job in publisher.deliveries] == ["FunctionGraph"]


# What a Redis at maxmemory with noeviction still answers: commands that cannot add memory.
READS = {
    "GET", "MGET", "HGET", "HGETALL", "HMGET", "HLEN", "EXISTS", "TYPE", "TTL", "PTTL",
    "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZSCORE", "ZCARD", "ZCOUNT",
    "LLEN", "LRANGE", "LINDEX", "SMEMBERS", "SCARD", "SISMEMBER", "SCAN", "INFO", "PING",
}  # fmt: skip


def test_a_full_store_answers_every_call_with_the_projects_error(
    fake_client, fake_redis, monkeypatch
):
    """Whatever Redis refuses, a caller gets ``Unavailable``, never redis-py's exception."""
    from redis.client import Pipeline

    waiting = fake_client.invoke_async("hello", {"n": 1}, request_id="waiting")
    failed = fake_client.invoke_async("hello", {"n": 2}, request_id="failed")
    end(fake_client, failed, Status.FAIL)
    fake_client.put_async_config("hello", {"max_async_retry_attempts": 1})
    oom = redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")
    command, execute = redis.Redis.execute_command, Pipeline.execute

    def refuse_writes(self: Any, *args: Any, **options: Any) -> Any:
        if str(args[0]).upper() not in READS:
            raise oom
        return command(self, *args, **options)

    def refuse_write_pipelines(self: Any, *args: Any, **options: Any) -> Any:
        if any(str(c[0][0]).upper() not in READS for c in self.command_stack):
            self.reset()
            raise oom
        return execute(self, *args, **options)

    def refuse_scripts(self: Any, *args: Any) -> Any:
        raise oom  # the scripts a held connection runs all write

    monkeypatch.setattr(redis.Redis, "execute_command", refuse_writes)
    monkeypatch.setattr(Pipeline, "execute", refuse_write_pipelines)
    monkeypatch.setattr(HeldScripts, "run", refuse_scripts)
    calls = {
        "invoke": lambda: fake_client.invoke_async("hello", {"n": 3}),
        "invoke with id": lambda: fake_client.invoke_async("hello", {"n": 3}, request_id="k"),
        "delayed": lambda: fake_client.invoke_async("hello", {"n": 3}, delay=5),
        "chained": lambda: fake_client.invoke_async("next", {}, chain=("a",), origin=waiting),
        "put config": lambda: fake_client.put_async_config(
            "hello", {"max_async_retry_attempts": 2}
        ),
        "delete config": lambda: fake_client.delete_async_config("hello"),
        "cancel": lambda: fake_client.cancel(waiting),
        "redrive": lambda: fake_client.redrive(failed),
    }
    for name, call in calls.items():
        with pytest.raises(Unavailable, match="full") as refused:
            call()
        assert not isinstance(refused.value, redis.RedisError), name
    # Reading still works.
    assert fake_client.get_invocation(waiting).status is Status.WAIT
    assert fake_client.get_async_config("hello").max_async_retry_attempts == 1


def test_a_fast_producer_reads_again_before_it_can_fill_the_room():
    memory, clock = Memory(4 * MIB, limit=20 * MIB), Clock()
    check = headroom(memory, clock, fraction=0.5)  # 6 MiB of room below the 10 MiB threshold
    check.admit()
    reads = memory.reads
    admitted = 1
    while memory.reads == reads:  # no time passes: only the count of acceptances moves
        check.admit()
        admitted += 1
        memory.used += 8 * 2**10  # each acceptance adds 8 KiB, twice the first guess
    # It read again once its acceptances at the first guess (4 KiB) could fill half the room.
    assert admitted * 4 * 2**10 >= 3 * MIB - 4 * 2**10
    assert admitted * 4 * 2**10 <= 3 * MIB + 8 * 2**10
    assert check.per_admission == pytest.approx(8 * 2**10, rel=0.01)
    refused = None
    for _ in range(2_000):  # at the learnt size it reads again before crossing
        try:
            check.admit()
        except Unavailable as exc:
            refused = exc
            break
        memory.used += 8 * 2**10
    assert refused is not None
    assert memory.used <= 10 * MIB + 8 * 2**10
