"""How an invocation starts: every way in goes through ``Admission.start``, which accepts it
through the transition port.

``invoke`` checks a call (request id, delay, payload, the admission policies) and starts it;
the client, the HTTP API, ``context.invoke_async`` and a FunctionGraph destination all call
it. A redrive starts directly (its payload was checked when the original was accepted); a
delayed invocation is published by ``release_due`` once it is due; ``republish`` publishes
again one whose message the broker lost; ``hop`` prepares the invocation a FunctionGraph
destination starts in the same script that ends its source.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from destinations.functiongraph import target_request_id
from executor.core.catalogue import CatalogueEntry
from executor.core.config import DestinationRef
from executor.core.errors import ExecutorError, RequestIdConflict, Unavailable
from executor.core.events import ResultEvent
from executor.core.guard import ChainBroken, hop
from executor.core.invocation import Status, check_delay, check_request_id
from executor.core.messages import InvocationMessage
from executor.core.params import FunctionGraphParam
from executor.core.payload import check_payload
from executor.core.policies import AdmissionPolicy, Call
from executor.core.record import InvocationRecord
from executor.core.settings import Settings
from executor.runtime import tracing
from executor.runtime.flow_gate import FlowGate
from executor.runtime.ports import Origin, Publishing
from executor.runtime.start import Start
from executor.state.functions import Functions
from executor.state.store import Store
from executor.state.transitions import Accepted
from executor.state.writes import Hop, NewInvocation, Queued

log = logging.getLogger("executor.client")

# The lineage of a message queued again: none but its own.
DETACHED = Origin()


class Admission:
    """The starting half of an invocation's life, over the state store and the broker."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        functions: Functions,
        publisher: Publishing,
        policies: Sequence[AdmissionPolicy],
        gate: FlowGate | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.functions = functions
        self.publisher = publisher
        self.policies = tuple(policies)
        self.gate = gate or FlowGate(settings, store, functions)
        self.gate.bind(self.publish_again)

    def invoke(
        self,
        function: str,
        payload: Any = None,
        *,
        chain: Sequence[str] = (),
        request_id: str | None = None,
        origin: str = "",
        delay: float = 0,
        origin_deadline: float | None = None,
    ) -> str:
        """Check one call and start it; the request id once it is durably recorded.

        A call made by a running invocation (``origin``) gives that invocation's deadline, which
        bounds how long its list of children must last.

        Refused before anything is written: a bad request id or delay, a payload that is not
        JSON, nests too deeply or is above the size limit, a call an admission policy refuses
        (``ChainBroken``, counted on the invocation that made it), an unknown function.
        """
        if request_id is not None:
            check_request_id(request_id)
        delay = check_delay(delay)
        urn = self.functions.resolve(function)
        payload_json = check_payload(
            payload, max_depth=self.settings.payload_max_depth, limit=self.settings.payload_limit
        )
        entry = self.functions.lookup(urn)
        flow = self.functions.flow_of(entry)
        call = Call(target=urn.function, chain=tuple(chain), recursion=flow.allows_recursion)
        try:
            for policy in self.policies:
                policy.admit(call)
        except ChainBroken as exc:
            self.store.scans.record_drop(origin, str(urn), exc.message)
            log.warning("%s (from %s)", exc.message, origin or "a producer")
            raise
        config = self.functions.configs.effective(urn, entry.default_config)
        with tracing.producing(str(urn)) as traceparent:
            accepted = self.start(
                Start(
                    entry=entry,
                    payload=payload,
                    payload_json=payload_json,
                    max_age=config.max_async_event_age_in_seconds,
                    chain=tuple(chain),
                    request_id=request_id,
                    origin=origin,
                    delay=delay,
                    traceparent=traceparent,
                    origin_deadline=origin_deadline,
                )
            )
            tracing.produced(accepted)
        return accepted

    def start(self, start: Start) -> str:
        """Record the invocation WAIT and queue its message; nothing stays half-written.

        A given id that exists already is answered with itself and nothing is queued, unless
        it names another function or payload (``RequestIdConflict``). With a delay the
        invocation waits in the due-time index; its age counts from its due time. Refused
        (``Unavailable``) while the state store is short of memory.
        """
        self.store.headroom.admit()
        now = time.time()
        due_at = now + start.delay if start.delay > 0 else None
        deadline = (due_at or now) + start.max_age
        request_id = start.request_id or str(uuid.uuid4())
        new = NewInvocation(
            request_id=request_id,
            urn=start.entry.urn,
            enqueued_at=now,
            deadline=deadline,
            chain=start.chain,
            payload_json=start.payload_json,
            origin=start.origin,
            traceparent=start.traceparent,
            note=f"due in {start.delay:g} s" if due_at is not None else "",
            due_at=due_at,
            redrive_of=start.redrive_of,
            redrive_number=start.redrive_number,
            children_ttl=self._children_ttl(now, start.origin_deadline),
        )
        message = InvocationMessage.of(new, start.payload)
        # Held back by its flow config: its message is queued once the flow gate lets it in.
        limited = not self.gate.fusable(start.entry)
        unqueued = due_at is not None or limited
        queued = None if unqueued else self.publisher.fused(start.entry, request_id, message)
        found = self.store.transitions.accept(new, queued)
        if found.outcome is Accepted.CONFLICT:
            # Another function may belong to another project: its name is not shown.
            held = (
                f"an invocation of {found.urn} ({found.status.value}) with another payload"
                if found.urn == new.urn
                else "an invocation of another function"
            )
            raise RequestIdConflict(
                f"request id {request_id!r} is taken by {held}; send the same function and "
                "payload to get that invocation again, or use a new request id"
            )
        # A fresh id found existing is this call's own record, written by a retry of the
        # script through a failover: its message still has to go.
        again = found.outcome is Accepted.EXISTS and start.request_id is not None
        if again or found.queued or due_at is not None:
            return request_id
        if limited and self.gate.accept(start.entry, request_id, now):
            return request_id
        try:
            self.publisher.invocation(start.entry, request_id, message)
        except Exception as exc:
            self.store.transitions.forget(new)
            raise Unavailable(
                f"the broker did not accept the invocation ({exc}); nothing was queued, "
                "check EXECUTOR_BROKER_URL and retry"
            ) from exc
        return request_id

    def _children_ttl(self, now: float, origin_deadline: float | None) -> int:
        """How long the origin's list of children must last: as long as the origin's record,
        which retires a retention after the origin ends; a running origin ends by its deadline
        and one time limit, an origin that is not running (a destination's) has ended."""
        left = 0.0
        if origin_deadline is not None:
            left = max(0.0, origin_deadline - now) + self.settings.time_limit
        return int(left) + self.settings.status_retention + 1

    def release_due(self, request_id: str) -> bool:
        """Publish a delayed invocation that is due; False if it ended meanwhile (cancelled,
        aged out). A broker that refuses puts it back on the due-time index."""
        record = self.store.records.record(request_id)
        if record is None or record.status is not Status.WAIT:
            return False
        try:
            self.republish(record)
        except Exception:
            self.store.due.put_back(request_id, record.due_at or time.time())
            raise
        return True

    def republish(self, record: InvocationRecord, *, taken: bool = False) -> None:
        """Publish again an invocation whose message is gone: still WAIT, or RUNNING with a
        runner that stopped before it recorded an outcome. One of a flow-controlled function
        is held back instead, unless it holds a slot (``taken`` by the flow gate)."""
        if not self.gate.hold_again(record, taken):
            self.publish_again([record])

    def publish_again(self, records: Sequence[InvocationRecord]) -> None:
        """Queue a message again for each record: written in one round trip when the broker is
        the state store's Redis, else published one by one."""
        fused: list[Queued] = []
        for record in records:
            entry = self.functions.lookup(self.functions.resolve(record.urn))
            payload = record.payload() if self.settings.show_payloads else None
            message = InvocationMessage.of(record, payload)
            # A waiting one takes the next retry index, so the claim does not take it for a
            # stale duplicate; a running one keeps its index, so the claim counts a lost run
            # (bounded).
            running = record.status is Status.RUNNING
            retries = max(record.retry_index if running else record.retry_index + 1, 0)
            # Its own root, though a run that ended in this task let it through.
            queued = self.publisher.fused(
                entry, record.request_id, message, origin=DETACHED, retries=retries
            )
            if queued is None:
                self.publisher.invocation(entry, record.request_id, message, retries=retries)
            else:
                fused.append(queued)
        if fused:
            self.store.flows.queue(fused)

    def defer(
        self,
        entry: CatalogueEntry,
        request_id: str,
        message: InvocationMessage,
        *,
        retries: int,
        countdown: float,
    ) -> None:
        """Publish a copy of a message again, to be looked at after ``countdown`` seconds."""
        self.publisher.invocation(entry, request_id, message, retries=retries, countdown=countdown)

    def hop(
        self,
        request_id: str,
        urn: str,
        chain: Sequence[str],
        event: ResultEvent,
        event_json: str,
        destination: DestinationRef,
    ) -> Hop | None:
        """The invocation a FunctionGraph destination starts, for the script that ends the
        source; None when the delivery must take its usual way (which refuses, counts or
        retries): a call a policy refuses, an unknown target, a state store short of memory,
        an event above the payload limit, a broker the script cannot write to, or a trace to
        record."""
        if tracing.enabled():
            return None  # the usual way makes the delivery's span and the target's trace
        param = destination.decoded()
        assert isinstance(param, FunctionGraphParam)
        source = self.functions.resolve(urn).function
        target_chain = hop(chain, source)
        try:
            target = self.functions.resolve(param.func_urn)
            entry = self.functions.lookup(target)
            if not self.gate.fusable(entry):
                return None  # held back by its flow config, through the usual way
            for policy in self.policies:
                policy.admit(Call(target=target.function, chain=target_chain))
            self.store.headroom.admit()
        except ExecutorError:
            return None
        if len(event_json.encode()) > self.settings.payload_limit:
            return None
        config = self.functions.configs.effective(target, entry.default_config)
        now = time.time()
        new = NewInvocation(
            request_id=target_request_id(f"{request_id}:{event.outcome}"),
            urn=entry.urn,
            enqueued_at=now,
            deadline=now + config.max_async_event_age_in_seconds,
            chain=target_chain,
            payload_json=event_json,
            origin=request_id,
            children_ttl=self._children_ttl(now, None),
        )
        # The payload is needed here only to be shown in task events.
        shown = event.model_dump(mode="json") if self.settings.show_payloads else None
        queued = self.publisher.fused(entry, new.request_id, InvocationMessage.of(new, shown))
        return Hop(new, queued) if queued is not None else None
