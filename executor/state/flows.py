"""Flow control in the state store: flow configs, and per function the invocations held back,
the slots of those let through, and a token bucket.

An invocation of a flow-controlled function is held in a sorted set scored by the time it may
start, not queued. ``take`` moves the oldest that may start into the function's slots (a sorted
set scored by the end of each slot's lease), as many as the free slots and the tokens allow;
only then is its message queued, and a worker runs only an invocation that holds a slot. The
slot is released when the attempt ends, or found by ``expired`` once its lease ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import cast

import redis
from pydantic import ValidationError
from redis.cluster import RedisCluster

from executor.core.flow import DEFAULT_FLOW, FlowConfig, StoredFlowConfig
from executor.core.urn import FunctionURN
from executor.state import scripts
from executor.state.configs import invalid, timestamp
from executor.state.connection import reachable
from executor.state.keys import FLOW_PASS, FLOW_WAKE, FLOW_WAKES, FLOWS, flow_keys
from executor.state.writes import Queued

THROTTLE_REASONS = ("max_instances", "rate", "paused")


class Flows:
    """Flow configs (cached for ``ttl`` seconds per process) and the held sets and slots."""

    def __init__(self, client: redis.Redis, ttl: float) -> None:
        self.redis = client
        self._ttl = ttl
        self._cache: dict[str, tuple[float, FlowConfig | None]] = {}
        self._hold = scripts.register(client, "flow_hold")
        self._take = scripts.register(client, "flow_take")
        self._wake = scripts.register(client, "flow_wake")
        self._pass = scripts.register(client, "flow_pass")
        self._rewake = scripts.register(client, "flow_rewake")
        # One script holds an invocation and wakes its function, but for a Cluster, where the
        # index lives in another slot than the function's keys.
        self._fused_wake = not isinstance(client, RedisCluster)

    # -- configs --------------------------------------------------------------------------------

    def stored(self, urn: str) -> FlowConfig | None:
        now = time.monotonic()
        hit = self._cache.get(urn)
        if hit is None or now - hit[0] >= self._ttl:
            with reachable():
                raw = cast("str | None", self.redis.hget(FLOWS, urn))
            hit = self._cache[urn] = (
                now,
                StoredFlowConfig.model_validate_json(raw).flow if raw else None,
            )
        return hit[1]

    def effective(self, urn: str, default: FlowConfig | None) -> FlowConfig:
        """The stored flow config, else the decorator's default, else no limit."""
        return self.stored(urn) or default or DEFAULT_FLOW

    def put(
        self,
        urn: FunctionURN,
        changes: dict[str, object] | Callable[[FlowConfig], FlowConfig],
        default: FlowConfig | None,
    ) -> StoredFlowConfig:
        """Change the given fields of ``urn``'s flow config (or apply a change to it, such as
        a pause); nothing is written if a value is bad. A new ``max_instances`` ends a pause."""
        urn.require_version()
        key = str(urn)
        self._cache.pop(key, None)
        current = self.effective(key, default)
        if callable(changes):
            flow = changes(current)
        else:
            if "max_instances" in changes:
                changes = {**changes, "paused_from": None}
            try:
                flow = FlowConfig.model_validate({**current.model_dump(), **changes})
            except ValidationError as exc:
                raise invalid(exc, "flow config") from None
        stored = StoredFlowConfig(func_urn=key, flow=flow, last_modified=timestamp())
        rate = "" if flow.rate_per_second is None else repr(flow.rate_per_second)
        with reachable():
            # The limits the scripts read first, then the config every process reads.
            self.redis.hset(flow_keys(key)[2], mapping={"max": flow.max_instances, "rate": rate})
            self.redis.hset(FLOWS, key, stored.model_dump_json())
        self._cache.pop(key, None)
        self.wake({key: time.time()})  # a raised cap or a resume lets held ones through now
        return stored

    def get(self, urn: FunctionURN, default: FlowConfig | None) -> StoredFlowConfig:
        urn.require_version()
        with reachable():
            raw = cast("str | None", self.redis.hget(FLOWS, str(urn)))
        if raw:
            return StoredFlowConfig.model_validate_json(raw)
        return StoredFlowConfig(func_urn=str(urn), flow=default or DEFAULT_FLOW, last_modified="")

    def all(self) -> dict[str, FlowConfig]:
        """Every stored flow config, by URN."""
        with reachable():
            raw = cast("dict[str, str]", self.redis.hgetall(FLOWS))
        return {urn: StoredFlowConfig.model_validate_json(body).flow for urn, body in raw.items()}

    # -- held and slots -------------------------------------------------------------------------

    def hold(self, urn: str, request_id: str, at: float, flow: FlowConfig) -> bool:
        """Hold an invocation back until ``at`` at the earliest; False if it was held or in a
        slot already."""
        keys = list(flow_keys(urn))
        if self._fused_wake:
            keys += [FLOW_WAKE, FLOW_WAKES]
        rate = "" if flow.rate_per_second is None else repr(flow.rate_per_second)
        args: list[str | int] = [
            request_id,
            repr(at),
            flow.max_instances,
            rate,
            repr(time.time()),
            urn,
        ]
        with reachable():
            held_now = bool(self._hold(keys=keys, args=args))
        if held_now and not self._fused_wake:
            self.wake({urn: at})
        return held_now

    def take(self, urn: str, flow: FlowConfig, now: float, lease: float, count: int) -> list[str]:
        """The held invocations that may start now, each given a slot until ``now + lease``."""
        return self.take_next(urn, flow, now, lease, count)[0]

    def take_next(
        self,
        urn: str,
        flow: FlowConfig,
        now: float,
        lease: float,
        count: int,
        free: str = "",
        hold_at: float | None = None,
    ) -> tuple[list[str], float | None]:
        """Free the slot of ``free`` (or hold it again from ``hold_at``), then take the held
        invocations that may start now, each given a slot until ``now + lease``; and when
        ``urn`` must be looked at again (None: nothing held, no slot)."""
        rate = "" if flow.rate_per_second is None else repr(flow.rate_per_second)
        again = "" if hold_at is None else repr(hold_at)
        args: list[str | int] = [
            repr(now),
            flow.max_instances,
            rate,
            repr(now + lease),
            count,
            free,
            again,
        ]
        with reachable():
            wake, *ids = cast("list[str]", self._take(keys=list(flow_keys(urn)), args=args))
        return ids, float(wake) if wake else None

    # -- the time-ordered index of the flow pass ------------------------------------------------

    def wake(self, due: dict[str, float]) -> None:
        """Have the flow pass look at these functions by these times (an earlier time stays)."""
        if due:
            args = [part for urn, at in due.items() for part in (urn, repr(at))]
            with reachable():
                self._wake(keys=[FLOW_WAKE, FLOW_WAKES], args=args)

    def rewake(self, urn: str, seen: str, at: float | None) -> None:
        """After a look at ``urn`` (with wake count ``seen``): look again at ``at``, or never
        unless it was woken meanwhile."""
        args = [urn, seen, "" if at is None else repr(at)]
        with reachable():
            self._rewake(keys=[FLOW_WAKE, FLOW_WAKES], args=args)

    def due(self, token: str, lease: float, now: float, count: int) -> list[tuple[str, str]] | None:
        """The functions due by ``now``, for the holder of the flow pass's lease (taken if it
        is free, renewed if ``token`` holds it); None while another holds it."""
        args: list[str | int] = [token, int(lease * 1000), repr(now), count]
        with reachable():
            found = self._pass(keys=[FLOW_PASS, FLOW_WAKE, FLOW_WAKES], args=args)
        if found is None:
            return None
        flat = cast("list[str]", found)
        return list(zip(flat[0::2], flat[1::2], strict=True))

    def due_now(self, now: float, count: int) -> list[tuple[str, str]]:
        """The functions due by ``now`` with their wake counts, for the lease's holder between
        two renewals: one command while none is due."""
        with reachable():
            urns = cast(
                "list[str]", self.redis.zrangebyscore(FLOW_WAKE, "-inf", repr(now), 0, count)
            )
            if not urns:
                return []
            counts = cast("list[str | None]", self.redis.hmget(FLOW_WAKES, urns))
        return [(urn, n or "0") for urn, n in zip(urns, counts, strict=True)]

    def queue(self, messages: Sequence[Queued]) -> None:
        """Write the broker messages of invocations let through, when the broker is this
        Redis: one round trip for a pass's worth, as ACCEPT writes one beside its record."""
        with reachable():
            pipe = self.redis.pipeline(transaction=False)
            for queued in messages:
                pipe.lpush(queued.queue, queued.message)
                if queued.event:
                    pipe.publish(queued.channel, queued.event)
            pipe.execute()

    def holds_slot(self, urn: str, request_id: str) -> bool:
        with reachable():
            return self.redis.zscore(flow_keys(urn)[1], request_id) is not None

    def is_held(self, urn: str, request_id: str) -> bool:
        with reachable():
            return self.redis.zscore(flow_keys(urn)[0], request_id) is not None

    def release(self, urn: str, request_id: str) -> None:
        """Free the slot of an invocation whose attempt ended."""
        with reachable():
            self.redis.zrem(flow_keys(urn)[1], request_id)

    def forget(self, urn: str, request_id: str) -> None:
        """Take an ended invocation off the held set and the slots."""
        held, slots, _ = flow_keys(urn)
        with reachable():
            pipe = self.redis.pipeline()
            pipe.zrem(held, request_id)
            pipe.zrem(slots, request_id)
            pipe.execute()

    def requeue(self, urn: str, request_id: str, at: float) -> None:
        """Give up a slot and wait in the held set again until ``at`` (a retry's wait)."""
        held, slots, _ = flow_keys(urn)
        with reachable():
            pipe = self.redis.pipeline()
            pipe.zrem(slots, request_id)
            pipe.zadd(held, {request_id: at})
            pipe.execute()
        self.wake({urn: at})

    def extend(self, urn: str, leases: dict[str, float]) -> None:
        """Move the lease ends of slots still in use (never adds a slot)."""
        if leases:
            with reachable():
                self.redis.zadd(flow_keys(urn)[1], leases, xx=True)

    def expired(self, urn: str, now: float, count: int = 500) -> list[str]:
        """Slots whose lease ended by ``now``: to be released, extended or held again."""
        with reachable():
            return cast(
                "list[str]",
                self.redis.zrangebyscore(flow_keys(urn)[1], "-inf", repr(now), start=0, num=count),
            )

    def counts(self, urn: str) -> tuple[int, int]:
        """How many invocations of ``urn`` are held, and how many hold a slot."""
        held, slots, _ = flow_keys(urn)
        with reachable():
            pipe = self.redis.pipeline()
            pipe.zcard(held)
            pipe.zcard(slots)
            n_held, n_slots = pipe.execute()
        return int(n_held), int(n_slots)

    def throttled(self, urn: str) -> dict[str, int]:
        """How many invocations of ``urn`` were held back, by the limit that held them."""
        with reachable():
            values = self.redis.hmget(
                flow_keys(urn)[2], [f"throttled|{r}" for r in THROTTLE_REASONS]
            )
        return {r: int(v or 0) for r, v in zip(THROTTLE_REASONS, values, strict=True)}
